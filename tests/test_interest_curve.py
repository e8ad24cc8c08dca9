"""The quality curve's bookkeeping: which points each seed trains, and where the curve is saved."""
import pandas as pd

from digr_utils.interests import curve


def _fake_points(monkeypatch, trained):
    def point(preset, source, seed=0):
        trained.append((source.label, seed))
        return {"source": source.label, "description": source.description,
                "quality": source.quality, "kind": curve._kind(source), "seed": seed,
                "precision": 0.5, "recall": 0.5, "NDCG@10": 0.1, "HR@10": 0.2, "warm HR@10": 0.3}

    def sasrec_point(preset, seed=0):
        trained.append(("sasrec", seed))
        return {"source": "sasrec", "description": "SASRec", "quality": None, "kind": "line",
                "seed": seed, "precision": float("nan"), "recall": float("nan"),
                "NDCG@10": 0.12, "HR@10": 0.25, "warm HR@10": 0.33}

    monkeypatch.setattr(curve, "point", point)
    monkeypatch.setattr(curve, "sasrec_point", sasrec_point)


def test_dial_seeds_limit_the_dial_and_keep_the_points_that_matter_on_every_seed(monkeypatch):
    trained = []
    _fake_points(monkeypatch, trained)
    frame = curve.interest_curve("ci", seeds=(0, 1), qualities=(0.0, 1.0), save=False,
                                 dial_seeds=(0,))
    dial = {s for s, seed in trained if s.startswith("panel-q")}
    assert dial == {"panel-q000", "panel-q100"}
    assert all(seed == 0 for s, seed in trained if s.startswith("panel-q"))
    for source in ("panel", "smollm2", "taxonomy", "none", "oracle", "sasrec"):
        assert {seed for s, seed in trained if s == source} == {0, 1}
    stats = curve.summarise(frame)
    assert stats.loc["panel-q000", "seeds"] == 1 and stats.loc["smollm2", "seeds"] == 2
    assert pd.isna(stats.loc["panel-q000", "NDCG@10 std"])


def test_a_curve_with_the_dial_on_fewer_seeds_is_saved_apart():
    full = curve.curve_path("ci", (0, 1, 2))
    assert curve.curve_path("ci", (0, 1, 2), dial_seeds=(0, 1, 2)) == full
    partial = curve.curve_path("ci", (0, 1, 2), dial_seeds=(0,))
    assert partial != full and partial.name.endswith("seeds0-1-2-dial0.csv")


def test_summarise_over_chosen_seeds_sets_a_line_beside_points_with_fewer_seeds():
    frame = pd.DataFrame({"source": ["none", "none", "panel-q100"], "description": "d",
                          "quality": [None, None, 1.0], "kind": ["line", "line", "dial"],
                          "seed": [0, 1, 0], "precision": float("nan"), "recall": float("nan"),
                          "NDCG@10": [0.10, 0.06, 0.09], "warm HR@10": 0.3})
    assert curve.summarise(frame).loc["none", "NDCG@10"] == 0.08
    on_dial_seed = curve.summarise(frame, seeds=[0])
    assert on_dial_seed.loc["none", "NDCG@10"] == 0.10 and on_dial_seed.loc["none", "seeds"] == 1
