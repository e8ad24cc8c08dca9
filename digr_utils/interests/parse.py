"""Turn an LLM's raw answer into interests, surviving the ways real (small) models break the format.

Order of attempts: a JSON object (inside code fences or prose; leniently fixed for single quotes
and trailing commas; keys matched without case), then a numbered or bulleted list. When no whole
object parses but one starts with a ``reasoning`` or ``interests`` key, its complete interests are
salvaged: the ``interests`` array is read element by element up to where it is cut off or breaks
(a stray bracket, a missing comma), keeping each closed ``{...}`` object or quoted string. An
element whose quote or brace never closes is dropped, since we cannot know it was complete.
Nothing is ever invented: when neither gives an interest, ``ParseError`` says why.

Cleaning rules, applied to every interest:
- confidence: numbers are clipped to [0, 1]; "80%" -> 0.8; the words high / medium / low map to
  0.8 / 0.5 / 0.2 (the middle of the upper, central and lower thirds); anything else -> None;
- a phrase repeated three or more times in a row (a repetition loop) is collapsed to one copy;
- empty statements and statements over 20 words (an explanation, not an interest) are dropped;
- duplicates, compared without case, punctuation or extra spaces, are merged at the first one's
  place, keeping the highest confidence.
"""
from __future__ import annotations

import ast
import json
import math
import re

from digr_utils.interests.types import Interest, Mined

MAX_INTEREST_WORDS = 20
CONFIDENCE_WORDS = {"high": 0.8, "medium": 0.5, "low": 0.2}

_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)(?:```|$)", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_REPEAT = re.compile(r"\b(\w[^\n]{2,200}?)(?:[\s,;.!]+\1\b){2,}", re.S)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+(.+?)\s*$")
_HEADING = re.compile(r"^\s*[#*]*\s*(?:deep\s+)?interests?\s*[*]*\s*:?\s*[*]*\s*$", re.I)
# Reasoning steps the prompt asks for; a list line starting with one is a step, not an interest.
_STEP_LABEL = re.compile(
    r"^(?:usage scenario|purchase motive|who it serves|taste|reasoning)\b", re.I)
_CONF_PAREN = re.compile(r"\s*\(\s*(?:confidence\s*[:=]?\s*)?([^()]*)\)\s*$", re.I)
_CONF_TAIL = re.compile(
    r"\s*[-–—:,|]\s*(?:confidence\s*[:=]?\s*)?(\d+(?:\.\d+)?\s*%?|high|medium|low)\s*$", re.I)
_NUMBER = re.compile(r"^([-+]?\d+(?:\.\d+)?)\s*(%?)$")
_TEXT_KEYS = ("interest", "text", "motivation", "name")
_SALVAGE_START = re.compile(r"""\{\s*["']?(?:reasoning|interests)\b""", re.I)
_REASONING_VALUE = re.compile(
    r"""["']reasoning["']\s*:\s*(["'])((?:\\.|(?!\1).)*)\1""", re.S | re.I)
_INTERESTS_ARRAY = re.compile(r"""["']interests["']\s*:\s*\[""", re.I)


class ParseError(ValueError):
    """The answer holds no usable interest; the message is a short reason."""


def parse_answer(raw: str) -> tuple[list[Interest], str]:
    """Interests (model order, cleaned as the module docstring says) and the reasoning text.

    Raises ``ParseError`` when nothing usable is there; never returns an empty list.
    """
    if not raw or not raw.strip():
        raise ParseError("empty answer")
    obj = _find_object(raw)
    if obj is not None:
        items, reasoning = obj
        if not items:
            raise ParseError("empty interests list")
        interests = _clean([_from_json_item(x) for x in items])
        if not interests:
            raise ParseError("no usable interest (all empty, too long or not text)")
        return interests, reasoning
    lines, reasoning = _list_items(raw)
    if not lines:
        raise ParseError("no JSON object and no list items")
    interests = _clean([_split_confidence(line) for line in lines])
    if not interests:
        raise ParseError("no usable interest in list items (all empty, too long or steps)")
    return interests, reasoning


def to_mined(entity: str, backend: str, model: str, raw: str, tokens: int = 0) -> Mined:
    """Wrap ``parse_answer``: a failure becomes ``Mined.error`` with the raw text kept."""
    try:
        interests, reasoning = parse_answer(raw)
    except ParseError as exc:
        return Mined(entity, backend, model, raw=raw, error=f"parse: {exc}", tokens=tokens)
    return Mined(entity, backend, model, interests=interests, reasoning=reasoning, raw=raw,
                 tokens=tokens)


# --- JSON -------------------------------------------------------------------------------------

def _find_object(raw: str) -> tuple[list, str] | None:
    """(interest items, reasoning) from the first JSON-like object with an ``interests`` key."""
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    for text in candidates:
        for start in (i for i, ch in enumerate(text) if ch == "{"):
            end = _balanced_end(text, start)
            if end is not None:
                value = _load(text[start:end])
                if isinstance(value, dict) and "interests" in _lower_keys(value):
                    return _unpack(_lower_keys(value))
            elif _SALVAGE_START.match(text, start):
                return _salvage(text[start:])
    return None


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the bracket closing ``text[start]``; None if the text ends first or a
    bracket closes the wrong kind (``{...]``), as then the span is no well-formed value."""
    closers, quote, i = [], None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            closers.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if ch != closers.pop():
                return None
            if not closers:
                return i + 1
        i += 1
    return None


def _load(text: str):
    """Strict JSON, then trailing commas removed, then a Python literal (single quotes)."""
    for attempt in (text, _TRAILING_COMMA.sub(r"\1", text)):
        try:
            return json.loads(attempt)
        except json.JSONDecodeError:
            pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _lower_keys(value: dict) -> dict:
    """Keys in lower case: small models write "Interests" or "Confidence" as often as not."""
    return {k.lower() if isinstance(k, str) else k: v for k, v in value.items()}


def _unpack(value: dict) -> tuple[list, str]:
    items = value.get("interests")
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        raise ParseError(f"'interests' is a {type(items).__name__}, not a list")
    reasoning = value.get("reasoning", "")
    return items, _collapse(reasoning.strip()) if isinstance(reasoning, str) else ""


def _salvage(text: str) -> tuple[list, str]:
    """The complete elements of a cut-off or broken ``interests`` array, and the reasoning if its
    string closed; reading stops at the first thing that is neither an element nor a comma."""
    reasoning = ""
    m = _REASONING_VALUE.search(text)
    if m:
        value = _load(f"{m.group(1)}{m.group(2)}{m.group(1)}")
        reasoning = _collapse(value.strip()) if isinstance(value, str) else ""
    m = _INTERESTS_ARRAY.search(text)
    if not m:
        raise ParseError("JSON object cut off or broken before the interests list")
    items, i = [], m.end()
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] not in "{\"'":
            break
        end = _balanced_end(text, i) if text[i] == "{" else _string_end(text, i)
        if end is None:
            break
        value = _load(text[i:end])
        if value is not None:
            items.append(value)
        i = end
    if not items:
        raise ParseError("JSON object cut off or broken before the first complete interest")
    return items, reasoning


def _string_end(text: str, start: int) -> int | None:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 1
        elif text[i] == quote:
            return i + 1
        i += 1
    return None


def _from_json_item(item) -> Interest | None:
    if isinstance(item, str):
        return _split_confidence(item)
    if not isinstance(item, dict):
        return None
    item = _lower_keys(item)
    text = next((item[k] for k in _TEXT_KEYS if isinstance(item.get(k), str)), None)
    if text is None:
        return None
    return Interest(text, _confidence(item.get("confidence")))


# --- lists ------------------------------------------------------------------------------------

def _list_items(raw: str) -> tuple[list[str], str]:
    """List-item lines (after an "Interests:" heading when there is one) and the prose before."""
    lines = raw.splitlines()
    heading = max((i for i, line in enumerate(lines) if _HEADING.match(line)), default=-1)
    items, first = [], None
    for i, line in enumerate(lines[heading + 1:], start=heading + 1):
        m = _LIST_ITEM.match(line)
        if m and not _STEP_LABEL.match(m.group(1).strip("*_ ")):
            items.append(m.group(1))
            first = i if first is None else first
    prose_end = heading if heading >= 0 else (first if first is not None else 0)
    return items, _collapse(" ".join(s.strip() for s in lines[:prose_end] if s.strip()))


def _split_confidence(line: str) -> Interest:
    """'Training for a marathon (0.8)' -> Interest('Training for a marathon', 0.8)."""
    text = line.replace("**", "").replace("__", "").strip()
    for pattern in (_CONF_PAREN, _CONF_TAIL):
        m = pattern.search(text)
        if m and _confidence(m.group(1)) is not None:
            return Interest(text[:m.start()], _confidence(m.group(1)))
    return Interest(text, None)


# --- cleaning ---------------------------------------------------------------------------------

def _confidence(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in CONFIDENCE_WORDS:
            return CONFIDENCE_WORDS[word]
        m = _NUMBER.match(word)
        if not m:
            return None
        value = float(m.group(1)) / (100 if m.group(2) else 1)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return min(1.0, max(0.0, float(value)))


def _collapse(text: str) -> str:
    return _REPEAT.sub(r"\1", text)


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _clean(found: list[Interest | None]) -> list[Interest]:
    merged: dict[str, Interest] = {}
    for it in found:
        if it is None:
            continue
        text = _collapse(" ".join(it.text.split())).strip(" \"'`.;,")
        key = _key(text)
        if not key or len(text.split()) > MAX_INTEREST_WORDS:
            continue
        old = merged.get(key)
        if old is None:
            merged[key] = Interest(text, it.confidence)
        elif it.confidence is not None:
            if old.confidence is None or it.confidence > old.confidence:
                merged[key] = Interest(old.text, it.confidence)
    return list(merged.values())
