"""Scoring mined interests against the shop's hidden motives, the same way for every LLM.

A mined interest is free text, so it is matched to a motive by meaning: it is embedded with the
bundled MiniLM and compared with each motive's reference wordings (its ground-truth name and the
paraphrases the simulated panel uses). It counts as naming the motive whose best reference is
most similar, if that similarity clears ``threshold``; otherwise it names no motive (a product
echo, a vague or a hallucinated statement). One instrument for every LLM keeps the comparison fair.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from digr_utils.data.vocabulary import MOTIVES
from digr_utils.interests.simulated import PARAPHRASES
from digr_utils.interests.types import Mined

#: Cosine similarity a statement needs to name a motive; chosen so that every paraphrase
#: matches its motive and product echoes ("wants a good water bottle") match none.
DEFAULT_THRESHOLD = 0.5


@dataclass
class MotiveMatcher:
    """Maps interest statements to motive keys (or None) by embedding similarity."""

    embed: Callable[[list[str]], np.ndarray]
    threshold: float = DEFAULT_THRESHOLD

    def __post_init__(self) -> None:
        self._keys, texts = [], []
        for key, motive in MOTIVES.items():
            for text in (motive.name, *PARAPHRASES[key]):
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
