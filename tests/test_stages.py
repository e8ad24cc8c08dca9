"""Runs named by what made them, self-contained bundles, and real data through every stage."""
import json
import subprocess
import sys

import numpy as np
import pytest

from digr_utils.cli import main
from digr_utils.data.amazon import shared_benchmarks
from digr_utils.data.stage import DataSpec, load_data
from digr_utils.gen.stage import load_recommender, run_sft
from digr_utils.interests.stage import InterestSource
from digr_utils.runs import index, load_run, open_run
from digr_utils.sid.stage import build_sids, load_sids

NONE = InterestSource("none")


@pytest.fixture(autouse=True)
def _artifacts(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("DIGR_PRESET", raising=False)
    return tmp_path / "artifacts"


def _letter(folder, name="X", n=7, sids=True):
    """n users and n items; user u buys u, u+1, ..., u+4 (mod n): an exact 5-core. With
    ``sids``, every item gets a published 4-level ID in LETTER's token form."""
    folder.mkdir(parents=True, exist_ok=True)
    seqs = {f"u{u}": [f"i{(u + j) % n}" for j in range(5)] for u in range(n)}
    (folder / f"{name}.inter.json").write_text(json.dumps(seqs))
    if sids:
        ids = {f"i{i}": [f"<a_{i % 3}>", f"<b_{i % 2}>", f"<c_{i}>", "<d_0>"] for i in range(n)}
        (folder / f"{name}.index.json").write_text(json.dumps(ids))
    return folder


def test_open_run_same_recipe_same_folder_other_recipe_other_folder(_artifacts):
    a = open_run("shop_ci-1", "sids", {"epochs": 5}, "none")
    assert open_run("shop_ci-1", "sids", {"epochs": 5}, "none") == a
    b = open_run("shop_ci-1", "sids", {"epochs": 6}, "none")
    assert b.folder != a.folder and b.folder.parent == a.folder.parent
    assert not a.finished
    a.save_metrics({"x": 1})
    assert a.finished and a.metrics() == {"x": 1}
    assert sorted(index(_artifacts)["finished"]) == [False, True]


def test_a_label_or_dataset_name_never_leads_outside_the_artifacts(_artifacts):
    run = open_run("../../evil", "sids", {}, "../up")
    assert _artifacts in run.folder.parents


def test_ids_differing_in_one_field_keep_two_folders_and_reruns_reuse_them(_artifacts):
    first = build_sids("ci", NONE, progress=False, epochs=3)
    other = build_sids("ci", NONE, progress=False, epochs=4)
    assert first.run.folder != other.run.folder
    again = build_sids("ci", NONE, progress=False, epochs=3)
    assert again.run.folder == first.run.folder
    assert again.figures == first.figures  # read back, not retrained
    np.testing.assert_array_equal(again.ids.codes, first.ids.codes)
    # another seed is another pipeline: its own folder
    assert build_sids("ci", NONE, seed=1, progress=False, epochs=3).run.folder != first.run.folder


def test_artifacts_of_another_dataset_are_refused_naming_both(tmp_path):
    shop_ids = build_sids("ci", NONE, progress=False, epochs=2)
    letter = load_data("ci", DataSpec(_letter(tmp_path / "x")))
    with pytest.raises(ValueError) as err:
        load_sids(shop_ids.run.folder, letter)
    assert shop_ids.run.dataset in str(err.value) and letter.key in str(err.value)
    with pytest.raises(ValueError, match="not a sft run|holds a sids run"):
        load_run(shop_ids.run.folder, stage="sft")


def test_a_saved_bundle_reproduces_its_top10_in_a_fresh_process(tmp_path):
    run = run_sft("ci", NONE, progress=False, epochs=1, valid_users=50)
    data = load_data("ci")
    histories = data.split.histories("test")[:20]
    ours = run.recommender.recommend(histories, 10)
    script = ("import json, sys, numpy as np\n"
              "from digr_utils.data.stage import load_data\n"
              "from digr_utils.gen.stage import load_recommender\n"
              "data = load_data('ci')\n"
              f"rec = load_recommender({str(run.run.folder)!r}, data)\n"
              "print(json.dumps(rec.recommend(data.split.histories('test')[:20], 10).tolist()))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ours.tolist()
    # the same bundle is refused for other data
    letter = load_data("ci", DataSpec(_letter(tmp_path / "x")))
    with pytest.raises(ValueError, match=letter.key):
        load_recommender(run.run.folder, letter)


def test_an_unfinished_bundle_says_how_to_finish(tmp_path):
    run = open_run("shop_ci-1", "sft", {"x": 1}, "none")
    with pytest.raises(FileNotFoundError, match="not a finished model bundle"):
        load_recommender(run.folder)


def test_sft_on_published_ids_of_a_letter_folder(capsys, tmp_path):
    folder = _letter(tmp_path / "letter", n=12)
    assert main(["sft", "--preset", "ci", "--data", str(folder), "--sids", "published",
                 "--interests", "none"]) == 0
    f = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert f["ids"] == "published" and f["dataset"].startswith("X-")
    assert 0 <= f["test all NDCG@10"] <= f["test all HR@10"] <= 1


def test_published_ids_with_mined_interests_are_refused(capsys, tmp_path):
    folder = _letter(tmp_path / "letter")
    assert main(["sids", "--preset", "ci", "--data", str(folder), "--sids", "published",
                 "--interests", "smollm2"]) == 2
    assert "--interests none with --sids published" in capsys.readouterr().err


def test_textless_items_cannot_make_shallow_ids(capsys, tmp_path):
    folder = _letter(tmp_path / "letter", sids=False)
    assert main(["sids", "--preset", "ci", "--data", str(folder), "--interests", "none"]) == 2
    assert "published" in capsys.readouterr().err


def _slice(src, dst, name: str, users: int):
    """The first ``users`` users of a shared LETTER folder (and their items' published IDs)."""
    dst.mkdir()
    seqs = json.loads((src / f"{name}.inter.json").read_text())
    kept = dict(list(seqs.items())[:users])
    (dst / f"{name}.inter.json").write_text(json.dumps(kept))
    items = {str(i) for s in kept.values() for i in s}
    ids = json.loads((src / f"{name}.index.json").read_text())
    (dst / f"{name}.index.json").write_text(json.dumps({i: c for i, c in ids.items() if i in items}))
    return dst


@pytest.mark.skipif(not (shared_benchmarks() / "beauty").is_dir(), reason="no shared benchmarks")
def test_sft_on_a_slice_of_shared_beauty_with_its_published_ids(capsys, tmp_path):
    folder = _slice(shared_benchmarks() / "beauty", tmp_path / "beauty", "Beauty", 1500)
    assert main(["sft", "--preset", "ci", "--data", str(folder), "--sids", "published",
                 "--interests", "none"]) == 0
    f = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert f["dataset"].startswith("Beauty-") and f["test all HR@10"] > 0


def test_sasrec_is_trained_once_then_loaded_from_its_run():
    from digr_utils.baselines.stage import SASRecConfig, train_sasrec

    data = load_data("ci")
    budget = SASRecConfig(hidden=16, epochs=1)
    trained, run = train_sasrec(data, budget)
    loaded, again = train_sasrec(data, budget)
    assert again.folder == run.folder and run.finished
    histories = data.split.histories("test")[:30]
    np.testing.assert_array_equal(loaded.recommend(histories, 10), trained.recommend(histories, 10))
    assert train_sasrec(data, SASRecConfig(hidden=16, epochs=1, dropout=0.3))[1].folder != run.folder


class _FakeServer:
    """Stands in for OpenAICompatible: answers every item with interests drawn from its title."""

    name = "openai"
    concurrency = 4

    def __init__(self, base_url, model, **_):
        self.model = model

    def settings_tag(self):
        return "fake"

    def complete(self, conversations):
        from digr_utils.interests.backends import Completion

        out = []
        for conv in conversations:
            word = "tea" if "Tea" in conv[-1]["content"] else "walks"
            out.append(Completion('{"interests": [{"interest": "loves %s", "confidence": 0.9}, '
                                  '{"interest": "a good product", "confidence": 0.4}]}' % word, 9))
        return out


def test_real_data_through_mining_labels_and_deep_ids(capsys, monkeypatch, tmp_path):
    """Interests from an OpenAI-compatible server, labels from the user's CSV, deep IDs: on a
    real-format folder with item text, which has no hidden motives."""
    from digr_utils.interests import openai_client

    monkeypatch.setattr(openai_client, "OpenAICompatible", _FakeServer)
    folder = _letter(tmp_path / "letter", n=12, sids=False)
    (folder / "X.item.json").write_text(json.dumps(
        {f"i{i}": {"title": ["Tea Pot", "Dog Leash"][i % 2], "description": f"Item {i}."}
         for i in range(12)}))
    rows = ["entity_id,text,label"] + [f"i{i},loves {'tea' if i % 2 == 0 else 'walks'},1"
                                       for i in range(6)] + [f"i{i},a good product,0" for i in range(6)]
    labels = tmp_path / "labels.csv"
    labels.write_text("\n".join(rows) + "\n")
    server = ["--interests", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    args = ["--preset", "ci", "--data", str(folder), *server]
    assert main(["label", *args, "--labels", str(labels)]) == 0
    f = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert f["interests"] == "openai:m" and f["labels_from"].startswith("file")
    assert f["annotated"] == 12 and f["kept_share"] == 0.5  # the user's labels decide
    assert "roc_auc" not in f  # no hidden truth to score against on real data
    assert main(["sids", *args, "--labels", str(labels)]) == 0
    ids = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ids["interests"] == "openai:m" and ids["items"] == 12
    # without labels there is nothing to grade with on real data, and the error says what to give
    assert main(["sids", *args]) == 2
    assert "--labels FILE" in capsys.readouterr().err


def test_the_oracle_keeps_the_true_motive_names_and_says_it_cheats(capsys):
    assert main(["label", "--preset", "ci", "--interests", "oracle"]) == 0
    f = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert f["interests"] == "oracle" and f["kept_share"] == 1.0 and f["mean_quality"] == 1.0
    assert "oracle" in f["labels_from"]
    # the true names put every item among neighbours that share its motive far more often
    assert f["agreement_fused_kept"] > f["agreement_surface"] + 0.3
    assert "cheating" in InterestSource("oracle").description


def test_evaluate_prints_one_row_per_model_with_the_interest_source_named(capsys):
    assert main(["evaluate", "--preset", "ci", "--interests", "none", "--seeds", "0"]) == 0
    f = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = {r["model"]: r for r in f["rows"]}
    assert set(rows) == {"Popularity", "SASRec (item IDs)", "GRU4Rec (item IDs)", "TIGER (shallow IDs, SFT)"}
    assert rows["TIGER (shallow IDs, SFT)"]["interests"] == "no interests (surface text only)"
    for r in rows.values():
        assert 0 <= r["all NDCG@10"] <= r["all HR@10"] <= 1 and r["seeds"] == 1
    assert f["strongest_baseline"] in rows
    assert rows[f["strongest_baseline"]][f"p vs {f['strongest_baseline']}"] is None
    from digr_utils.evaluation import load_evaluation

    kept = load_evaluation(load_data("ci"), (0,), ("none",))  # what notebook 07 reads back
    # one trial: every learned model keeps its defaults ({}); popularity has no trials (None)
    assert {s.model: s.chosen for s in kept} == {"Popularity": None, "SASRec (item IDs)": {},
                                                 "GRU4Rec (item IDs)": {},
                                                 "TIGER (shallow IDs, SFT)": {}}
