"""The ``digr data`` command: last-line JSON, metrics.json, --data/--format and bad arguments."""
import json

import pytest

from digr_utils.cli import main
from digr_utils.data.world import shop_folder


@pytest.fixture(autouse=True)
def _artifacts(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.delenv("DIGR_PRESET", raising=False)
    return tmp_path / "artifacts"


def _last_json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_data_on_the_ci_shop(capsys, _artifacts):
    assert main(["data", "--preset", "ci"]) == 0
    figures = _last_json(capsys)
    committed = json.loads((shop_folder("ci") / "checksums.json").read_text())
    assert figures["dataset"] == "shop"
    for key in ("users", "items", "interactions"):
        assert figures[key] == committed[key], key
    assert (figures["users"], figures["items"], figures["interactions"]) == (500, 225, 4782)
    saved = json.loads((_artifacts / "ci" / "data" / "metrics.json").read_text())
    assert saved == figures


def test_explicit_preset_beats_the_environment(capsys, monkeypatch, _artifacts):
    monkeypatch.setenv("DIGR_PRESET", "tutorial")
    assert main(["data", "--preset", "ci"]) == 0
    assert _last_json(capsys)["users"] == 500
    assert (_artifacts / "ci" / "data" / "metrics.json").exists()


def test_data_without_format_is_an_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["data", "--preset", "ci", "--data", str(tmp_path)])
    assert exc.value.code == 2
    assert "--data needs --format and --name" in capsys.readouterr().err


def _write_letter(folder, name):
    # 7 users, 7 items; user u buys items u, u+1, ..., u+4 (mod 7): every user 5 items and every
    # item 5 users, an exact 5-core. User "z" (2 items, one only z buys) falls to the filter.
    seqs = {f"u{u}": [f"i{(u + j) % 7}" for j in range(5)] for u in range(7)}
    seqs["z"] = ["i0", "i9"]
    (folder / f"{name}.inter.json").write_text(json.dumps(seqs))


def test_data_from_letter_files(capsys, tmp_path, _artifacts):
    _write_letter(tmp_path, "X")
    code = main(["data", "--preset", "ci", "--data", str(tmp_path), "--format", "letter",
                 "--name", "X"])
    assert code == 0
    figures = _last_json(capsys)
    assert figures["dataset"] == "X"
    assert (figures["users"], figures["items"], figures["interactions"]) == (7, 7, 35)
    assert figures["mean_sequence_length"] == 5.0
    assert figures["density"] == pytest.approx(35 / 49)
    # each user's test target (item u+4) was a training item of users u+2, u+3 and u+4
    assert figures["new_arrival_test_share"] == 0.0
    # a real dataset's figures go beside, not over, the bundled shop's
    assert (_artifacts / "ci" / "data-letter-X" / "metrics.json").exists()


def test_data_from_a_missing_file_reports_and_returns_2(capsys, tmp_path):
    code = main(["data", "--preset", "ci", "--data", str(tmp_path), "--format", "letter",
                 "--name", "Nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("digr data: ") and "Nope" in err


def test_unknown_preset_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "--preset", "huge"])
    assert exc.value.code == 2
    assert "invalid choice: 'huge'" in capsys.readouterr().err


def test_label_grades_the_panel_and_filtering_sharpens_neighbours(capsys, _artifacts):
    assert main(["label", "--preset", "ci"]) == 0
    f = _last_json(capsys)
    assert f["annotated"] == 200 and f["labels_from"].startswith("hidden motives")
    assert f["roc_auc"] > f["confidence_only_auc"] and f["kept_precision"] > f["keep_all_precision"]
    assert 0 < f["mean_quality"] <= 1
    # the story of notebook 03: interests help neighbours find motives, filtered ones more
    assert f["agreement_surface"] < f["agreement_fused_all"] < f["agreement_fused_kept"]
    folder = _artifacts / "ci" / "label" / "simulated"
    kept = json.loads((folder / "kept_item_interests.json").read_text())
    assert len(kept) == 225 and all(isinstance(k, list) for k in kept)
    assert (folder / "user_interests.csv").exists() and (folder / "item_quality.npy").exists()


def test_label_with_a_bad_labels_file_names_it(capsys, tmp_path):
    bad = tmp_path / "mine.csv"
    bad.write_text("entity_id,text\n")
    assert main(["label", "--preset", "ci", "--labels", str(bad)]) == 2
    assert f"{bad}: missing column(s) ['label']" in capsys.readouterr().err


def test_sids_deep_codes_group_by_motive_and_shallow_by_type(capsys, _artifacts):
    assert main(["sids", "--preset", "ci", "--source", "shallow"]) == 0
    shallow = _last_json(capsys)
    assert main(["sids", "--preset", "ci", "--source", "deep"]) == 0
    deep = _last_json(capsys)
    for f in (shallow, deep):
        assert f["items"] == 225 and f["collision_rate"] < 0.3
        assert min(f["used_l1"], f["used_l2"], f["used_l3"]) > 0.9
    assert shallow["type_share_l1"] > shallow["motive_share_l1"]
    assert deep["motive_share_l1"] > 2 * shallow["motive_share_l1"]
    folder = _artifacts / "ci" / "sids" / "deep"
    assert (folder / "sids.npz").exists() and (folder / "history.csv").exists()
    assert json.loads((_artifacts / "ci" / "sids" / "metrics.json").read_text()) == deep


def test_sids_deep_on_real_data_is_refused_with_the_way_out(capsys, tmp_path):
    _write_letter(tmp_path, "X")
    code = main(["sids", "--preset", "ci", "--data", str(tmp_path), "--format", "letter",
                 "--name", "X", "--source", "deep"])
    assert code == 2
    assert "use --source shallow" in capsys.readouterr().err


def test_sft_trains_and_ranks_with_the_shared_evaluator(capsys, _artifacts):
    assert main(["sft", "--preset", "ci", "--source", "shallow"]) == 0
    f = _last_json(capsys)
    assert f["source"] == "shallow" and f["aux_tasks"] is False and f["epochs_run"] == 2
    for key in ("valid all HR@10", "test all NDCG@10", "test warm HR@5", "test new HR@10"):
        assert 0 <= f[key] <= 1
    assert f["test all HR@10"] >= f["test all HR@5"] and f["sequences_per_second"] > 0
    runs = list((_artifacts / "ci" / "sft").glob("shallow-noaux-seed0-*"))
    assert len(runs) == 1 and (runs[0] / "best.pt").exists() and (runs[0] / "last.pt").exists()
    # a second run resumes the finished checkpoint instead of training again
    assert main(["sft", "--preset", "ci", "--source", "shallow"]) == 0
    again = _last_json(capsys)
    assert again["test all NDCG@10"] == f["test all NDCG@10"] and again["train_seconds"] == f["train_seconds"]


def test_sids_with_another_encoder_and_residual_kmeans(capsys):
    assert main(["sids", "--preset", "ci", "--source", "shallow", "--encoder", "tfidf",
                 "--method", "kmeans"]) == 0
    f = _last_json(capsys)
    assert f["method"] == "kmeans" and f["items"] == 225 and "recon_mse" not in f
    assert main(["sids", "--preset", "ci", "--source", "deep", "--encoder", "tfidf"]) == 2
    assert "use a neural encoder (minilm) for --source deep" in capsys.readouterr().err
