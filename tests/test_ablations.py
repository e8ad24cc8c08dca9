"""The ablations that change the semantic IDs: keep-all labels (without RLDI), appended or
cue-less item vectors, their own named runs through SFT, the default runs' recipes unchanged,
finding a finished variant without training, and benchmarks/ablations.py's variants. The tests
share the session's artifacts, so the ci labels and IDs other tests made are reused."""
import importlib.util
import re
from dataclasses import asdict

import numpy as np
import pytest

from digr_utils.config import REPO_ROOT
from digr_utils.data.stage import load_data
from digr_utils.embed import encode
from digr_utils.evaluation import ID_ABLATIONS, finished_variant, load_ablations
from digr_utils.gen.stage import run_sft
from digr_utils.interests.scoring import scorer_key
from digr_utils.interests.stage import InterestSource
from digr_utils.labeling.stage import KEEP_ALL, LabelRecipe, kept_interests, run_labeling
from digr_utils.runs import artifacts_root, cache_dir, digest, index, load_run
from digr_utils.sid.stage import VectorRecipe, appended_texts, item_vectors, recipe_tag

PANEL, NONE = InterestSource("panel"), InterestSource("none")
KEEP = LabelRecipe(kind=KEEP_ALL)


def test_keep_all_grades_nothing_keeps_everything_and_is_named_apart():
    graded, kept = run_labeling("ci", PANEL, progress=False), run_labeling("ci", PANEL, KEEP, progress=False)
    assert kept.frame["keep"].all() and (kept.frame["label"] == -1).all()
    assert kept.figures["kept_share"] == 1.0 and kept.figures["annotated"] == 0
    assert kept.figures["labels_from"].startswith("none: without RLDI")
    assert "roc_auc" not in kept.figures  # no grader to score
    assert kept.figures["kept_precision"] == pytest.approx(float(kept.frame["truth"].mean()), abs=1e-4)
    assert kept.run.folder.name.startswith("panel-keepall-")
    assert graded.run.folder.name.startswith("panel-") and "keepall" not in graded.run.folder.name
    assert kept.run.recipe["kind"] == KEEP_ALL and "budget" not in kept.run.recipe
    items_with_interests = np.array([len(k) > 0 for k in kept.item_interests])
    np.testing.assert_array_equal(kept.quality[items_with_interests], 1.0)  # q_i = 1
    assert sum(map(len, kept.item_interests)) == len(kept.frame) > sum(map(len, graded.item_interests))


def test_keep_all_refuses_labels_it_would_ignore():
    with pytest.raises(ValueError, match="--keep-all grades nothing"):
        LabelRecipe(kind=KEEP_ALL, judge="smollm2")


def test_appended_texts_by_hand():
    assert appended_texts(["A red cup", "B"], [["tea", "gift", "tea"], []], ["red, round", ""]) == [
        "A red cup. gift. tea. red, round", "B"]
    assert appended_texts(["A"], None, None) == ["A"]


def test_appended_vectors_embed_text_interests_and_cues_once():
    data = load_data("ci")
    kept = kept_interests(data, PANEL, 0)[0]
    from digr_utils.interests.visual import visual_cues_all

    appended, _ = item_vectors(data, PANEL, VectorRecipe(mode="append"))
    expected = encode(appended_texts(data.dataset.text(), kept, visual_cues_all(data.shop.images)),
                      cache_dir=cache_dir())
    np.testing.assert_allclose(appended, expected, atol=1e-6)
    no_cues, _ = item_vectors(data, PANEL, VectorRecipe(mode="append", cue_weight=0))
    fused, _ = item_vectors(data, PANEL)
    assert appended.shape == fused.shape and not np.allclose(appended, fused)
    assert not np.allclose(appended, no_cues)
    with pytest.raises(ValueError, match="unknown vector mode"):
        VectorRecipe(mode="mean")


def test_run_names_say_the_variant_and_only_for_mined_interests():
    assert recipe_tag(PANEL, VectorRecipe(), LabelRecipe()) == ""
    assert recipe_tag(PANEL, VectorRecipe(), KEEP) == "-keepall"
    assert recipe_tag(PANEL, VectorRecipe(cue_weight=0), LabelRecipe()) == "-nocues"
    assert recipe_tag(PANEL, VectorRecipe(mode="append"), LabelRecipe()) == "-append"
    assert recipe_tag(PANEL, VectorRecipe(mode="append", cue_weight=0.5), KEEP) == "-keepall-append-cues0.5"
    assert recipe_tag(NONE, VectorRecipe(cue_weight=0), KEEP) == ""  # nothing mined: nothing to vary


def test_default_recipes_hash_as_before_so_runs_on_disk_are_found_again():
    # the fields exactly as run_sft, build_sids and RLDI named their runs before the ablations
    sft = run_sft("ci", PANEL, progress=False, epochs=1, valid_users=50).run
    sids = load_run(next(f for f in index()["folder"] if f.endswith(sft.recipe["sids"])))
    label = load_run(next(f for f in index()["folder"] if f.endswith(sids.recipe["label_run"])))
    assert label.key == digest({"stage": "label", "mine": label.recipe["mine"], "budget": 200,
                                "kind": "logistic", "labels": "hidden motives (stand-in for people)",
                                "seed": 0, "scorer": scorer_key()})
    assert sids.key == digest({"stage": "sids", "interests": "panel", "label_run": label.key,
                               "vectors": {"encoder": "minilm", "interest_weight": 1.0,
                                           "cue_weight": 0.2, "mode": "sum"},
                               "method": "rqvae", "quantiser": sids.recipe["quantiser"]})
    assert sorted(sft.recipe) == ["aux", "max_history", "model", "sft", "sids", "valid_users"]
    assert sft.key == digest({"stage": "sft", **sft.recipe})
    assert re.fullmatch(r"panel-rqvae-aux-[0-9a-f]{10}", sft.folder.name)
    assert re.fullmatch(r"panel-rqvae-[0-9a-f]{10}", sids.folder.name)
    assert re.fullmatch(r"panel-[0-9a-f]{10}", label.folder.name)


def test_an_ablation_is_its_own_sft_run_found_later_without_training():
    data = load_data("ci")
    default = run_sft("ci", PANEL, progress=False, epochs=1, valid_users=50)
    keep_all = run_sft("ci", PANEL, progress=False, epochs=1, valid_users=50, labels=KEEP)
    assert keep_all.run.folder.name.startswith("panel-rqvae-aux-keepall-")
    assert keep_all.run.recipe["sids"] != default.run.recipe["sids"]
    assert finished_variant(data, default.run, *ID_ABLATIONS["keep-all"]) == keep_all.run
    assert finished_variant(data, default.run) == default.run
    folders = sorted(artifacts_root().rglob("run.json"))
    assert finished_variant(data, default.run, *ID_ABLATIONS["appended"]) is None  # never made
    assert sorted(artifacts_root().rglob("run.json")) == folders  # and looking created nothing
    with pytest.raises(ValueError, match="without mined interests"):
        finished_variant(data, run_sft("ci", NONE, progress=False, epochs=1, valid_users=50).run)


def _benchmark():
    spec = importlib.util.spec_from_file_location("ablations", REPO_ROOT / "benchmarks" / "ablations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_trains_the_default_and_each_ablation_as_distinct_runs(monkeypatch, capsys):
    bench, calls = _benchmark(), []

    class Fake:
        def __init__(self, labels, vectors):
            self.figures = {f: 0.5 for f in bench.FIGURES}
            self.run = type("R", (), {"folder": f"panel-rqvae-aux{recipe_tag(PANEL, vectors, labels)}"})

    def fake_sft(preset, source, seed, labels, vectors, progress, **overrides):
        calls.append((preset, source.name, seed, asdict(labels), asdict(vectors), overrides))
        return Fake(labels, vectors)

    monkeypatch.setattr(bench, "run_sft", fake_sft)
    rows = bench.main(["--preset", "ci", "--seeds", "0", "1", "--epochs", "1"])
    assert [r["variant"] for r in rows] == ["default", "keep-all", "no-cues", "appended"] * 2
    recipes = {(str(c[3]), str(c[4])) for c in calls}
    assert len(recipes) == 4 and len({r["run"] for r in rows}) == 4
    assert rows[0]["run"] == "panel-rqvae-aux" and all(c[5] == {"epochs": 1} for c in calls)
    assert '"summary"' in capsys.readouterr().out.strip().splitlines()[-1]
    data = load_data("ci")
    kept = load_ablations(data, "panel", (1, 0), epochs=1)  # what notebook 07 reads back
    assert kept.to_dict(orient="records") == rows
    assert load_ablations(data, "panel", (0, 1)) is None  # other epochs: another run
    assert load_ablations(data, "panel", (0,), epochs=1) is None  # other seeds: another run
