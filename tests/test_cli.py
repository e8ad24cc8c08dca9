"""The ``digr`` command: last-line JSON, per-run metrics.json, --data/--format and bad arguments."""
import json

import pytest

from digr_utils.cli import main
from digr_utils.data.world import shop_folder
from digr_utils.runs import index


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
    assert figures["dataset"].startswith("shop_ci-")
    for key in ("users", "items", "interactions"):
        assert figures[key] == committed[key], key
    assert (figures["users"], figures["items"], figures["interactions"]) == (500, 225, 4782)
    [saved] = (_artifacts / figures["dataset"] / "data").glob("*/metrics.json")
    assert json.loads(saved.read_text()) == figures


def test_explicit_preset_beats_the_environment(capsys, monkeypatch, _artifacts):
    monkeypatch.setenv("DIGR_PRESET", "tutorial")
    assert main(["data", "--preset", "ci"]) == 0
    assert _last_json(capsys)["users"] == 500


def test_a_folder_without_known_files_lists_what_each_format_expects(capsys, tmp_path):
    assert main(["data", "--preset", "ci", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("digr data: ") and "letter" in err and "minionerec" in err


def test_format_and_name_without_data_are_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", "--preset", "ci", "--format", "letter"])
    assert exc.value.code == 2
    assert "give --data too" in capsys.readouterr().err


def test_a_name_that_is_a_path_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["data", "--preset", "ci", "--data", str(tmp_path), "--name", "../x"])
    assert "not a path" in capsys.readouterr().err


def _write_letter(folder, name):
    # 7 users, 7 items; user u buys items u, u+1, ..., u+4 (mod 7): every user 5 items and every
    # item 5 users, an exact 5-core. User "z" (2 items, one only z buys) falls to the filter.
    seqs = {f"u{u}": [f"i{(u + j) % 7}" for j in range(5)] for u in range(7)}
    seqs["z"] = ["i0", "i9"]
    (folder / f"{name}.inter.json").write_text(json.dumps(seqs))


def test_data_from_letter_files(capsys, tmp_path, _artifacts):
    _write_letter(tmp_path, "X")
    assert main(["data", "--preset", "ci", "--data", str(tmp_path)]) == 0  # format found by its files
    figures = _last_json(capsys)
    assert figures["dataset"].startswith("X-")
    assert (figures["users"], figures["items"], figures["interactions"]) == (7, 7, 35)
    assert figures["mean_sequence_length"] == 5.0
    assert figures["density"] == pytest.approx(35 / 49)
    # each user's test target (item u+4) was a training item of users u+2, u+3 and u+4
    assert figures["new_arrival_test_share"] == 0.0
    # a real dataset's figures go beside, not over, the bundled shop's
    assert main(["data", "--preset", "ci"]) == 0
    assert sorted(index(_artifacts)["dataset"].str[:2]) == ["X-", "sh"]


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
    assert f["interests"] == "panel"
    assert f["annotated"] == 200 and f["labels_from"].startswith("hidden motives")
    assert f["roc_auc"] > f["confidence_only_auc"] and f["kept_precision"] > f["keep_all_precision"]
    assert 0 < f["mean_quality"] <= 1
    # the story of notebook 03: interests help neighbours find motives, filtered ones more
    assert f["agreement_surface"] < f["agreement_fused_all"] < f["agreement_fused_kept"]
    [folder] = (_artifacts / f["dataset"] / "label").glob("panel-*")
    kept = json.loads((folder / "kept_item_interests.json").read_text())
    assert len(kept) == 225 and all(isinstance(k["interests"], list) for k in kept)
    assert (folder / "user_interests.csv").exists() and (folder / "item_quality.npy").exists()


def test_label_with_a_bad_labels_file_names_it(capsys, tmp_path):
    bad = tmp_path / "mine.csv"
    bad.write_text("entity_id,text\n")
    assert main(["label", "--preset", "ci", "--labels", str(bad)]) == 2
    assert f"{bad}: missing column(s) ['label']" in capsys.readouterr().err


def test_sids_deep_codes_group_by_motive_and_shallow_by_type(capsys, _artifacts):
    assert main(["sids", "--preset", "ci", "--interests", "none"]) == 0
    shallow = _last_json(capsys)
    assert main(["sids", "--preset", "ci", "--interests", "panel"]) == 0
    deep = _last_json(capsys)
    for f in (shallow, deep):
        assert f["items"] == 225 and f["collision_rate"] < 0.3
        assert min(f["used_l1"], f["used_l2"], f["used_l3"]) > 0.9
    assert shallow["type_share_l1"] > shallow["motive_share_l1"]
    assert deep["motive_share_l1"] > 2 * shallow["motive_share_l1"]
    folder = _artifacts / deep["dataset"] / "sids"
    assert sorted(p.name.rsplit("-", 1)[0] for p in folder.iterdir()) == ["none-rqvae", "panel-rqvae"]
    deep_run = folder / deep["run"].rsplit("/", 1)[-1]
    assert (deep_run / "sids.npz").exists() and (deep_run / "history.csv").exists()
    assert {**json.loads((deep_run / "metrics.json").read_text()), "run": deep["run"]} == deep


def test_sids_deep_on_real_data_is_refused_with_the_way_out(capsys, tmp_path):
    _write_letter(tmp_path, "X")
    code = main(["sids", "--preset", "ci", "--data", str(tmp_path), "--format", "letter",
                 "--name", "X", "--interests", "panel"])
    assert code == 2
    assert "--sids published" in capsys.readouterr().err  # LETTER files carry no item text


def test_sft_trains_and_ranks_with_the_shared_evaluator(capsys, _artifacts):
    assert main(["sft", "--preset", "ci", "--interests", "none"]) == 0
    f = _last_json(capsys)
    assert f["interests"] == "none" and f["aux_tasks"] is False and f["epochs_run"] == 2
    for key in ("valid all HR@10", "test all NDCG@10", "test warm HR@5", "test new HR@10"):
        assert 0 <= f[key] <= 1
    assert f["test all HR@10"] >= f["test all HR@5"] and f["sequences_per_second"] > 0
    runs = list((_artifacts / f["dataset"] / "sft").glob("none-rqvae-noaux-*"))
    assert len(runs) == 1 and str(runs[0]) == f["run"]
    for name in ("model.pt", "vocab.json", "sids.npz", "bundle.json", "run.json", "last.pt"):
        assert (runs[0] / name).exists(), name
    # a second run loads the finished bundle instead of training again
    assert main(["sft", "--preset", "ci", "--interests", "none"]) == 0
    again = _last_json(capsys)
    assert again["test all NDCG@10"] == f["test all NDCG@10"] and again["train_seconds"] == f["train_seconds"]


def test_sids_with_another_encoder_and_residual_kmeans(capsys):
    assert main(["sids", "--preset", "ci", "--interests", "none", "--encoder", "tfidf",
                 "--sids", "kmeans"]) == 0
    f = _last_json(capsys)
    assert f["method"] == "kmeans" and f["items"] == 225 and "recon_mse" not in f
    assert main(["sids", "--preset", "ci", "--interests", "panel", "--encoder", "tfidf"]) == 2
    assert "use a neural encoder (minilm) for deep IDs" in capsys.readouterr().err


def test_an_invalid_preset_in_the_environment_is_refused_up_front(capsys, monkeypatch):
    monkeypatch.setenv("DIGR_PRESET", "huge")
    assert main(["data"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'huge'" in err and "DIGR_PRESET" in err


def test_runs_lists_what_exists(capsys, _artifacts):
    assert main(["runs"]) == 0
    assert _last_json(capsys) == {"runs": []}
    assert main(["data", "--preset", "ci"]) == 0
    capsys.readouterr()
    assert main(["runs"]) == 0
    [row] = _last_json(capsys)["runs"]
    assert row["stage"] == "data" and row["finished"] is True


def _record_stages(monkeypatch) -> list:
    """Replace every stage the pipeline calls by one that records (stage, seed) and returns a
    small figure; ``evaluate_stage`` records its seeds and sources."""
    calls = []

    def fake(stage):
        def run(preset, source=None, *args, seed=None, **kwargs):
            if stage == "label":
                seed = args[2]
            calls.append((stage, seed))
            return {"stage": stage}
        return run

    for module, name in (("digr_utils.labeling.stage", "label"), ("digr_utils.sid.stage", "sids"),
                         ("digr_utils.gen.stage", "sft"), ("digr_utils.gen.grpo_stage", "grpo")):
        monkeypatch.setattr(f"{module}.{name}_stage", fake(name))

    def table(preset, seeds, sources, spec, method, trials, progress=True):
        calls.append(("table", tuple(seeds), tuple(sources), method, trials))
        return {"rows": []}

    monkeypatch.setattr("digr_utils.evaluation.evaluate_stage", table)
    return calls


def test_pipeline_runs_every_stage_per_seed_then_the_table(capsys, monkeypatch):
    calls = _record_stages(monkeypatch)
    assert main(["pipeline", "--preset", "ci", "--seeds", "0", "1", "--trials", "2"]) == 0
    f = _last_json(capsys)
    chain = [(s, seed) for seed in (0, 1) for s in ("label", "sids", "sft", "grpo")]
    assert calls == [*chain, ("table", (0, 1), ("none", "panel"), "rqvae", 2)]
    assert f["data"]["users"] == 500 and f["grpo"] == {"0": {"stage": "grpo"}, "1": {"stage": "grpo"}}
    assert f["table"] == {"rows": []}


def test_pipeline_without_interests_is_tiger_sft_only_and_takes_seed(capsys, monkeypatch):
    calls = _record_stages(monkeypatch)
    assert main(["pipeline", "--preset", "ci", "--interests", "none", "--seed", "3"]) == 0
    assert calls == [("sids", 3), ("sft", 3), ("table", (3,), ("none",), "rqvae", 1)]


def test_pipeline_with_a_recipe_the_table_cannot_name_skips_only_the_table(capsys, monkeypatch):
    calls = _record_stages(monkeypatch)
    assert main(["pipeline", "--preset", "ci", "--budget", "50"]) == 0
    assert [c[0] for c in calls] == ["label", "sids", "sft", "grpo"]
    assert "knows interest sources by name" in _last_json(capsys)["table"]["skipped"]


def test_pipeline_carries_an_item_vector_ablation_through_every_stage(capsys, monkeypatch):
    seen = []
    for module, name in (("digr_utils.sid.stage", "sids"), ("digr_utils.gen.stage", "sft"),
                         ("digr_utils.gen.grpo_stage", "grpo")):
        monkeypatch.setattr(f"{module}.{name}_stage",
                            lambda *a, _n=name, **k: seen.append((_n, k.get("vectors", a[4:5])))
                            or {"stage": _n})
    monkeypatch.setattr("digr_utils.labeling.stage.label_stage", lambda *a, **k: {})
    assert main(["pipeline", "--preset", "ci", "--vectors", "appended", "--cue-weight", "0"]) == 0
    modes = [(n, v[0] if isinstance(v, tuple) else v) for n, v in seen]
    assert [n for n, _ in modes] == ["sids", "sft", "grpo"]
    assert all(v.mode == "append" and v.cue_weight == 0 for _, v in modes)
    assert "item vectors" in _last_json(capsys)["table"]["skipped"]


def test_evaluate_on_real_data_defaults_to_the_shallow_model(capsys, monkeypatch, tmp_path):
    calls = _record_stages(monkeypatch)
    _write_letter(tmp_path, "X")
    assert main(["evaluate", "--preset", "ci", "--data", str(tmp_path), "--sids", "published",
                 "--seed", "2"]) == 0
    assert calls == [("table", (2,), ("none",), "published", 1)]
    assert main(["evaluate", "--preset", "ci", "--seeds", "0", "1"]) == 0
    assert calls[-1] == ("table", (0, 1), ("none", "panel"), "rqvae", 1)



def test_sft_passes_the_panel_dial_and_the_llm_backbone(capsys, monkeypatch):
    seen = {}

    def fake(preset, source, method, aux, seed, spec, labels, backbone=None, vectors=None):
        seen.update(source=source, backbone=backbone)
        return {"ok": 1}

    monkeypatch.setattr("digr_utils.gen.stage.sft_stage", fake)
    assert main(["sft", "--preset", "ci", "--quality", "0.25", "--backbone", "causal",
                 "--llm-path", "/models/llm"]) == 0
    assert seen["source"].quality == 0.25 and seen["backbone"].path == "/models/llm"
    assert main(["sft", "--preset", "ci"]) == 0 and seen["backbone"] is None
    with pytest.raises(SystemExit):
        main(["sft", "--preset", "ci", "--interests", "none", "--quality", "0.5"])
    assert "--quality sets the simulated panel's dial" in capsys.readouterr().err


def test_ablation_flags_reach_the_label_and_vector_recipes(capsys, monkeypatch):
    from digr_utils.labeling.stage import KEEP_ALL, LabelRecipe
    from digr_utils.sid.stage import VectorRecipe

    seen = []

    def fake(stage):
        def run(*args, **kwargs):
            given = (*args, *kwargs.values())
            seen.append((stage, *(next(a for a in given if isinstance(a, kind))
                                  for kind in (LabelRecipe, VectorRecipe))))
            return {"ok": 1}
        return run

    for module, name in (("digr_utils.sid.stage", "sids"), ("digr_utils.gen.stage", "sft"),
                         ("digr_utils.gen.grpo_stage", "grpo")):
        monkeypatch.setattr(f"{module}.{name}_stage", fake(name))
    for stage in ("sids", "sft", "grpo"):
        assert main([stage, "--preset", "ci"]) == 0
        assert seen[-1] == (stage, LabelRecipe(), VectorRecipe())  # the defaults, as before
        assert main([stage, "--preset", "ci", "--keep-all", "--cue-weight", "0",
                     "--vectors", "appended"]) == 0
        assert seen[-1] == (stage, LabelRecipe(kind=KEEP_ALL), VectorRecipe(cue_weight=0, mode="append"))
    assert main(["sft", "--preset", "ci", "--keep-all", "--judge", "smollm2"]) == 2
    assert "--keep-all grades nothing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["sft", "--vectors", "mean"])

