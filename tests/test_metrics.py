"""HR@K, NDCG@K, evaluate(), coverage and diversity on lists small enough to score by hand."""
import math

import numpy as np
import pytest

from digr_utils.data.dataset import Split
from digr_utils.metrics import (
    coverage,
    evaluate,
    hit_rate,
    intra_list_diversity,
    ndcg,
    paired_test,
    per_user_ndcg,
    ranking_metrics,
)

# Four users; the target sits at rank 1, rank 3, nowhere, and rank 5.
TOPK = np.array([
    [7, 1, 2, 3, 4],
    [1, 2, 7, 3, 4],
    [1, 2, 3, 4, 6],
    [9, 8, 7, 6, 5],
])
TARGETS = np.array([7, 7, 7, 5])


def test_hit_rate_by_hand():
    assert hit_rate(TOPK, TARGETS, 1) == pytest.approx(1 / 4)
    assert hit_rate(TOPK, TARGETS, 3) == pytest.approx(2 / 4)
    assert hit_rate(TOPK, TARGETS, 5) == pytest.approx(3 / 4)


def test_ndcg_by_hand():
    # gains: rank 1 -> 1, rank 3 -> 1/log2(4) = 0.5, missing -> 0, rank 5 -> 1/log2(6)
    assert ndcg(TOPK, TARGETS, 1) == pytest.approx(1 / 4)
    assert ndcg(TOPK, TARGETS, 3) == pytest.approx((1 + 0.5) / 4)
    assert ndcg(TOPK, TARGETS, 5) == pytest.approx((1 + 0.5 + 0 + 1 / math.log2(6)) / 4)


def test_ranking_metrics_keys_and_values():
    out = ranking_metrics(TOPK, TARGETS, ks=(3, 5))
    assert out == pytest.approx(
        {"HR@3": 0.5, "NDCG@3": 0.375, "HR@5": 0.75, "NDCG@5": (1.5 + 1 / math.log2(6)) / 4}
    )


def test_no_users_scores_zero():
    empty = np.zeros((0, 5), dtype=int)
    assert hit_rate(empty, np.array([], dtype=int), 5) == 0.0
    assert ndcg(empty, np.array([], dtype=int), 5) == 0.0


def test_too_short_lists_are_an_error():
    with pytest.raises(ValueError, match="only 5 recommendations"):
        hit_rate(TOPK, TARGETS, 10)
    with pytest.raises(ValueError, match="n_users=3"):
        ndcg(TOPK, TARGETS[:3], 5)


class _FixedLists:
    """A fake Recommender returning preset lists, recording what it was asked."""

    def __init__(self, lists):
        self.lists = np.array(lists)
        self.calls = []

    def recommend(self, histories, k):
        self.calls.append(([list(h) for h in histories], k))
        return self.lists[:, :k]


def _split() -> Split:
    # Items 0..5. Training holds 0, 1, 2, 3; items 4 and 5 never occur there (new arrivals).
    return Split(
        train=[np.array([0, 1, 3]), np.array([1, 2]), np.array([0, 2, 3])],
        valid_history=[np.array([0, 1, 3]), np.array([1, 2]), np.array([0, 2, 3])],
        valid_target=np.array([2, 0, 1]),
        test_history=[np.array([0, 1, 3, 2]), np.array([1, 2, 0]), np.array([0, 2, 3, 1])],
        test_target=np.array([3, 5, 1]),  # user 1's target is the one new arrival
        n_items=6,
        max_history=20,
    )


def test_evaluate_splits_warm_and_new_targets():
    # user 0: target 3 at rank 1; user 1 (new): target 5 at rank 2; user 2: target 1 missing.
    model = _FixedLists([[3, 0, 1], [0, 5, 1], [2, 0, 3]])
    out = evaluate(model, _split(), ks=(1, 2))
    assert model.calls == [([[0, 1, 3, 2], [1, 2, 0], [0, 2, 3, 1]], 2)]
    assert out["n_users"] == 3 and out["n_new"] == 1
    g2 = 1 / math.log2(3)
    assert out["all"] == pytest.approx(
        {"HR@1": 1 / 3, "NDCG@1": 1 / 3, "HR@2": 2 / 3, "NDCG@2": (1 + g2) / 3}
    )
    assert out["warm"] == pytest.approx({"HR@1": 0.5, "NDCG@1": 0.5, "HR@2": 0.5, "NDCG@2": 0.5})
    assert out["new"] == pytest.approx({"HR@1": 0.0, "NDCG@1": 0.0, "HR@2": 1.0, "NDCG@2": g2})


def test_evaluate_on_validation_part():
    # valid targets 2, 0, 1 are all warm; the lists hit users 0 and 1 at rank 1.
    model = _FixedLists([[2, 5], [0, 1], [3, 4]])
    out = evaluate(model, _split(), which="valid", ks=(1,))
    assert model.calls[0][0] == [[0, 1, 3], [1, 2], [0, 2, 3]]
    assert out["n_new"] == 0
    assert out["all"]["HR@1"] == pytest.approx(2 / 3)
    assert out["new"] == {"HR@1": 0.0, "NDCG@1": 0.0}


def test_coverage():
    assert coverage(np.array([[0, 1], [1, 2]]), n_items=5) == pytest.approx(3 / 5)


def test_intra_list_diversity_orthogonal_identical_and_between():
    assert intra_list_diversity(np.array([[0, 1, 2]]), np.eye(3)) == pytest.approx(1.0)
    same_direction = np.array([[2.0, 0.0], [5.0, 0.0]])  # lengths differ, cosine is 1
    assert intra_list_diversity(np.array([[0, 1]]), same_direction) == pytest.approx(0.0)
    # one list at 45 degrees (distance 1 - 1/sqrt 2), one of orthogonal items (distance 1)
    vecs = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    got = intra_list_diversity(np.array([[0, 1], [0, 2]]), vecs)
    assert got == pytest.approx(((1 - 1 / math.sqrt(2)) + 1) / 2)


def test_intra_list_diversity_needs_two_items():
    with pytest.raises(ValueError, match="at least 2"):
        intra_list_diversity(np.array([[0], [1]]), np.eye(2))


def test_a_list_repeating_an_item_is_refused_with_its_row_and_item():
    # the target twice in one list made NDCG@2 = 1 + 1/log2(3) = 1.63
    with pytest.raises(ValueError, match=r"ranked list 1 holds item 7 more than once \(at positions \[0, 1\]\)"):
        ndcg(np.array([[7, 1], [7, 7]]), np.array([7, 7]), 2)
    with pytest.raises(ValueError, match="ranked list 0 holds item 4"):
        ranking_metrics(np.array([[4, 2, 4]]), np.array([2]), ks=(1,))


def test_padding_may_repeat():
    assert hit_rate(np.array([[3, -1, -1]]), np.array([3]), 3) == 1.0


def test_evaluate_names_the_users_row_not_the_subsets():
    # user 2 (row 2) is the second warm user; its row, not "row 1 of the warm part", is named
    model = _FixedLists([[3, 0, 1], [0, 5, 1], [2, 2, 3]])
    with pytest.raises(ValueError, match="ranked list 2 holds item 2"):
        evaluate(model, _split(), ks=(1, 2))


def test_per_user_ndcg_by_hand():
    topk = np.array([[3, 1, 2], [0, 1, 2], [2, 0, 1]])
    got = per_user_ndcg(topk, np.array([3, 2, 9]), k=3)
    np.testing.assert_allclose(got, [1.0, 1 / np.log2(4), 0.0])
    assert got.mean() == pytest.approx(ndcg(topk, np.array([3, 2, 9]), 3))


def test_paired_test_counts_wins_and_gives_the_sign_test():
    a = np.array([1.0, 0.5, 0.0, 0.2, 0.3])
    b = np.array([0.0, 0.5, 0.1, 0.0, 0.0])
    out = paired_test(a, b)
    assert (out["wins"], out["losses"]) == (3, 1)  # one tie dropped
    assert out["sign p"] == pytest.approx(0.625)  # P(3 or more of 4 heads, two-sided) = 10/16
    assert out["mean difference"] == pytest.approx(0.28)  # (1 + 0 - 0.1 + 0.2 + 0.3) / 5
    assert paired_test(a, a)["wilcoxon p"] == 1.0
    with pytest.raises(ValueError, match="one value per user"):
        paired_test(a, b[:3])
