"""The MLIM prompts: chat messages asking an LLM *why* an item is bought or what drives a user.

Every template is a module-level string with plain ``str.format`` fields, so a reader can print
it, edit it and measure the change. Bump ``PROMPT_VERSION`` after an edit: it goes into the mining
cache key, so answers to an old prompt are never reused for a new one.
"""
from __future__ import annotations

import json

PROMPT_VERSION = "v1"

ITEM_SYSTEM = """\
You are an expert shopping analyst. You read the evidence about one product and explain WHY \
people buy it: the deeper motivations behind the purchase, not what the product is.

Evidence you get: the product title, its description and, when available, visual cues from \
its photo.

Reason step by step:
1. Usage scenario: where and when is it used?
2. Purchase motive: what goal or problem makes someone buy it?
3. Who it serves: the buyer, or someone they buy it for?
4. Taste: what does the choice say about the buyer's style or values?

Answer with EXACTLY one JSON object and nothing else:
{{"reasoning": "<your steps in two or three sentences>", "interests": [{{"interest": "<motivation>", "confidence": <0.0 to 1.0>}}]}}
Give 1 to 4 interests, strongest first. Each interest is a short statement of a motivation \
(for example "learning to play the guitar"), never a product type and never the product name."""

USER_SYSTEM = """\
You are an expert shopping analyst. You read one shopper's purchase history, oldest first, and \
explain WHAT DRIVES this shopper: the deeper interests that connect the purchases.

Reason step by step:
1. Usage scenario: which activities or situations do the purchases point to?
2. Purchase motive: what goals link several purchases together?
3. Who it serves: the shopper, or someone they care for?
4. Taste: what do the choices say about the shopper's style or values?

Answer with EXACTLY one JSON object and nothing else:
{{"reasoning": "<your steps in two or three sentences>", "interests": [{{"interest": "<motivation>", "confidence": <0.0 to 1.0>}}]}}
Give 1 to 4 interests, strongest first. Each interest is a short statement of a motivation \
(for example "learning to play the guitar"), never a product type and never a product name."""

ITEM_USER = """\
Title: {title}
Description: {description}
Visual cues: {visual_cues}"""

USER_USER = """\
Purchase history (oldest first):
{history}"""

NO_VISUAL_CUES = "none"

# Worked examples use products the bundled shop never sells, so they teach the format and the
# kind of answer without leaking any of the shop's motives.
ITEM_EXAMPLES: list[dict] = [
    {
        "title": "Loopline Chalk Bag with Drawstring Closure",
        "description": "A fleece-lined bag that clips to a harness belt. A brush loop holds a "
                       "stiff-bristle brush. Fits a hand up to the wrist.",
        "visual_cues": "bright orange, compact, rugged fabric",
        "answer": {
            "reasoning": "A chalk bag clipped to a harness is used while rock climbing, indoors "
                         "or on crags. The brush loop suggests a climber who cleans holds, so a "
                         "regular, committed one. The bright rugged look favours function.",
            "interests": [
                {"interest": "taking up rock climbing as a regular sport", "confidence": 0.9},
                {"interest": "improving grip and technique on hard routes", "confidence": 0.6},
            ],
        },
    },
    {
        "title": "Cedar Hanging Bird Feeder, Squirrel-Proof",
        "description": "Holds two pounds of mixed seed. A weighted perch closes the ports when a "
                       "squirrel climbs on. Hangs from a branch or a window hook.",
        "visual_cues": "natural wood, small roof shape, green hanging wire",
        "answer": {
            "reasoning": "It hangs in a yard or by a window to attract wild birds. The squirrel-"
                         "proof perch means the buyer wants to watch birds, not feed squirrels. "
                         "Natural cedar suggests a calm, nature-loving taste; it is also a common "
                         "gift for retired relatives.",
            "interests": [
                {"interest": "watching wild birds from home", "confidence": 0.9},
                {"interest": "bringing nature into a backyard", "confidence": 0.7},
                {"interest": "a gift for a retired relative", "confidence": 0.3},
            ],
        },
    },
]

USER_EXAMPLES: list[dict] = [
    {
        "history": ["Polarized Sunglasses with Side Shields", "Beginner Fly-Tying Vise Kit",
                    "Breathable Chest Waders", "Tippet Spool Set 4X-6X",
                    "Waterproof Field Journal"],
        "answer": {
            "reasoning": "Waders, tippet and a fly-tying vise all point to fly fishing in "
                         "rivers; the beginner kit says the shopper is learning. Sunglasses and a waterproof "
                         "journal support long days on the water and keeping notes on catches.",
            "interests": [
                {"interest": "learning to fly fish in rivers", "confidence": 0.9},
                {"interest": "spending long days outdoors by the water", "confidence": 0.6},
            ],
        },
    },
]


def _item_user_message(title: str, description: str, visual_cues: str | None) -> dict:
    cues = visual_cues.strip() if visual_cues and visual_cues.strip() else NO_VISUAL_CUES
    return {"role": "user",
            "content": ITEM_USER.format(title=title, description=description, visual_cues=cues)}


def _user_user_message(history_titles: list[str]) -> dict:
    lines = "\n".join(f"{i}. {t}" for i, t in enumerate(history_titles, start=1))
    return {"role": "user", "content": USER_USER.format(history=lines)}


def _assistant(answer: dict) -> dict:
    return {"role": "assistant", "content": json.dumps(answer)}


def item_prompt(title: str, description: str, visual_cues: str | None = None,
                n_examples: int | None = None) -> list[dict]:
    """Chat messages asking why one item is bought: system, worked examples, then the item.

    ``n_examples`` keeps only the first worked examples (all by default); a small model with a
    short context is faster, and no worse, with one.
    """
    messages = [{"role": "system", "content": ITEM_SYSTEM.format()}]
    for ex in ITEM_EXAMPLES[:n_examples]:
        messages.append(_item_user_message(ex["title"], ex["description"], ex["visual_cues"]))
        messages.append(_assistant(ex["answer"]))
    messages.append(_item_user_message(title, description, visual_cues))
    return messages


def user_prompt(history_titles: list[str], n_examples: int | None = None) -> list[dict]:
    """Chat messages asking what drives one user, from their item titles oldest first."""
    if not history_titles:
        raise ValueError("user_prompt: history_titles is empty; pass at least one item title "
                         "(users with no history have nothing to mine)")
    messages = [{"role": "system", "content": USER_SYSTEM.format()}]
    for ex in USER_EXAMPLES[:n_examples]:
        messages.append(_user_user_message(ex["history"]))
        messages.append(_assistant(ex["answer"]))
    messages.append(_user_user_message(history_titles))
    return messages


def render(messages: list[dict]) -> str:
    """Plain-text form of chat messages, for a notebook and for backends without chat templates.

    Ends with an open ``ASSISTANT:`` turn so a plain completion model continues with the answer.
    """
    blocks = [f"{m['role'].upper()}:\n{m['content']}" for m in messages]
    return "\n\n".join(blocks) + "\n\nASSISTANT:\n"
