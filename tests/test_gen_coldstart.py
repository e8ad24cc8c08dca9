"""Cold-start retrieval: unseen items slotted after the beam whose code prefix they share."""
import numpy as np
import pytest

from digr_utils.gen.coldstart import (ColdStartRecommender, choose_share, pick_share, prefix_depth,
                                     slot_unseen, sweep)
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


def test_the_recommender_slots_unseen_items_into_its_own_ranking(base):
    history = [np.array([0, 1])]
    top = ColdStartRecommender(base, UNSEEN, 0.5, reach=2).recommend(history, 4)
    ranked = base.recommend(history, 20)
    np.testing.assert_array_equal(top, slot_unseen(ranked, CODES[:, :-1], UNSEEN, 0.5, 4, reach=2))


def test_bad_arguments_are_named(base):
    with pytest.raises(ValueError, match="one flag per item"):
        ColdStartRecommender(base, UNSEEN[:3], 0.1)
    with pytest.raises(ValueError, match="share=1.5"):
        ColdStartRecommender(base, UNSEEN, 1.5)


def test_pick_share_keeps_the_warm_cost_within_the_tolerance():
    scores = {0.0: 0.20, 0.1: 0.195, 0.2: 0.185, 0.3: 0.15}
    assert pick_share(scores, tolerance=0.05) == 0.1  # 0.185 < 0.95 x 0.20 = 0.19
    assert pick_share(scores, tolerance=0.0) == 0.0
    assert pick_share(scores, tolerance=0.3) == 0.3  # 0.15 >= 0.7 x 0.20 = 0.14
    assert pick_share({0.0: 0.0, 0.5: 0.0}) == 0.5  # nothing to lose: the largest share


def test_slot_unseen_drops_unseen_beams_and_pads():
    prefix = CODES[:, :-1]
    # the model ranked unseen item 5 second: it is dropped, and share 0 leaves the warm order
    ranked = np.array([[2, 5, 0, -1]])
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.0, 4), [[2, 0, -1, -1]])
    # reach 1: only item 2's prefix counts; item 5 shares its first level, item 4 shares nothing
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.5, 4), [[2, 0, 5, -1]])
    # reach 2: item 4 shares two levels with item 0, item 5 one with item 2: deepest first, last
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.5, 4, reach=2), [[2, 0, 4, 5]])


def test_the_share_caps_the_slots_and_the_warm_head_is_kept():
    prefix, ranked = CODES[:, :-1], np.array([[0, 1, 2, 3]])
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.25, 4, reach=4), [[0, 1, 2, 4]])
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.5, 4, reach=4), [[0, 1, 4, 5]])
    # deeper matches only: item 5 shares one level, so min_depth 2 leaves its slot to item 3
    np.testing.assert_array_equal(slot_unseen(ranked, prefix, UNSEEN, 0.5, 4, reach=4, min_depth=2),
                                  [[0, 1, 2, 4]])


def test_sweep_scores_every_share_from_one_list():
    prefix = CODES[:, :-1]
    valid = np.array([[0, 1, 2, 3], [2, 3, 0, 1]])
    test = np.array([[0, 1, 2, 3], [2, 3, 0, 1]])
    # user 0's target is warm item 3 (rank 4); user 1's is new item 5, under item 2's level-1 code;
    # slots take the last places, so the validation targets (rank 1) never move
    chosen, table = sweep(valid, np.array([0, 2]), test, np.array([3, 5]), np.array([False, True]),
                          prefix, UNSEEN, shares=(0.0, 0.25, 0.5), tolerance=0.05, k=4)
    # user 1's top beam is item 2: one slot is enough for item 5, which shares its first level
    assert table["test new HR@4"].tolist() == [0.0, 1.0, 1.0]
    # validation targets sit at rank 1 under every share, so every share is free: the largest wins
    assert chosen == 0.5 and table["chosen"].tolist() == [False, False, True]
    # with a slot, user 0's list is 0, 1, 2, 4 (item 4 under item 0's prefix): item 3 falls out
    assert table["test warm HR@4"].tolist() == [1.0, 0.0, 0.0]


def test_choose_share_ranks_validation_once(base, monkeypatch):
    calls = []
    real = base.recommend
    monkeypatch.setattr(base, "recommend", lambda h, k: calls.append(k) or real(h, k))

    class Split:
        train_counts = np.array([3, 1, 2, 1, 0, 0])
        valid_history = [np.array([0, 1]), np.array([2])]
        valid_target = np.array([0, 3])

    share, scores = choose_share(base, Split(), shares=(0.0, 0.1, 0.2))
    assert len(calls) == 1 and set(scores) == {0.0, 0.1, 0.2} and share in scores


def test_the_rule_reads_what_a_slot_costs_warm_users_in_hr():
    prefix = CODES[:, :-1]
    lists = np.array([[0, 1, 2, 3], [2, 3, 0, 1]])
    # validation targets last in their lists: a slot pushes both out, NDCG@4 would barely notice
    chosen, table = sweep(lists, np.array([3, 1]), lists, np.array([3, 5]), np.array([False, True]),
                          prefix, UNSEEN, shares=(0.0, 0.25), tolerance=0.05, k=4)
    assert table["valid HR@4"].tolist() == [1.0, 0.0] and chosen == 0.0
