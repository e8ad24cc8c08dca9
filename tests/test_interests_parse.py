"""parse_answer / to_mined on hand-written raw LLM answers, one failure mode per test."""
import pytest

from digr_utils.interests.parse import ParseError, parse_answer, to_mined
from digr_utils.interests.types import Interest

CLEAN = ('{"reasoning": "Clipped to a harness while climbing.", "interests": ['
         '{"interest": "taking up rock climbing", "confidence": 0.9}, '
         '{"interest": "a gift for a climber friend", "confidence": 0.3}]}')
CLEAN_INTERESTS = [Interest("taking up rock climbing", 0.9),
                   Interest("a gift for a climber friend", 0.3)]


def test_clean_json():
    assert parse_answer(CLEAN) == (CLEAN_INTERESTS, "Clipped to a harness while climbing.")


def test_code_fence_and_prose_around():
    raw = f"Sure! Here is my analysis.\n```json\n{CLEAN}\n```\nI hope this helps {{:}}"
    assert parse_answer(raw) == (CLEAN_INTERESTS, "Clipped to a harness while climbing.")


def test_prose_around_json_without_fence():
    raw = f"Let's think. The item is a chalk bag. Answer: {CLEAN} Done."
    assert parse_answer(raw)[0] == CLEAN_INTERESTS


def test_single_quotes_and_trailing_commas():
    raw = ("{'reasoning': 'For climbers.', 'interests': [{'interest': 'taking up rock climbing', "
           "'confidence': 0.9,}, {'interest': 'a gift for a climber friend', "
           "'confidence': 0.3},],}")
    assert parse_answer(raw) == (CLEAN_INTERESTS, "For climbers.")


def test_trailing_commas_in_double_quoted_json():
    raw = '{"reasoning": "r", "interests": [{"interest": "bird watching", "confidence": 0.7,},]}'
    assert parse_answer(raw) == ([Interest("bird watching", 0.7)], "r")


def test_truncated_object_keeps_complete_interests():
    raw = ('{"reasoning": "Hangs by a window.", "interests": [{"interest": "watching wild birds", '
           '"confidence": 0.9}, {"interest": "a backyard nature')
    assert parse_answer(raw) == ([Interest("watching wild birds", 0.9)], "Hangs by a window.")


# Real SmolLM2-135M answers, prefilled with '{"interests": [{"interest": "'.

def test_salvage_real_stray_brace_after_first_object():
    raw = ('{"interests": [{"interest": "trekging-pole loops"}, '
           '{"investor_profile":"norton"}}]')
    # The first object is whole; the second has no interest key, so it is no interest.
    assert parse_answer(raw) == ([Interest("trekging-pole loops", None)], "")


def test_salvage_real_cut_off_inside_a_second_object():
    raw = ('{"interests": [{"interest": "more options than just hearing your favorite music '
           'through earbuds"}, {"targeted_features": ["high resolution audio playb')
    assert parse_answer(raw) == ([Interest(
        "more options than just hearing your favorite music through earbuds", None)], "")


def test_salvage_real_unterminated_statement_is_dropped():
    raw = ('{"interests": [{"interest": "the ability to store multiple items at once without '
           'having to open them all every time we need something different each d')
    with pytest.raises(ParseError, match="before the first complete interest"):
        parse_answer(raw)


def test_salvage_real_capitalised_key_and_stray_bracket():
    raw = ('{"reasoning": "The book was made out of highlighter.",'
           '"Interests": ["Highlighting"]]')
    assert parse_answer(raw) == ([Interest("Highlighting", None)],
                                 "The book was made out of highlighter.")


def test_salvage_keeps_confidences_and_skips_a_broken_element():
    raw = ('{"interests": [{"interest": "bird watching", "confidence": 0.9} '
           '{"interest": "garden" "confidence": 1}, {"Interest": "feeding birds", '
           '"Confidence": "low"}]]')
    # The middle object lacks a comma, so it does not load and "garden" is not kept.
    assert parse_answer(raw)[0] == [Interest("bird watching", 0.9),
                                    Interest("feeding birds", 0.2)]


def test_keys_match_without_case_in_a_whole_object():
    raw = '{"Reasoning": "r", "INTERESTS": [{"Interest": "bird watching", "Confidence": 0.7}]}'
    assert parse_answer(raw) == ([Interest("bird watching", 0.7)], "r")


def test_truncated_before_any_interest_is_an_error():
    with pytest.raises(ParseError, match="before the first complete interest"):
        parse_answer('{"reasoning": "Hangs by a window.", "interests": [{"interest": "watch')


def test_truncated_in_reasoning_is_an_error():
    with pytest.raises(ParseError, match="before the interests list"):
        parse_answer('```json\n{"reasoning": "Hangs by a window and the')


def test_interests_as_strings_with_and_without_confidence():
    raw = '{"reasoning": "", "interests": ["watching wild birds", "feeding garden birds (70%)"]}'
    assert parse_answer(raw)[0] == [Interest("watching wild birds", None),
                                    Interest("feeding garden birds", 0.7)]


def test_numbered_list_instead_of_json():
    raw = ("The buyer climbs.\n\nInterests:\n1. Training for a marathon (0.8)\n"
           "2. **Caring for sensitive skin** - high\n3) a gift for new parents (confidence: 40%)\n"
           "- weekend camping: low\n* sleeping better")
    interests, reasoning = parse_answer(raw)
    assert interests == [Interest("Training for a marathon", 0.8),
                         Interest("Caring for sensitive skin", 0.8),
                         Interest("a gift for new parents", 0.4),
                         Interest("weekend camping", 0.2),
                         Interest("sleeping better", None)]
    assert reasoning == "The buyer climbs."


def test_list_skips_reasoning_steps_before_an_interests_heading():
    raw = ("1. Usage scenario: on the crag.\n2. Purchase motive: climbing.\n\n"
           "**Interests:**\n- taking up rock climbing (0.9)")
    interests, reasoning = parse_answer(raw)
    assert interests == [Interest("taking up rock climbing", 0.9)]
    assert reasoning == "1. Usage scenario: on the crag. 2. Purchase motive: climbing."


def test_list_drops_step_labels_without_heading():
    raw = "1. Usage scenario: outdoors\n2. Who it serves: the buyer\n3. learning to climb (0.6)"
    # Lines starting with a reasoning-step label from the prompt are steps, not interests.
    assert parse_answer(raw)[0] == [Interest("learning to climb", 0.6)]


@pytest.mark.parametrize("given, expected", [
    ("0.7", 0.7), (0.7, 0.7), ("80%", 0.8), ("5%", 0.05), ("high", 0.8), ("Medium", 0.5),
    ("low", 0.2), (1.7, 1.0), (80, 1.0), (-0.3, 0.0), ("very sure", None), (None, None),
    (True, None), ("", None),
])
def test_confidence_forms(given, expected):
    raw = '{"interests": [{"interest": "bird watching", "confidence": %s}]}' % (
        f'"{given}"' if isinstance(given, str) else ("null" if given is None else
                                                     str(given).lower()))
    (interest,), reasoning = parse_answer(raw)
    assert interest == Interest("bird watching", expected)
    assert reasoning == ""


def test_missing_confidence_is_none():
    assert parse_answer('{"interests": [{"interest": "bird watching"}]}')[0] == [
        Interest("bird watching", None)]


def test_duplicates_merged_keeping_max_confidence_and_first_place():
    raw = ('{"interests": [{"interest": "Bird watching", "confidence": null}, '
           '{"interest": "keeping a garden", "confidence": 0.4}, '
           '{"interest": "bird-watching!", "confidence": 0.6}, '
           '{"interest": "  BIRD   watching ", "confidence": 0.5}]}')
    assert parse_answer(raw)[0] == [Interest("Bird watching", 0.6),
                                    Interest("keeping a garden", 0.4)]


def test_empty_and_overlong_interests_dropped():
    long = " ".join(f"w{i}" for i in range(21))
    twenty = " ".join(f"w{i}" for i in range(20))
    raw = ('{"interests": [{"interest": ""}, {"interest": "   "}, {"interest": "%s"}, '
           '{"interest": "%s", "confidence": 0.2}, {"interest": 3}, 5, '
           '{"interest": "bird watching", "confidence": 0.9}]}' % (long, twenty))
    assert parse_answer(raw)[0] == [Interest(twenty, 0.2), Interest("bird watching", 0.9)]


def test_repetition_loop_collapsed_in_interest_and_reasoning():
    raw = ('{"reasoning": "It is for birds. It is for birds. It is for birds. It is for birds.", '
           '"interests": [{"interest": "bird watching, bird watching, bird watching, '
           'bird watching", "confidence": 0.8}]}')
    assert parse_answer(raw) == ([Interest("bird watching", 0.8)], "It is for birds.")


def test_realistic_smollm2_answer():
    # Prose before, a fence, a looping reasoning, the same interest restated in other case, the
    # product type echoed, then cut off by the token limit mid-object.
    raw = (
        "Sure, here is the analysis of the product:\n\n```json\n"
        '{\n  "reasoning": "The socks are for running. The socks are for running. The socks are '
        'for running. The socks are for running.",\n  "interests": [\n'
        '    {"interest": "Training for a marathon", "confidence": 0.8},\n'
        '    {"interest": "socks", "confidence": "high"},\n'
        '    {"interest": "training for a marathon.", "confidence": 0.95},\n'
        '    {"interest": "training for a marathon", "confidence": 0.95},\n'
        '    {"interest": "training for a mara'
    )
    interests, reasoning = parse_answer(raw)
    assert interests == [Interest("Training for a marathon", 0.95), Interest("socks", 0.8)]
    assert reasoning == "The socks are for running."


def test_first_object_with_interests_wins_over_later_fake_turns():
    raw = ('{"note": 1} ' + CLEAN + '\nUSER:\nTitle: x\nASSISTANT:\n'
           '{"reasoning": "other", "interests": [{"interest": "other", "confidence": 1}]}')
    assert parse_answer(raw)[0] == CLEAN_INTERESTS


@pytest.mark.parametrize("raw, reason", [
    ("", "empty answer"),
    ("   \n", "empty answer"),
    ("I cannot tell why anyone buys this.", "no JSON object and no list items"),
    ('{"reasoning": "r", "interests": []}', "empty interests list"),
    ('{"interests": [{"interest": ""}, {"confidence": 0.5}]}', "no usable interest"),
    ('{"interests": {"interest": "x"}}', "'interests' is a dict, not a list"),
    ("1. Usage scenario: home\n2. Taste: simple", "no JSON object and no list items"),
    ("- " + " ".join(f"w{i}" for i in range(25)), "no usable interest in list items"),
])
def test_unusable_answers_raise_with_reason(raw, reason):
    with pytest.raises(ParseError, match=reason):
        parse_answer(raw)


def test_to_mined_success_keeps_raw():
    m = to_mined("item:7", "openai", "smollm2", CLEAN, tokens=42)
    assert (m.entity, m.backend, m.model, m.tokens) == ("item:7", "openai", "smollm2", 42)
    assert m.interests == CLEAN_INTERESTS and m.error is None and m.raw == CLEAN
    assert m.reasoning == "Clipped to a harness while climbing."


def test_to_mined_failure_records_error_and_raw():
    raw = "I am not sure."
    m = to_mined("user:3", "hf", "smollm2", raw)
    assert m.interests == [] and m.reasoning == "" and m.raw == raw
    assert m.error == "parse: no JSON object and no list items"
