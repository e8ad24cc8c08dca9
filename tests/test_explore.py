"""Explanations and beyond-accuracy figures on tiny hand-made data, against hand-worked values."""
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from digr_utils import explore
from digr_utils.explore import InterestLinks, Model

# interest statements as 3-d vectors: "trail walks" is 0.8 "hiking", "desk" 0.6 "trail walks"
VECTORS = {"hiking": [1, 0, 0], "trail walks": [0.8, 0.6, 0], "gaming": [0, 0, 1], "desk": [0, 1, 0]}
MOTIVE_OF = {"hiking": "hike", "trail walks": "hike", "gaming": "game"}  # "desk" names none
KEPT = [["hiking"], ["trail walks"], ["gaming"], [], ["desk", "gaming"]]
# items 0, 2 and 4 share the prefix (1, 2); item 1 shares only (1,); item 3 nothing; suffix last
CODES = np.array([[1, 2, 0], [1, 3, 0], [1, 2, 1], [4, 5, 0], [1, 2, 2]])


def embed(texts):
    return np.array([VECTORS[t] for t in texts], dtype=float)


def match(texts):
    return [MOTIVE_OF.get(t) for t in texts]


@pytest.fixture
def links():
    return InterestLinks(KEPT, embed)


def test_links_compare_items_by_their_closest_interests(links):
    assert links.similarity[0, 1] == pytest.approx(0.8)
    assert links.similarity[1, 4] == pytest.approx(0.6)  # "desk" is the closer of item 4's two
    assert links.similarity[2, 4] == pytest.approx(1.0)
    assert links.similarity[0, 2] == pytest.approx(0.0)
    assert links.similarity[3, 0] == -np.inf  # item 3 has no interest
    assert links.pair(1, 4) == ("trail walks", "desk", pytest.approx(0.6))
    assert links.pair(0, 2) is None  # below the threshold of 0.5


def test_explain_prefers_a_shared_interest_then_the_longer_prefix(links):
    # item 4 shares 2 levels with items 0 and 2, but an interest only with item 2
    e = explore.explain([0, 2, 3], 4, CODES, links)
    assert (e.anchor, e.shared_levels, e.interest, e.anchor_interest) == (2, 2, "gaming", "gaming")
    # item 1 shares one level with 0 and 2 and an interest ("trail walks" ~ "hiking") with 0
    e = explore.explain([0, 2, 3], 1, CODES, links)
    assert (e.anchor, e.shared_levels, e.interest, e.anchor_interest) == (0, 1, "trail walks", "hiking")
    assert e.similarity == pytest.approx(0.8)


def test_explain_breaks_ties_by_recency_and_ignores_the_suffix(links):
    e = explore.explain([0, 2], 3, CODES, links)  # item 3 shares nothing with anyone
    assert (e.anchor, e.shared_levels, e.interest) == (2, 0, None)
    # items 2 and 4 differ only in the suffix: 2 levels shared, not 3
    assert explore.explain([4], 2, CODES, links).shared_levels == 2
    assert explore.explain([4], 2, CODES, links, levels=3).shared_levels == 2
    assert explore.explain([], 2, CODES, links).anchor is None


def test_an_item_bought_before_does_not_explain_itself(links):
    assert explore.explain([2, 4], 4, CODES, links).anchor == 2
    assert explore.explain([4], 4, CODES, links).anchor is None


def test_explain_lists_one_row_per_real_recommendation(links):
    table = explore.explain_lists([np.array([0, 2, 3]), np.array([0])], np.array([[4, 1], [2, -1]]),
                                  CODES, links)
    assert table[["user", "rank", "item", "anchor"]].values.tolist() == [[0, 1, 4, 2], [0, 2, 1, 0],
                                                                         [1, 1, 2, 0]]


def test_user_motives_come_from_training_items():
    counts = explore.training_motive_counts([np.array([0, 1, 2]), np.array([3])], ITEM_MOTIVES)
    assert counts[0] == Counter({"hike": 2, "gym": 1, "game": 1})
    assert explore.user_motives(counts) == [{"hike"}, set()]
    assert explore.user_motives(counts, min_count=1) == [{"hike", "gym", "game"}, {"game"}]


ITEM_MOTIVES = [("hike",), ("hike", "gym"), ("game",), ("game",)]


def judged():
    rows = pd.DataFrame({"user": [0, 0, 0, 0, 1, 1, 1], "item": [1, 2, 3, 0, 1, 0, 2],
                         "anchor": [0, 3, 2, np.nan, 2, 1, 0],
                         "interest": ["trail walks", "gaming", "desk", None, "gaming", "hiking",
                                      "gaming"]})
    counts = [Counter({"hike": 2, "gym": 1, "game": 1}), Counter({"game": 1})]
    return explore.judge(rows, match, counts, ITEM_MOTIVES)


def test_judge_names_why_an_explanation_is_wrong():
    table = judged()
    assert table["reason"].tolist() == ["right", "one-off in the user's training items",
                                        "names no motive", "no shared interest",
                                        "wrong for the item", "never in the user's training items",
                                        "wrong for the history item"]  # item 0 has no "game"
    assert table["hit"].tolist()[:3] == [1.0, 0.0, 0.0] and np.isnan(table["hit"][3])
    named = [m if isinstance(m, str) else None for m in table["motive"]]
    assert named == ["hike", "game", None, None, "game", "hike", "game"]


def test_per_user_hit_rate_counts_only_explained_recommendations():
    per_user = explore.per_user_hit_rate(judged())
    assert per_user["hit_rate"].tolist() == pytest.approx([1 / 3, 0.0])
    assert per_user["explained"].tolist() == pytest.approx([0.75, 1.0])


def test_bootstrap_mean_drops_nan_and_brackets_the_mean():
    assert explore.bootstrap_mean([1.0, 1.0, np.nan]) == (1.0, 1.0, 1.0)
    mean, lo, hi = explore.bootstrap_mean([0.0, 1.0, 0.0, 1.0], n_boot=500, seed=3)
    assert mean == 0.5 and 0.0 <= lo < 0.5 < hi <= 1.0
    assert np.isnan(explore.bootstrap_mean([np.nan])[0])


def test_gini_of_recommendation_counts():
    assert explore.gini([1, 1, 1, 1]) == pytest.approx(0.0)
    assert explore.gini([0, 0, 0, 4]) == pytest.approx(0.75)  # 2*16/(4*4) - 5/4
    assert explore.gini([3, 1]) == pytest.approx(0.25)  # 2*(1*1 + 2*3)/(2*4) - 3/2
    assert explore.recommendation_counts(np.array([[0, 2], [2, -1]]), 4).tolist() == [1, 0, 2, 0]


def test_head_share_and_novelty():
    train_counts = np.array([5, 1, 3, 0, 3])
    assert explore.head_items(train_counts, 0.4).tolist() == [True, False, True, False, False]
    assert explore.head_share(np.array([[0, 1], [2, 3]]), train_counts, 0.4) == 0.5
    # p = (c + 1) / (4 + 4) = 1/2, 1/4, 1/8, 1/8: 1, 2, 3, 3 bits
    assert explore.novelty(np.array([[0, 1], [2, -1]]), np.array([3, 1, 0, 0])) == pytest.approx(2.0)


def test_coverage_and_narrowness_of_lists():
    labels = [("a",), ("b", "c"), ("a",), ("d",)]
    topk = np.array([[0, 1], [0, 2]])
    assert explore.label_coverage(topk, labels, 4) == 0.75
    assert explore.labels_per_list(topk, labels) == 2.0  # {a, b, c} and {a}
    assert explore.on_motive_share(np.array([[0, 1], [3, 2]]), [{"a"}, {"d"}], labels) == 0.5


def test_beyond_accuracy_for_one_model():
    topk = np.array([[0, 1], [0, 1]])
    surface = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    figures = explore.beyond_accuracy(topk, np.array([2, 1, 0]), surface, ["x", "y", "y"],
                                      [("a",), ("a",), ("b",)], [{"a"}, {"b"}], 2)
    assert figures["ILD (surface text)"] == pytest.approx(1.0)  # orthogonal items
    assert figures["item coverage"] == pytest.approx(2 / 3)
    assert figures["category coverage"] == 1.0 and figures["categories per list"] == 2.0
    assert figures["Gini"] == pytest.approx(1 / 3)  # counts 0, 2, 2
    assert figures["motive coverage"] == 0.5 and figures["on-motive share"] == 0.5


class Fixed:
    """A recommender that always returns the same list."""

    def __init__(self, items):
        self.items = np.array(items)

    def recommend(self, histories, k):
        return np.tile(self.items[:k], (len(histories), 1))


def test_hit_rates_explain_baselines_with_the_deep_ids_of_each_source(links):
    from digr_utils.interests.stage import InterestSource
    from digr_utils.sid import SemanticIds

    ids = SemanticIds(CODES, [f"I{i}" for i in range(5)], (5, 6, 3))
    models = {"popular": Model("popular", Fixed([1, 4]), None, "none"),
              "deep": Model("deep", Fixed([4, 1]), ids, "oracle")}
    assert explore.explaining_ids(models["popular"], models, "oracle") is ids
    interests = {"oracle": explore.Interests(InterestSource("oracle"), KEPT, links)}
    histories = [np.array([0, 2])]
    lists = explore.top_lists(models, histories, 2)
    counts = [Counter({"hike": 2, "game": 2})]
    table = explore.hit_rates(models, lists, histories, np.array([0]), interests, match, counts,
                              [("hike",), ("hike",), ("game",), ("x",), ("game",)])
    assert table.groupby("model")["hit"].mean().to_dict() == {"deep": 1.0, "popular": 1.0}
    summary = explore.hit_rate_summary(table, n_boot=10)
    assert summary["interests"].unique().tolist() == ["oracle: true motive names (cheating upper bound)"]
    assert summary["explained share"].tolist() == [1.0, 1.0]


def test_finished_grpo_names_each_finished_run_of_that_sft_by_its_reward(tmp_path, monkeypatch):
    from digr_utils.runs import open_run

    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path))
    aware = {"kind": "interest-aware", "gated": True}

    def run(sft, reward, finished=True):
        made = open_run("shop", "grpo", {"sft": sft, "reward": reward}, "g")
        if finished:
            made.save_metrics({})
        return made.folder

    with_bonus = run("abc", {**aware, "quality_bonus": 0.5})
    ungated = run("abc", {**aware, "quality_bonus": 0.5, "gated": False})
    rule = run("abc", {"kind": "rule", "gated": True, "quality_bonus": 0.5})
    run("abc", {**aware, "quality_bonus": 0.0}, finished=False)
    run("xyz", {**aware, "quality_bonus": 0.0})  # another SFT model
    assert explore.finished_grpo("shop", "abc") == {"GRPO α=0.5": with_bonus,
                                                    "GRPO α=0.5 ungated": ungated,
                                                    "GRPO rule": rule}
    assert explore.grpo_name({**aware, "quality_bonus": 0.0, "gated": False}) == "GRPO α=0"

    # load_models(grpo=...) keeps only the named runs: each one kept costs a beam search per user
    import types

    import digr_utils.gen.stage as gen_stage
    monkeypatch.setattr(gen_stage, "load_recommender", lambda folder, data: folder)
    data, sft = types.SimpleNamespace(key="shop"), types.SimpleNamespace(key="abc")
    assert explore._grpo(data, None, None, sft, 0, False, keep=("GRPO rule",)) == {"GRPO rule": rule}
    assert len(explore._grpo(data, None, None, sft, 0, False)) == 3


def test_code_path_counts_items_under_each_prefix():
    # item 0 = (1, 2, 0): four items start with 1, three with 1-2 (items 0, 2, 4), one is itself
    assert explore.code_path(CODES, 0) == [(1, 4), (2, 3), (0, 1)]
    assert explore.code_path(CODES, 3) == [(4, 1), (5, 1), (0, 1)]


def test_widest_interests_count_items_and_the_motives_they_span():
    kept = [["a quality product", "hiking"], ["a quality product"], ["hiking", "hiking"],
            ["a quality product"], ["gaming"]]
    motives = [("hike",), ("game",), ("hike", "gym"), ("x",), ("game",)]
    table = explore.widest_interests(kept, motives, top=2)
    # items 0, 1, 3 span hike, game, x (1 of 3 has each); items 0, 2 span hike, gym and both
    # have hike (a repeated statement counts once)
    assert table.values.tolist() == [["a quality product", 3, 3, pytest.approx(1 / 3)],
                                     ["hiking", 2, 2, 1.0]]
