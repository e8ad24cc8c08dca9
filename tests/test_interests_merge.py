"""Merging LLMs: hand-made answers with chosen vectors, so every group is worked out by hand."""
import math

import numpy as np
import pytest

from digr_utils.interests.merge import (
    MergedInterest,
    contribution,
    merge_interests,
    normalise,
    to_mined,
)
from digr_utils.interests.types import Interest, Mined

MARATHON, RACE = "training for a marathon", "preparing for a long distance race"
GIFT, CAMPING = "gift for new parents", "camping trips"
# cos(MARATHON, RACE) = 0.8; every other pair 0.6 (GIFT-RACE) or 0
VECTORS = {MARATHON: [1, 0, 0], RACE: [0.8, 0.6, 0], GIFT: [0, 1, 0], CAMPING: [0, 0, 1]}


def fake_embed(texts):
    return np.array([VECTORS[t] for t in texts], dtype=np.float32)


def _answer(entity, *interests, llm="x"):
    return Mined(entity=entity, backend="test", model=llm,
                 interests=[Interest(t, c) for t, c in interests])


def _panel():
    return {
        "a": [_answer("i0", ("Training for a marathon!", 0.8), (GIFT, 0.6)),
              _answer("i1")],
        "b": [_answer("i0", ("preparing for a long-distance race", 0.5), (MARATHON, None)),
              _answer("i1")],
        "c": [_answer("i0", (CAMPING, 0.9)),
              _answer("i1", (CAMPING, None))],
    }


def test_normalise_drops_case_punctuation_and_spaces():
    assert normalise("  Training for a   MARATHON! ") == MARATHON
    assert normalise("long-distance") == "long distance"


def test_paraphrases_group_with_support_and_noisy_or_confidence():
    item0, item1 = merge_interests(_panel(), threshold=0.75, embed_fn=fake_embed)
    assert item0 == [
        # a's best is 0.8, b's is 0.5 (its missing confidence counts 0.5): 1 - 0.2 * 0.5
        MergedInterest("Training for a marathon!", 0.9, 2, ("a", "b"),
                       ("Training for a marathon!", "preparing for a long-distance race",
                        MARATHON)),
        MergedInterest(CAMPING, 0.9, 1, ("c",), (CAMPING,)),
        MergedInterest(GIFT, 0.6, 1, ("a",), (GIFT,)),
    ]
    assert item1 == [MergedInterest(CAMPING, 0.5, 1, ("c",), (CAMPING,))]


def test_a_higher_threshold_splits_the_paraphrase_off():
    item0 = merge_interests(_panel(), threshold=0.85, embed_fn=fake_embed)[0]
    supports = {g.text: (g.support, g.confidence) for g in item0}
    # b still agrees through its exact "training for a marathon" (confidence 0.5)
    assert supports["Training for a marathon!"] == (2, 0.9)
    assert supports["preparing for a long-distance race"] == (1, 0.5)


def test_groups_are_connected_components():
    # A-B and B-C are at cos 0.866, A-C only at 0.5: B links them into one group
    angle = {"a": 0.0, "b": math.pi / 6, "c": math.pi / 3}
    embed = lambda ts: np.array([[math.cos(angle[t]), math.sin(angle[t])] for t in ts])
    panel = {llm: [_answer("i0", (llm, 0.5))] for llm in "abc"}
    [item] = merge_interests(panel, threshold=0.8, embed_fn=embed)
    assert len(item) == 1 and item[0].support == 3
    assert item[0].confidence == pytest.approx(1 - 0.5 ** 3)


def test_confidence_tie_goes_to_the_wording_most_llms_used():
    panel = {"a": [_answer("i0", (GIFT, 0.7))], "b": [_answer("i0", ("Gift for new parents", 0.7))],
             "c": [_answer("i0", ("a gift for new parents", 0.7))]}
    embed = lambda ts: np.ones((len(ts), 2))
    [[group]] = merge_interests(panel, embed_fn=embed)
    # a and b share the key "gift for new parents"; c's wording is alone
    assert group.text == "Gift for new parents"  # same key, same confidence: alphabetical
    assert group.confidence == pytest.approx(1 - 0.3 ** 3)


def test_contribution_counts_unique_finds_and_their_precision():
    panel = _panel()
    merged = merge_interests(panel, threshold=0.75, embed_fn=fake_embed)
    keys = {MARATHON: "marathon", CAMPING: "camping", GIFT: "new_parent"}
    table = contribution(panel, merged, truth=[{"marathon"}, {"camping"}],
                         truth_fn=lambda t: keys.get(normalise(t)))
    assert table.loc["a", ["interests", "supports", "unique"]].tolist() == [2, 2, 1]
    assert table.loc["a", "precision"] == 0.5  # marathon right, gift wrong
    assert table.loc["a", "unique_precision"] == 0.0
    assert table.loc["b", ["supports", "unique", "precision"]].tolist() == [1, 0, 1.0]
    assert np.isnan(table.loc["b", "unique_precision"])
    # c: camping on i0 (wrong) and on i1 (right), both found by c alone
    assert table.loc["c", ["supports", "unique", "unique_share", "unique_precision"]].tolist() == [
        2, 2, 1.0, 0.5]


def test_to_mined_keeps_groups_with_enough_support():
    merged = merge_interests(_panel(), threshold=0.75, embed_fn=fake_embed)
    answers = to_mined(merged, ["i0", "i1"], min_support=2)
    assert [[i.text for i in a.interests] for a in answers] == [["Training for a marathon!"], []]


def test_misaligned_lists_name_the_item_and_the_fix():
    panel = _panel()
    panel["c"] = panel["c"][::-1]
    with pytest.raises(ValueError, match=r"item 0 is 'i1' for 'c' but 'i0' for 'a'"):
        merge_interests(panel, embed_fn=fake_embed)
    panel["c"] = panel["c"][:1]
    with pytest.raises(ValueError, match="one answer per item"):
        merge_interests(panel, embed_fn=fake_embed)


def test_minilm_merges_race_and_marathon_but_not_the_gift():
    """MiniLM cosines: race-marathon 0.60, race-gift 0.05, marathon-gift 0.01."""
    panel = {"a": [_answer("i0", ("preparing for a long-distance race", 0.7))],
             "b": [_answer("i0", ("training for a marathon", 0.6), ("a gift for new parents", 0.6))]}
    [item] = merge_interests(panel)
    assert [(g.support, len(g.members)) for g in item] == [(2, 2), (1, 1)]
    assert item[1].text == "a gift for new parents"
