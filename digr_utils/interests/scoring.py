"""Scoring mined interests against the shop's hidden motives, the same way for every LLM.

A mined interest is free text, so it is matched to a motive by meaning: it is embedded with the
bundled MiniLM and compared with each motive's references (its ground-truth name and two
descriptions, :mod:`digr_utils.data.references`, written apart from the simulated panel's
phrases, so the panel faces the same test as a real LLM). It counts as naming the motive whose
best reference is most similar, if that similarity clears ``threshold``; otherwise it names no
motive (a product echo, a vague or a hallucinated statement). One instrument for every LLM.
A user is scored against the motives their *training* items show (:func:`user_truth`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from digr_utils.data.references import REFERENCES
from digr_utils.interests.types import Mined

#: Cosine similarity a statement needs to name a motive, chosen on the hand-labelled sample
#: ``references.HAND_LABELLED``: every threshold from 0.475 to 0.55 gets 39 of its 40
#: statements right with MiniLM; 0.5 sits inside that range.
DEFAULT_THRESHOLD = 0.5


def scorer_key() -> str:
    """What the truth depends on (references, threshold, how users are scored): part of every
    run graded against the hidden motives, so a changed scorer never serves old grades."""
    from digr_utils.runs import digest

    return digest([REFERENCES, DEFAULT_THRESHOLD, "users: training items only"], 8)


@dataclass
class MotiveMatcher:
    """Maps interest statements to motive keys (or None) by embedding similarity."""

    embed: Callable[[list[str]], np.ndarray]
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        self._keys, texts = [], []
        for key, references in REFERENCES.items():
            for text in references:
                self._keys.append(key)
                texts.append(text)
        self._refs = self.embed(texts)
        self._keys = np.array(self._keys)

    def match(self, statements: Sequence[str]) -> list[str | None]:
        """The motive each statement names, or None when nothing is similar enough."""
        if not len(statements):
            return []
        sims = self.embed(list(statements)) @ self._refs.T
        best = sims.argmax(axis=1)
        return [str(self._keys[j]) if sims[i, j] >= self.threshold else None
                for i, j in enumerate(best)]


def accuracy(matcher: MotiveMatcher, sample: Sequence[tuple[str, str | None]]) -> float:
    """Share of ``(statement, motive or None)`` pairs the matcher gets right: how its threshold
    is chosen on ``references.HAND_LABELLED``."""
    named = matcher.match([text for text, _ in sample])
    return float(np.mean([n == want for n, (_, want) in zip(named, sample)]))


def shown_motives(motives: Sequence[str], history: Sequence[int], shop) -> tuple[str, ...]:
    """Those of a user's hidden ``motives`` that at least one item of ``history`` serves."""
    served = {m for i in history for m in shop.item_motives[int(i)]}
    return tuple(m for m in motives if m in served)


def user_truth(shop, train: Sequence[Sequence[int]]) -> list[set[str]]:
    """Each user's true motives as their training items show them (``split.train``): what a
    user's interests are scored against, so no validation or test item ever reaches it."""
    return [set(shown_motives(m, h, shop)) for m, h in zip(shop.user_motives, train, strict=True)]


def minilm_matcher(cache_dir=None, threshold: float = DEFAULT_THRESHOLD) -> MotiveMatcher:
    """A matcher on the bundled MiniLM encoder (embeddings cached in ``cache_dir``)."""
    from digr_utils.embed import encode

    return MotiveMatcher(lambda texts: encode(texts, cache_dir=cache_dir), threshold)


def score(mined: Sequence[Mined], truth: Sequence[set[str]], matcher: MotiveMatcher) -> dict:
    """Precision, recall and failure figures of one LLM's answers against the true motives.

    precision: share of mined interests that name one of the entity's true motives;
    recall: share of the entities' true motives named by at least one interest;
    echo_share: share of interests that name no motive at all;
    parse_failures: share of entities whose answer failed or did not parse.
    """
    if len(mined) != len(truth):
        raise ValueError(f"score: {len(mined)} answers but {len(truth)} truth sets; align them by entity")
    statements = [i.text for m in mined for i in m.interests]
    owners = [k for k, m in enumerate(mined) for _ in m.interests]
    names = matcher.match(statements)
    right = sum(n is not None and n in truth[k] for n, k in zip(names, owners))
    named_per_entity: list[set] = [set() for _ in mined]
    for n, k in zip(names, owners):
        named_per_entity[k].add(n)
    found = sum(len(named & set(true)) for named, true in zip(named_per_entity, truth))
    total_true = sum(len(t) for t in truth)
    n = len(statements)
    return {
        "precision": right / n if n else 0.0,
        "recall": found / total_true if total_true else 0.0,
        "echo_share": sum(x is None for x in names) / n if n else 0.0,
        "interests_per_entity": n / len(mined) if len(mined) else 0.0,
        "parse_failures": float(np.mean([m.error is not None for m in mined])) if len(mined) else 0.0,
    }


def merged_correctness(merged: Sequence[Sequence], truth: Sequence[set[str]],
                       matcher: MotiveMatcher) -> pd.DataFrame:
    """One row per merged interest: its support and whether it names one of the item's motives."""
    rows = [(k, mi.support, mi.text) for k, item in enumerate(merged) for mi in item]
    named = matcher.match([text for _, _, text in rows])
    return pd.DataFrame({"support": [s for _, s, _ in rows],
                         "correct": [n is not None and n in truth[k] for n, (k, _, _) in zip(named, rows)]})
