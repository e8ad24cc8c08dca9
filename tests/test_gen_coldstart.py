"""Cold-start retrieval: unseen items slotted after the beam whose code prefix they share."""
import numpy as np
import pytest

from digr_utils.gen.coldstart import ColdStartRecommender, choose_share, prefix_depth
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.recommender import GenerativeRecommender
from digr_utils.gen.vocab import SidVocab


def test_prefix_depth_counts_leading_equal_levels():
    a = np.array([[1, 2, 3], [1, 5, 3]])
    b = np.array([[1, 2, 9], [7, 2, 3], [1, 5, 3]])
    np.testing.assert_array_equal(prefix_depth(a, b), [[2, 0, 1], [1, 0, 3]])


# six items, codes (level 1, level 2, suffix); items 4 and 5 are never seen in training.
# item 4 shares both levels with item 0; item 5 shares level 1 with items 2 and 3.
CODES = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 2, 0]])
UNSEEN = np.array([False, False, False, False, True, True])


@pytest.fixture(scope="module")
def base():
    vocab = SidVocab.build(CODES, (2, 3, 2))
    model = build_model(ModelConfig(d_model=16, num_layers=1, num_decoder_layers=1,
                                    num_heads=2, d_ff=32), vocab, seed=0)
    return GenerativeRecommender(model, vocab, beams=20, device="cpu")


def test_share_zero_ranks_only_warm_items(base):
    top = ColdStartRecommender(base, UNSEEN, 0.0).recommend([np.array([0, 1])], 4)
    assert sorted(top[0].tolist()) == [0, 1, 2, 3]


def test_unseen_items_follow_the_beam_they_share_a_prefix_with(base):
    cold = ColdStartRecommender(base, UNSEEN, 0.5)
    warm = ColdStartRecommender(base, UNSEEN, 0.0).recommend([np.array([0, 1])], 4)[0].tolist()
    top = cold.recommend([np.array([0, 1])], 6)[0].tolist()
    # item 4 shares two levels with item 0: it comes right after item 0. Item 5 shares one
    # level with items 2 and 3: it comes right after whichever of them the beams rank first.
    assert top.index(4) == top.index(0) + 1
    first_of_23 = min(warm.index(2), warm.index(3))
    assert top.index(5) == top.index(warm[first_of_23]) + 1
    assert [i for i in top if i < 4] == warm  # the warm order is kept


def test_the_share_caps_how_many_unseen_items_enter(base):
    top = ColdStartRecommender(base, UNSEEN, 0.25).recommend([np.array([2])], 4)[0].tolist()
    assert sum(i in (4, 5) for i in top) == 1 and len(set(top)) == 4
    # the deeper match wins the one slot: item 4 (two levels with item 0)
    assert 4 in top


def test_bad_arguments_are_named(base):
    with pytest.raises(ValueError, match="one flag per item"):
        ColdStartRecommender(base, UNSEEN[:3], 0.1)
    with pytest.raises(ValueError, match="share=1.5"):
        ColdStartRecommender(base, UNSEEN, 1.5)


def test_choose_share_keeps_the_warm_cost_within_the_tolerance(base, monkeypatch):
    from digr_utils.gen import coldstart

    fake = {0.0: 0.20, 0.1: 0.195, 0.2: 0.185, 0.3: 0.15}
    monkeypatch.setattr(coldstart, "ColdStartRecommender", lambda b, u, s: s)
    monkeypatch.setattr("digr_utils.metrics.evaluate",
                        lambda share, split, which: {"all": {"NDCG@10": fake[share]}})

    class Split:
        train_counts = np.array([3, 1, 0])

    share, scores = choose_share(base, Split(), shares=tuple(fake), tolerance=0.05)
    assert share == 0.1 and scores == fake  # 0.185 < 0.95 x 0.20 = 0.19
