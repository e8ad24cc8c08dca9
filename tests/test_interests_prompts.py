"""The MLIM prompts: message structure, the evidence they carry, and parseable worked examples."""
import re

import pytest

from digr_utils.data.vocabulary import MOTIVES, PRODUCT_TYPES
from digr_utils.interests import prompts
from digr_utils.interests.parse import parse_answer


def test_item_prompt_structure_and_evidence():
    msgs = prompts.item_prompt("Norvale Crew Socks", "Cushioned heel.", visual_cues="orange, bold")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[-1]["content"] == ("Title: Norvale Crew Socks\nDescription: Cushioned heel.\n"
                                   "Visual cues: orange, bold")
    system = msgs[0]["content"]
    for phrase in ("expert shopping analyst", "Usage scenario", "Purchase motive", "Who it serves",
                   "Taste", "EXACTLY one JSON object", '{"reasoning": ', "strongest first",
                   "1 to 4 interests"):
        assert phrase in system


@pytest.mark.parametrize("cues", [None, "", "   "])
def test_item_prompt_without_visual_cues_says_none(cues):
    assert prompts.item_prompt("T", "D", cues)[-1]["content"].endswith("Visual cues: none")


def test_user_prompt_numbers_history_oldest_first():
    msgs = prompts.user_prompt(["Crew Socks", "Sport Earbuds"])
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[-1]["content"] == ("Purchase history (oldest first):\n"
                                   "1. Crew Socks\n2. Sport Earbuds")
    assert "oldest first" in msgs[0]["content"]


def test_user_prompt_rejects_empty_history():
    with pytest.raises(ValueError, match="history_titles is empty"):
        prompts.user_prompt([])


def test_worked_examples_parse_and_respect_the_rules():
    msgs = prompts.item_prompt("T", "D") + prompts.user_prompt(["A"])
    answers = [m["content"] for m in msgs if m["role"] == "assistant"]
    assert len(answers) == 3
    for raw in answers:
        interests, reasoning = parse_answer(raw)
        assert reasoning and 1 <= len(interests) <= 4
        confs = [i.confidence for i in interests]
        assert confs == sorted(confs, reverse=True)


def test_worked_examples_avoid_the_shop_vocabulary():
    # Examples must not teach the shop's own products or motives to the model being measured.
    text = " ".join(m["content"] for m in prompts.item_prompt("T", "D")[1:-1]
                    + prompts.user_prompt(["A"])[1:-1]).lower()
    for name in PRODUCT_TYPES:
        assert not re.search(rf"\b{name}s?\b", text), name
    for motive in MOTIVES.values():
        assert motive.name.lower() not in text, motive.name


def test_render_is_plain_text_ending_with_open_assistant_turn():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert prompts.render(msgs) == "SYSTEM:\nS\n\nUSER:\nU\n\nASSISTANT:\n"


def test_prompt_version():
    assert prompts.PROMPT_VERSION == "v1"
