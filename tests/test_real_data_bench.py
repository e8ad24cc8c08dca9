"""benchmarks/real_data.py: our figures beside published ones, on a tiny LETTER folder and
(names only, when present) the shared Amazon folders."""
import importlib.util
import json

import pytest

from digr_utils.config import REPO_ROOT
from digr_utils.data.amazon import detect, shared_benchmarks

_spec = importlib.util.spec_from_file_location("real_data", REPO_ROOT / "benchmarks" / "real_data.py")
real_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(real_data)


@pytest.fixture(autouse=True)
def _artifacts(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path / "artifacts"))


def _write_letter(folder, name="Beauty"):
    # 12 users x 5 items, an exact 5-core (user u buys u..u+4 mod 12); 4-level IDs
    seqs = {f"u{u}": [f"i{(u + j) % 12}" for j in range(5)] for u in range(12)}
    (folder / f"{name}.inter.json").write_text(json.dumps(seqs))
    ids = {f"i{i}": [f"<a_{i}>", f"<b_{i % 2}>", "<c_0>", f"<d_{i % 3}>"] for i in range(12)}
    (folder / f"{name}.index.json").write_text(json.dumps(ids))


def test_prints_ours_beside_the_published_figures(tmp_path, capsys):
    _write_letter(tmp_path)
    out = real_data.main(["--data", str(tmp_path), "--size", "ci", "--sft-epochs", "1",
                          "--sasrec-epochs", "1"])
    printed = capsys.readouterr().out
    assert out["sids"] == "published" and "TIGER (TIGER paper, Table 1)" in printed
    rows = {(r["model"], r["source"]): r for r in out["rows"]}
    ours = [r for (m, s), r in rows.items() if s == "ours"]
    assert [r["model"] for r in ours][:2] == ["Popularity", "SASRec, cross-entropy (max_len 50)"]
    assert ours[2]["model"].startswith("SID model, SFT on published IDs")
    for r in ours:
        assert all(0 <= r[m] <= 1 for m in ("HR@5", "NDCG@5", "HR@10", "NDCG@10"))
    # every item is bought 3 times in training, so popularity lists items 0..9 (ties by id);
    # user u's test item is u+4 mod 12: in the top 10 unless u is 6 or 7, in the top 5 for 5 users
    assert (ours[0]["HR@10"], ours[0]["HR@5"]) == (pytest.approx(10 / 12), pytest.approx(5 / 12))
    assert rows[("TIGER (TIGER paper, Table 1)", "published")]["NDCG@10"] == 0.0384
    assert any("history items kept in the ranking" in n for n in out["protocol"])


@pytest.mark.skipif(not shared_benchmarks().is_dir(), reason="no shared Amazon benchmarks here")
def test_the_shared_folders_are_named_as_the_published_table_names_them():
    names = {detect(shared_benchmarks() / f)[1] for f in ("beauty", "instruments")}
    assert names == {"Beauty", "Instruments"} <= set(real_data.PUBLISHED)
