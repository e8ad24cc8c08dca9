"""The simulated annotator panel: deterministic, rates as set, wording that maps back to motives."""
import json

import pytest

from digr_utils.data.vocabulary import MOTIVES
from digr_utils.data.world import load_shop
from digr_utils.interests.simulated import (PARAPHRASES, SimulatedAnnotator, default_panel,
                                            precision_recall, truth_for)
from digr_utils.interests.types import Interest, Mined


@pytest.fixture(scope="module")
def shop():
    return load_shop("ci")


def test_same_seed_same_answers_different_annotator_different_answers(shop):
    a = SimulatedAnnotator("sim-a", 0.7, 0.2, 0.2, seed=3)
    again = SimulatedAnnotator("sim-a", 0.7, 0.2, 0.2, seed=3)
    other = SimulatedAnnotator("sim-b", 0.7, 0.2, 0.2, seed=3)
    first = [a.mine_item(i, shop) for i in range(40)]
    assert [again.mine_item(i, shop) for i in reversed(range(40))][::-1] == first  # order-free
    assert [other.mine_item(i, shop) for i in range(40)] != first
    assert a.mine_user(7, shop) == again.mine_user(7, shop)


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


def test_default_panel_names():
    names = [a.name for a in default_panel()]
    assert len(set(names)) == 3 and all("sim" in n for n in names)


def test_rates_match_settings_on_ci_shop(shop):
    annotator = SimulatedAnnotator("sim-test", recall=0.8, hallucination_rate=0.3, echo_rate=0.2,
                                   confidence_noise=0.05)
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
    pairs = [(x.confidence, truth_for(x.text) in t)
             for m, t in zip(mined, truth) for x in m.interests]
    right = [c for c, ok in pairs if ok]
    wrong = [c for c, ok in pairs if not ok]
    assert sum(right) / len(right) == pytest.approx(0.75, abs=0.03)
    assert sum(wrong) / len(wrong) == pytest.approx(0.55, abs=0.03)


def test_noisier_annotator_has_lower_user_recall():
    careful, eager, _ = default_panel()
    assert careful.user_recall == pytest.approx(0.7 * 0.95)
    assert eager.user_recall == pytest.approx(0.9 * 0.7)


def test_paraphrases_never_use_ground_truth_wording_and_map_back():
    assert set(PARAPHRASES) == set(MOTIVES)
    names = {m.name.lower() for m in MOTIVES.values()}
    for key, options in PARAPHRASES.items():
        assert len(set(options)) == 3
        for text in options:
            assert text.lower() not in names
            assert truth_for(text) == key
            assert truth_for(f"  {text.upper()}. ") == key
    assert truth_for("wants a good socks") is None
    assert truth_for(MOTIVES["marathon"].name) is None


def test_precision_recall_hand_example():
    mined = [Mined("I1", "simulated", "m", [Interest("building running endurance", 0.8),  # right
                                            Interest("wants a good socks", 0.5),  # echo
                                            Interest("weekends in a tent", 0.6)]),  # wrong motive
             Mined("I2", "simulated", "m", [Interest("plastic-free living", 0.7)])]  # right
    truth = [{"marathon"}, {"yoga", "eco"}]
    # 2 of 4 interests are right; 2 of 3 true motives are found
    assert precision_recall(mined, truth) == {"precision": 0.5, "recall": pytest.approx(2 / 3),
                                              "n_interests": 4, "n_true": 3}
    with pytest.raises(ValueError, match="one truth set per mined entity"):
        precision_recall(mined, truth[:1])
