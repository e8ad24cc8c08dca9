"""The scorer: references written apart from the panel, a threshold chosen on a hand-labelled
sample, and users scored against what their training items show."""
import numpy as np
import pytest

from digr_utils.data.references import HAND_LABELLED, REFERENCES
from digr_utils.data.vocabulary import MOTIVES
from digr_utils.interests.scoring import (DEFAULT_THRESHOLD, accuracy, minilm_matcher,
                                          shown_motives, user_truth)
from digr_utils.interests.simulated import ECHOES, FRAMES, PARAPHRASES


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def test_no_panel_phrase_is_a_reference_and_no_reference_a_panel_phrase():
    assert set(REFERENCES) == set(MOTIVES)
    references = {_normal(r) for refs in REFERENCES.values() for r in refs}
    panel = {_normal(frame.format(w)) for ws in PARAPHRASES.values() for w in ws
             for frames in FRAMES for frame in frames}
    panel |= {_normal(e) for es in ECHOES.values() for e in es}
    assert len(references) == 3 * len(MOTIVES)  # the name and two descriptions each
    assert not references & panel
    assert all(REFERENCES[k][0] == m.name for k, m in MOTIVES.items())


def test_scoring_does_not_read_the_panel():
    import digr_utils.interests.scoring as scoring

    source = open(scoring.__file__).read()
    assert "interests.simulated" not in source and "PARAPHRASES" not in source


def test_threshold_is_the_best_on_the_hand_labelled_sample():
    matcher = minilm_matcher()
    at = {}
    for t in np.round(np.arange(0.3, 0.76, 0.025), 3):
        matcher.threshold = float(t)
        at[float(t)] = accuracy(matcher, HAND_LABELLED)
    assert at[DEFAULT_THRESHOLD] == max(at.values()) == pytest.approx(39 / 40)
    assert at[0.3] < 0.7 and at[0.75] < 0.7  # too lax names echoes, too strict misses motives


class _Shop:
    item_motives = [("yoga",), ("eco", "yoga"), ("gaming",), ("coffee",)]
    user_motives = [("yoga", "coffee"), ("gaming", "eco")]


def test_users_are_scored_against_the_motives_their_training_items_show():
    # user 0 trained on items 0, 1: yoga shows, coffee (only in item 3) does not
    assert shown_motives(("yoga", "coffee"), [0, 1], _Shop) == ("yoga",)
    # user 1 trained on item 2: gaming; eco shows only in item 1, which user 1 never trained on
    assert user_truth(_Shop, [np.array([0, 1]), np.array([2])]) == [{"yoga"}, {"gaming"}]
    with pytest.raises(ValueError):
        user_truth(_Shop, [np.array([0])])


def test_scorer_key_changes_with_the_references(monkeypatch):
    import digr_utils.interests.scoring as scoring

    before = scoring.scorer_key()
    assert scoring.scorer_key() == before
    monkeypatch.setitem(scoring.REFERENCES, "yoga", ("a calm daily yoga practice",))
    assert scoring.scorer_key() != before
