"""The simulated annotator panel: deterministic, rates as set, its own wordings, plausible
errors, and users read from their training items only."""
import copy
import json
from collections import Counter
from dataclasses import asdict, replace

import numpy as np
import pytest

from digr_utils.data.dataset import leave_one_out
from digr_utils.data.vocabulary import MOTIVES
from digr_utils.data.world import load_shop
from digr_utils.interests.mining import mine_simulated
from digr_utils.interests.scoring import user_truth
from digr_utils.interests.simulated import (ECHOES, FRAMES, PANEL_VERSION, PARAPHRASES,
                                            SimulatedAnnotator, default_panel, dial_panel,
                                            precision_recall,
                                            truth_for)
from digr_utils.interests.types import Interest, Mined


@pytest.fixture(scope="module")
def shop():
    return load_shop("ci")


@pytest.fixture(scope="module")
def train(shop):
    return leave_one_out(shop.dataset).train


def test_same_seed_same_answers_different_annotator_different_answers(shop, train):
    a = SimulatedAnnotator("sim-a", 0.7, 0.2, 0.2, seed=3)
    again = SimulatedAnnotator("sim-a", 0.7, 0.2, 0.2, seed=3)
    other = SimulatedAnnotator("sim-b", 0.7, 0.2, 0.2, seed=3)
    first = [a.mine_item(i, shop) for i in range(40)]
    assert [again.mine_item(i, shop) for i in reversed(range(40))][::-1] == first  # order-free
    assert [other.mine_item(i, shop) for i in range(40)] != first
    assert a.mine_user(7, shop, train[7]) == again.mine_user(7, shop, train[7])


def test_answer_is_labelled_simulated_and_raw_is_the_output_format(shop):
    mined = default_panel()[1].mine_item(0, shop)
    assert (mined.backend, mined.model) == ("simulated", "simulated-sim-eager")
    assert mined.entity == "I0000"
    assert "simulated" in mined.reasoning.lower() and "not an llm" in mined.reasoning.lower()
    raw = json.loads(mined.raw)
    assert raw["reasoning"] == mined.reasoning
    assert [(i["interest"], i["confidence"]) for i in raw["interests"]] == \
        [(i.text, i.confidence) for i in mined.interests]
    confidences = [i.confidence for i in mined.interests]
    assert confidences == sorted(confidences, reverse=True)


def test_default_panel_names_styles_and_version():
    panel = default_panel()
    assert len({a.name for a in panel}) == 3 and all("sim" in a.name for a in panel)
    assert [a.style for a in panel] == [0, 1, 2]
    # the version is in the settings the mining cache and the run recipe are keyed by
    assert all(asdict(a)["version"] == PANEL_VERSION == 2 for a in panel)


def test_rates_match_settings_on_ci_shop(shop):
    annotator = SimulatedAnnotator("sim-test", recall=0.8, hallucination_rate=0.3, echo_rate=0.2)
    truth = shop.motive_sets()
    mined = [annotator.mine_item(i, shop) for i in range(len(truth))]
    found = sum(len(t & {truth_for(x.text) for x in m.interests}) for m, t in zip(mined, truth))
    hallucinated = sum(any(truth_for(x.text) not in (None, *t) for x in m.interests)
                       for m, t in zip(mined, truth))
    echoed = sum(any(truth_for(x.text) is None for x in m.interests) for m in mined)
    n_true = sum(len(t) for t in truth)
    # 225 items: a binomial's standard deviation is at most 0.034, so 0.1 is about 3 of them
    assert found / n_true == pytest.approx(0.8, abs=0.1)
    assert hallucinated / len(mined) == pytest.approx(0.3, abs=0.1)
    assert echoed / len(mined) == pytest.approx(0.2, abs=0.1)


def test_confidences_are_noisy_and_overlap_between_right_and_wrong(shop):
    annotator = SimulatedAnnotator("sim-test", recall=0.8, hallucination_rate=0.5, echo_rate=0.5)
    truth = shop.motive_sets()
    pairs = [(x.confidence, truth_for(x.text) in t)
             for i, t in enumerate(truth) for x in annotator.mine_item(i, shop).interests]
    right = np.array([c for c, ok in pairs if ok])
    wrong = np.array([c for c, ok in pairs if not ok])
    assert right.mean() == pytest.approx(0.68, abs=0.03)  # the true base, noise 0.15
    assert wrong.mean() == pytest.approx((0.62 + 0.55) / 2, abs=0.03)  # hallucinations, echoes
    assert len(set(right)) > 20  # not a couple of fixed values
    # overlap: a fifth of the wrong statements are more confident than the median right one
    assert (wrong > np.median(right)).mean() > 0.2


def test_hallucinations_fit_the_product_type(shop):
    annotator = SimulatedAnnotator("sim-test", recall=0.0, hallucination_rate=1.0, echo_rate=0.0)
    types = shop.dataset.items["product_type"]
    keys = [truth_for(annotator.mine_item(i, shop).interests[0].text) for i in range(100)]
    fits = [types[i] in MOTIVES[k].types for i, k in enumerate(keys)]
    assert all(k not in shop.item_motives[i] for i, k in enumerate(keys))
    assert np.mean(fits) > 0.95  # only where no other motive fits the type may one not fit


def _echo_kind(text: str) -> str | None:
    """Which kind of ECHOES template wrote ``text`` (None: none did)."""
    for kind, templates in ECHOES.items():
        for t in templates:
            head, _, rest = t.partition("{")
            tail = rest.partition("}")[2]
            if (text == t) if not rest else text.startswith(head) and text.endswith(tail):
                return kind
    return None


def test_echoes_vary_in_what_they_restate(shop):
    annotator = SimulatedAnnotator("sim-test", recall=0.0, hallucination_rate=0.0, echo_rate=1.0)
    echoes = [annotator.mine_item(i, shop).interests[0].text for i in range(200)]
    assert set(Counter(map(_echo_kind, echoes))) == set(ECHOES)  # type, title, feature, brand, vague
    assert len(set(echoes)) > 100  # no single template
    assert all(truth_for(e) is None for e in echoes)
    items = shop.dataset.items
    assert all(items["brand"][i] in e for i, e in enumerate(echoes) if _echo_kind(e) == "brand")
    assert all(items["product_type"][i] in e for i, e in enumerate(echoes) if _echo_kind(e) == "type")


def test_annotators_word_motives_in_their_own_share_of_the_bank():
    assert set(PARAPHRASES) == set(MOTIVES)
    names = {m.name.lower() for m in MOTIVES.values()}
    rng = np.random.default_rng(0)
    used = {}
    for style in range(len(FRAMES)):
        a = SimulatedAnnotator("s", 1.0, 0.0, 0.0, style=style)
        used[style] = {a._word("marathon", rng) for _ in range(200)}
    # two wordings x three frames each, and no statement shared between annotators
    assert [len(u) for u in used.values()] == [6, 6, 6]
    assert not (used[0] & used[1] or used[0] & used[2] or used[1] & used[2])
    for key, options in PARAPHRASES.items():
        assert len(set(options)) == 6
        for text in options:
            assert text.lower() not in names
            assert truth_for(text) == key
            assert truth_for(f"  {text.upper()}. ") == key
    assert truth_for("maybe " + PARAPHRASES["yoga"][2]) == "yoga"
    assert truth_for(ECHOES["type"][0].format(type="socks")) is None
    assert truth_for(MOTIVES["marathon"].name) is None


def test_precision_recall_hand_example():
    mined = [Mined("I1", "simulated", "m", [Interest("building running endurance", 0.8),  # right
                                            Interest("wants a good socks", 0.5),  # echo
                                            Interest("weekends in a tent", 0.6)]),  # wrong motive
             Mined("I2", "simulated", "m", [Interest("plastic-free living at home", 0.7)])]  # right
    truth = [{"marathon"}, {"yoga", "eco"}]
    # 2 of 4 interests are right; 2 of 3 true motives are found
    assert precision_recall(mined, truth) == {"precision": 0.5, "recall": pytest.approx(2 / 3),
                                              "n_interests": 4, "n_true": 3}
    with pytest.raises(ValueError, match="one truth set per mined entity"):
        precision_recall(mined, truth[:1])


def test_noisier_annotator_has_lower_user_recall():
    careful, eager, _ = default_panel()
    assert careful.user_recall == pytest.approx(0.56 * 0.92)
    assert eager.user_recall == pytest.approx(0.86 * 0.5)


def _with_items_changed(shop, items):
    """A copy of ``shop`` whose ``items`` have other motives, text and product type."""
    ds = copy.copy(shop.dataset)
    ds.items = shop.dataset.items.copy()
    motives = list(shop.item_motives)
    for i in items:
        motives[i] = ("gaming",) if "gaming" not in motives[i] else ("eco",)
        ds.items.loc[i, ["title", "description", "product_type", "brand"]] = \
            ["Other Thing", "Other text.", "pouch", "Other"]
    return replace(shop, dataset=ds, item_motives=motives)


def test_no_test_or_validation_item_reaches_a_users_interests_or_truth(shop, train, tmp_path):
    """Change the motives, text and type of a user's validation and test items: nothing in that
    user's simulated answer or truth may move; items no user trains on reach no cache question."""
    annotator = SimulatedAnnotator("sim-test", 0.9, 0.5, 0.5)
    split = leave_one_out(shop.dataset)
    before, _ = mine_simulated(annotator, shop, tmp_path / "u.jsonl", users=True, progress=False)
    truth_before = user_truth(shop, train)
    new_target = np.flatnonzero(split.target_is_new())
    assert len(new_target) >= 6
    for u in [*range(6), *new_target[:6]]:  # six users, and six whose test item is a new arrival
        changed = _with_items_changed(shop, {int(split.valid_target[u]), int(split.test_target[u])})
        assert annotator.mine_user(u, changed, train[u]) == before[u]
        assert user_truth(changed, train)[u] == truth_before[u]
    never_trained = set(np.flatnonzero(split.new_items).tolist())
    changed = _with_items_changed(shop, never_trained)
    after, summary = mine_simulated(annotator, changed, tmp_path / "u.jsonl", users=True,
                                    progress=False)
    assert summary["calls"] == 0 and after == before  # every question the same: all cached
    assert user_truth(changed, train) == truth_before


def test_dial_runs_from_useless_to_the_oracles_knowledge(shop):
    truth = shop.motive_sets()
    figures = {q: [precision_recall([a.mine_item(i, shop) for i in range(shop.dataset.n_items)], truth)
                   for a in dial_panel(q)] for q in (0.0, 0.5, 1.0)}
    # quality 1: every true motive in the panel's own words, nothing invented, nothing echoed
    assert all(f["precision"] == f["recall"] == 1.0 for f in figures[1.0])
    # quality 0: one in twenty true motives found, an invented motive for every item
    assert all(f["recall"] < 0.12 and f["precision"] < 0.1 for f in figures[0.0])
    # in between, both rise with the dial for each annotator
    for style in range(3):
        assert figures[0.0][style]["precision"] < figures[0.5][style]["precision"] < 1.0
        assert figures[0.0][style]["recall"] < figures[0.5][style]["recall"] < 1.0


def test_dial_settings_and_names():
    low, high = dial_panel(0.0, seed=4), dial_panel(1.0, seed=4)
    assert [(a.recall, a.hallucination_rate, a.echo_rate) for a in high] == [(1.0, 0.0, 0.0)] * 3
    assert [(a.recall, a.hallucination_rate, a.echo_rate) for a in low] == [(0.05, 1.0, 0.5)] * 3
    assert [a.style for a in low] == [0, 1, 2] and [a.seed for a in low] == [4, 5, 6]
    # each dial point is its own annotators, so its cached answers never mix with another's
    assert {a.model for a in dial_panel(0.25)}.isdisjoint(a.model for a in dial_panel(0.5))
    assert {a.model for a in low}.isdisjoint(a.model for a in default_panel())
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        dial_panel(1.5)
