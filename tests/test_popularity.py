"""Popularity on a split small enough to rank by hand."""
import numpy as np
import pytest

from digr_utils.baselines.popularity import Popularity
from digr_utils.data.dataset import Split
from digr_utils.metrics import evaluate


def _split() -> Split:
    # Training counts: item 0 -> 1, 1 -> 2, 2 -> 3, 3 -> 1, 4 -> 0 (a new arrival).
    train = [np.array([2, 1]), np.array([2, 0]), np.array([2, 1, 3])]
    return Split(
        train=train,
        valid_history=train,
        valid_target=np.array([0, 3, 1]),
        test_history=[np.array([2, 1, 0]), np.array([2, 0, 3]), np.array([2, 1, 3, 1])],
        test_target=np.array([1, 0, 4]),
        n_items=5,
        max_history=20,
    )


def test_ranking_by_count_ties_to_lower_id():
    model = Popularity().fit(_split())
    # 2 (3 times), 1 (twice), then 0 and 3 tie at once -> 0 first, then 4 (never seen).
    assert model.ranking.tolist() == [2, 1, 0, 3, 4]
    top = model.recommend([np.array([0]), np.array([1, 2])], k=3)
    assert top.tolist() == [[2, 1, 0], [2, 1, 0]]


def test_hit_rate_through_evaluate():
    out = evaluate(Popularity().fit(_split()), _split(), ks=(2, 3))
    # list [2, 1, 0]: user 0's target 1 at rank 2, user 1's target 0 at rank 3,
    # user 2's target 4 (the new arrival) missing
    assert out["all"]["HR@2"] == pytest.approx(1 / 3)
    assert out["all"]["HR@3"] == pytest.approx(2 / 3)
    assert out["n_new"] == 1 and out["new"]["HR@3"] == 0.0
    assert out["warm"]["HR@2"] == pytest.approx(1 / 2)


def test_errors():
    with pytest.raises(RuntimeError, match="fit"):
        Popularity().recommend([np.array([0])], k=1)
    with pytest.raises(ValueError, match="5 items"):
        Popularity().fit(_split()).recommend([np.array([0])], k=6)
