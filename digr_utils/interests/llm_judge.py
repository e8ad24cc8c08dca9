"""An LLM judge for RLDI labels: "is this interest specific and supported by the item's evidence?"

On real data nobody knows an item's true motives, so the annotated subset RLDI learns from is
labelled by people or by an LLM asked a narrow grounding question. The judge sees the item's
evidence and one mined statement and answers ``{"grounded": 1}`` or ``{"grounded": 0}``.
Verdicts are cached per (model, settings, item, the exact messages asked) in an append-only
JSON-lines file, so an interrupted run resumes; an answer that does not parse is recorded as
``-1`` (no label), never guessed. A failed call (an error, an empty answer) is logged in the file
but never served: its row is -1 for this run and it is asked again on the next one.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from digr_utils.interests.backends import Backend, Completion, GenerationSettings
from digr_utils.interests.cache import failure_reasons
from digr_utils.progress import progress_bar

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
    ``OpenAICompatible(..., max_tokens=8, prefill=JUDGE_PREFILL)``. Failed calls are -1 here,
    counted with their reasons in a warning, and asked again on the next run.
    """
    n = len(statements)
    if not (len(titles) == len(descriptions) == len(entity_ids) == n):
        raise ValueError(f"llm_judge: {n} statements but {len(titles)} titles, {len(descriptions)} "
                         f"descriptions and {len(entity_ids)} entity ids; pass one of each per row")
    cache = _VerdictCache(Path(cache_path))
    tag = f"{JUDGE_VERSION}/{backend.settings_tag()}"
    prompts = [judge_prompt(t, d, s) for t, d, s in zip(titles, descriptions, statements)]
    keys = [cache.key(backend.model, tag, e, p) for e, p in zip(entity_ids, prompts)]
    todo = [r for r, k in enumerate(keys) if k not in cache]
    batch = getattr(getattr(backend, "settings", None), "batch_size", None) or getattr(
        backend, "concurrency", 1)
    failed: list[str] = []
    with progress_bar(total=len(todo), desc=f"judging with {backend.model}", leave=False,
                      enabled=progress and bool(todo)) as bar:
        for first in range(0, len(todo), batch):
            rows = todo[first:first + batch]
            for r, answer in zip(rows, _complete(backend, [prompts[r] for r in rows]), strict=True):
                if answer.error is None and answer.text.strip():
                    cache.put(keys[r], parse_verdict(answer.text), answer.text)
                else:
                    failed.append(answer.error or "empty answer")
                    cache.put_failure(keys[r], failed[-1])
            bar.update(len(rows))
    if failed:
        reasons = "; ".join(f"{reason} ({n}x)" for reason, n in failure_reasons(failed).items())
        warnings.warn(f"llm_judge: {len(failed)} of {len(todo)} calls to {backend.model} failed "
                      f"(their rows are -1 and are asked again on the next run): {reasons}",
                      stacklevel=2)
    return np.array([cache.verdict(k) for k in keys], dtype=int)


def _complete(backend: Backend, conversations: list[list[dict]]) -> list[Completion]:
    """The backend's answers, or one failed ``Completion`` each when it raises."""
    try:
        return backend.complete(conversations)
    except Exception as err:  # one failing batch never stops the run
        return [Completion(error=f"{type(err).__name__}: {err}") for _ in conversations]


class _VerdictCache:
    """Verdicts on disk, one JSON line each (fsynced); a truncated last line is ignored, and
    failure records (for the log) are never read as verdicts."""

    def __init__(self, path: Path):
        self.path = path
        self._verdicts: dict[str, int] = {}
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    record = json.loads(line)
                    if record.get("failed"):
                        continue
                    self._verdicts[record["key"]] = int(record["verdict"])
                except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
                    continue  # a line cut off by an interrupted run; its statement is asked again

    @staticmethod
    def key(model: str, tag: str, entity: str, messages: list[dict]) -> str:
        """Keyed by what was asked (evidence and statement), so other text under one id never matches."""
        return hashlib.sha1(json.dumps([model, tag, entity, messages]).encode()).hexdigest()

    def __contains__(self, key: str) -> bool:
        return key in self._verdicts

    def verdict(self, key: str) -> int:
        return self._verdicts.get(key, -1)

    def put(self, key: str, verdict: int, raw: str) -> None:
        self._append({"key": key, "verdict": verdict, "raw": raw})
        self._verdicts[key] = verdict

    def put_failure(self, key: str, error: str) -> None:
        self._append({"key": key, "failed": True, "error": error})

    def _append(self, record: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            # the leading newline ends a line an interrupted run may have cut off
            f.write("\n" + json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
