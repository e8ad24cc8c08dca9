"""Notebook 05's prose against the figures it recorded (preset-dependent comparisons are rendered
from values in the notebook; what the prose states in words is checked here)."""
import pytest


@pytest.fixture(scope="module")
def f(recorded):
    return recorded("05")


def test_the_oracle_is_the_answer_key_to_the_scorer(f):
    assert f["mining · oracle · precision"] == f["mining · oracle · recall"] == 1.0


def test_smollm2_interests_are_mostly_wrong(f):
    assert f["mining · smollm2 · precision"] < 0.5 and f["mining · smollm2 · recall"] < 0.5


def test_the_taxonomy_matcher_mines_better_than_smollm2(f):
    assert f["mining · taxonomy · precision"] > f["mining · smollm2 · precision"]
    assert f["mining · taxonomy · recall"] > f["mining · smollm2 · recall"]


def test_sasrec_beats_the_panels_deep_ids_after_sft(f):
    for metric in ("all HR@10", "warm HR@10"):
        assert f[f"sasrec · {metric}"] > f[f"deep-panel · {metric}"]


def _oracle_trained(f) -> bool:
    """Whether the oracle's model was on disk when notebook 05 ran (the preset's choice)."""
    return "deep-oracle · all NDCG@10" in f


def test_the_oracles_deep_ids_beat_the_panels(f):
    if not _oracle_trained(f):
        pytest.skip("the oracle's SFT model was not on disk (this preset's notebooks do not train it)")
    assert f["deep-oracle · all NDCG@10"] > f["deep-panel · all NDCG@10"]


def test_every_row_of_the_curve_and_table_is_recorded(f):
    oracle = ("oracle",) if _oracle_trained(f) else ()
    for row in ("popularity", "sasrec", "tiger", "deep-panel", "deep-smollm2") + tuple(f"deep-{o}" for o in oracle):
        assert f"{row} · all NDCG@10" in f
    for line in ("none", "sasrec", "panel", "smollm2") + oracle:
        assert f"curve · {line} · NDCG@10" in f


def test_the_preset_says_whether_the_notebooks_train_the_oracle(f, preset):
    from digr_utils.config import get_preset

    if get_preset(preset, use_env=False).oracle_in_notebooks:
        assert _oracle_trained(f)


def test_the_dial_runs_from_useless_towards_the_oracle(f):
    qualities = sorted(f[k] for k in f if k.startswith("curve · panel-q") and k.endswith("· quality"))
    if not qualities:
        pytest.skip("no saved curve with the dial on this preset (benchmarks/interest_curve.py)")
    keys = [f"curve · panel-q{round(100 * q):03d}" for q in qualities]
    precision = [f[f"{k} · precision"] for k in keys]
    recall = [f[f"{k} · recall"] for k in keys]
    assert precision == sorted(precision) and recall == sorted(recall)  # both rise along the dial
    # the quality-1 panel is read as right less often than the oracle: the scorer's limit
    assert precision[-1] < f["curve · oracle · precision"] == 1.0
    assert precision[0] < f["mining · panel · precision"] < precision[-1]
