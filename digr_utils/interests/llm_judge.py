"""An LLM judge for RLDI labels: "is this interest specific and supported by the item's evidence?"

On real data nobody knows an item's true motives, so the annotated subset RLDI learns from is
labelled by people or by an LLM asked a narrow grounding question. The judge sees the item's
evidence and one mined statement and answers ``{"grounded": 1}`` or ``{"grounded": 0}``.
Verdicts are cached per (model, prompt, settings, item, statement) in an append-only JSON-lines
file, so an interrupted run resumes; an answer that does not parse is recorded as ``-1``
(no label), never guessed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from digr_utils.interests.backends import Backend, GenerationSettings

JUDGE_VERSION = "j1"

JUDGE_SYSTEM = """\
You check statements about why people buy a product. A statement is GROUNDED if it names a \
specific motivation, goal or situation of the buyer that the product's evidence supports. It is \
NOT grounded if it only restates the product or its features, is vague, or names a motivation \
the evidence does not support.

Answer with EXACTLY {"grounded": 1} or {"grounded": 0} and nothing else."""

JUDGE_USER = """\
Title: {title}
Description: {description}
Statement: {statement}"""

# Products the bundled shop never sells, so the examples teach the question, not the answers.
JUDGE_EXAMPLES: list[tuple[str, str, str, int]] = [
    ("Chalk Bag with Brush Holder", "Drawstring bag that clips to a harness.",
     "climbing at the bouldering gym", 1),
    ("Chalk Bag with Brush Holder", "Drawstring bag that clips to a harness.",
     "wants a good chalk bag", 0),
    ("Squirrel-Proof Bird Feeder", "Holds two pounds of seed; hangs from a branch.",
     "learning to play the piano", 0),
]

#: What the answer starts with: the model only has to write the digit.
JUDGE_PREFILL = '{"grounded": '

#: Decoding settings for a local judge: a verdict is one or two tokens.
JUDGE_SETTINGS = GenerationSettings(max_new_tokens=3, repetition_penalty=1.0,
                                    prefill=JUDGE_PREFILL, batch_size=8)

_VERDICT = re.compile(r'"?grounded"?\s*[:=]\s*"?(0|1|true|false|yes|no)\b', re.IGNORECASE)
_BARE = re.compile(r"^\W*(0|1|yes|no|true|false)\b", re.IGNORECASE)
_TRUE = {"1", "true", "yes"}


def judge_prompt(title: str, description: str, statement: str) -> list[dict]:
    """The chat messages asking whether ``statement`` is a grounded interest of the item."""
    messages = [{"role": "system", "content": JUDGE_SYSTEM}]
    for t, d, s, verdict in JUDGE_EXAMPLES:
        messages += [{"role": "user", "content": JUDGE_USER.format(title=t, description=d, statement=s)},
                     {"role": "assistant", "content": json.dumps({"grounded": verdict})}]
    messages.append({"role": "user", "content": JUDGE_USER.format(
        title=title, description=description or "(none)", statement=statement)})
    return messages


def parse_verdict(text: str) -> int:
    """1 or 0 from a judge's answer (JSON, ``grounded: yes``, a bare digit); -1 if unreadable."""
    text = (text or "").strip()
    found = _VERDICT.search(text) or _BARE.search(text)
    if found is None:
        return -1
    return int(found.group(1).lower() in _TRUE)


def llm_judge(statements: Sequence[str], titles: Sequence[str], descriptions: Sequence[str],
              entity_ids: Sequence[str], backend: Backend, cache_path: str | os.PathLike,
              progress: bool = True) -> np.ndarray:
    """Ask ``backend`` to grade each statement against its item's evidence; 1, 0 or -1 per row.

    The four sequences are row-aligned (one row per mined interest). Build the backend with
    judge settings: ``LocalHF(settings=JUDGE_SETTINGS)`` or
    ``OpenAICompatible(..., max_tokens=8, prefill=JUDGE_PREFILL)``.
    """
    n = len(statements)
    if not (len(titles) == len(descriptions) == len(entity_ids) == n):
        raise ValueError(f"llm_judge: {n} statements but {len(titles)} titles, {len(descriptions)} "
                         f"descriptions and {len(entity_ids)} entity ids; pass one of each per row")
    cache = _VerdictCache(Path(cache_path))
    tag = f"{JUDGE_VERSION}/{backend.settings_tag()}"
    keys = [cache.key(backend.model, tag, e, s) for e, s in zip(entity_ids, statements)]
    todo = [r for r, k in enumerate(keys) if k not in cache]
    batch = getattr(getattr(backend, "settings", None), "batch_size", None) or getattr(
        backend, "concurrency", 1)
    with tqdm(total=len(todo), desc=f"judging with {backend.model}", leave=False,
              disable=not progress or not todo) as bar:
        for first in range(0, len(todo), batch):
            rows = todo[first:first + batch]
            answers = backend.complete([judge_prompt(titles[r], descriptions[r], statements[r])
                                        for r in rows])
            for r, answer in zip(rows, answers, strict=True):
                if answer.error is None:  # failed calls are retried on the next run
                    cache.put(keys[r], parse_verdict(answer.text), answer.text)
            bar.update(len(rows))
    return np.array([cache.verdict(k) for k in keys], dtype=int)


class _VerdictCache:
    """Verdicts on disk, one JSON line each (fsynced); a truncated last line is ignored."""

    def __init__(self, path: Path):
        self.path = path
        self._verdicts: dict[str, int] = {}
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    record = json.loads(line)
                    self._verdicts[record["key"]] = int(record["verdict"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut off by an interrupted run; its statement is asked again

    @staticmethod
    def key(model: str, tag: str, entity: str, statement: str) -> str:
        return hashlib.sha1(json.dumps([model, tag, entity, statement]).encode()).hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._verdicts

    def verdict(self, key: str) -> int:
        return self._verdicts.get(key, -1)

    def put(self, key: str, verdict: int, raw: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            # the leading newline ends a line an interrupted run may have cut off
            f.write("\n" + json.dumps({"key": key, "verdict": verdict, "raw": raw}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._verdicts[key] = verdict
