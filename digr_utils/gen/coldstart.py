"""New arrivals reached through their codes, as TIGER does.

A new arrival never appears as a training target, so a generative model trained by SFT never
writes its ID. But its ID comes from its content like every item's, so it shares code prefixes
with warm items of the same kind. Here the model ranks items by constrained beam search and the
unseen items are dropped from its list (it gives them almost no probability anyway); then the
unseen items that share a code prefix (levels before the collision suffix) with one of the
model's ``reach`` best beams — by default only the best one, the prefix the model is surest of —
take up to a share ``share`` of the top-K: the last places of the list, deepest match first, so
the warm ranking above them is untouched. ``share`` is chosen on validation
(:func:`choose_share`); ``share=0`` is the plain warm ranking.

Because the slots are merged into a ranked list after the search, one search serves every share:
:func:`sweep` scores a whole grid of shares from the lists of one validation and one test search.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The shares of the top-K tried on validation (the grid :func:`choose_share` picks from).
SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


class ColdStartRecommender:
    """Wraps a :class:`~digr_utils.gen.recommender.GenerativeRecommender`: warm items by beam
    search, unseen items (``unseen`` is a bool per item) by shared code prefix."""

    def __init__(self, base, unseen: np.ndarray, share: float, reach: int = 1, min_depth: int = 1):
        unseen = np.asarray(unseen, dtype=bool)
        if unseen.shape != (base.vocab.n_items,):
            raise ValueError(f"ColdStartRecommender: `unseen` needs one flag per item "
                             f"({base.vocab.n_items}), got shape {unseen.shape}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"ColdStartRecommender: share={share}; choose a share of the list "
                             "between 0 and 1")
        self.base, self.unseen, self.share = base, unseen, share
        self.reach, self.min_depth = reach, min_depth
        self.prefix = base.vocab.codes[:, :-1]  # code levels before the collision suffix

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(n, k)`` array of item positions: warm beams, then the unseen items slotted in."""
        ranked = self.base.recommend(histories, max(self.base.beams, k))
        return slot_unseen(ranked, self.prefix, self.unseen, self.share, k, self.reach,
                           self.min_depth)


def slot_unseen(ranked: np.ndarray, prefix: np.ndarray, unseen: np.ndarray, share: float,
                k: int, reach: int = 1, min_depth: int = 1) -> np.ndarray:
    """``(n, k)`` lists: each row of ``ranked`` without its unseen items, its last places (up to
    ``floor(share * k)``) given to the unseen items sharing at least ``min_depth`` code levels
    with one of the row's first ``reach`` warm beams, deepest match first, then by that beam's
    rank; rows with fewer such items keep more warm ones. -1 pads."""
    ranked = np.asarray(ranked)
    unseen = np.asarray(unseen, dtype=bool)
    new = np.flatnonzero(unseen)
    slots = math.floor(share * k + 1e-9)
    rows = []
    for row in ranked:
        warm = row[(row >= 0) & ~unseen[np.clip(row, 0, None)]]
        chosen = _matches(warm[:reach], prefix, new, min_depth)[:slots] if slots and len(new) else []
        out = warm[:k - len(chosen)].tolist() + list(chosen)
        rows.append(out + [-1] * (k - len(out)))
    return np.array(rows, dtype=np.int64).reshape(len(ranked), k)


def _matches(beams: np.ndarray, prefix: np.ndarray, new: np.ndarray, min_depth: int) -> list[int]:
    """The unseen items ``new`` sharing at least ``min_depth`` levels with one of ``beams``,
    deepest shared prefix first, then by the rank of the (first) beam they share it with."""
    if not len(beams):
        return []
    depth = prefix_depth(prefix[beams], prefix[new])  # (beams, new)
    best_beam = np.argmax(depth, axis=0)  # first (highest-ranked) beam among the deepest
    best_depth = depth[best_beam, np.arange(len(new))]
    keep = np.flatnonzero(best_depth >= min_depth)
    return [int(new[j]) for j in keep[np.lexsort((best_beam[keep], -best_depth[keep]))]]


def prefix_depth(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))``: how many leading code levels each row of ``a`` shares with each of ``b``."""
    equal = a[:, None, :] == b[None, :, :]
    return np.cumprod(equal, axis=2).sum(axis=2)


def pick_share(valid_scores: dict[float, float], tolerance: float = 0.05) -> float:
    """The validation rule: the largest share whose validation score stays within ``tolerance``
    (relative) of the plain warm ranking's (the smallest share's)."""
    floor = (1 - tolerance) * valid_scores[min(valid_scores)]
    return max(s for s, v in valid_scores.items() if v >= floor)


def choose_share(base, split, shares: Sequence[float] = SHARES, tolerance: float = 0.05,
                 users: np.ndarray | None = None, reach: int = 1) -> tuple[float, dict[float, float]]:
    """The share :func:`pick_share` picks from validation HR@10 of ``base`` on ``users``
    (default: every validation user), and each share's score; one beam search serves them all.

    New arrivals are only ever test targets, so validation cannot reward reaching them: it can
    only measure what their slots cost the warm targets. The rule spends that cost up to a
    budget chosen in advance, and never looks at the test split. The cost is read in HR@10:
    slots take the last places, which NDCG@10 barely weighs, and what a slot takes from a warm
    user is exactly a hit at the end of the list.
    """
    from digr_utils.metrics import hit_rate

    users = np.arange(len(split.valid_target)) if users is None else np.asarray(users)
    ranked = base.recommend([split.valid_history[u] for u in users], max(base.beams, 10))
    prefix, unseen = base.vocab.codes[:, :-1], split.train_counts == 0
    scores = {s: hit_rate(slot_unseen(ranked, prefix, unseen, s, 10, reach),
                          split.valid_target[users], 10) for s in sorted(shares)}
    return pick_share(scores, tolerance), scores


def sweep(valid: np.ndarray, valid_targets: np.ndarray, test: np.ndarray,
          test_targets: np.ndarray, test_is_new: np.ndarray, prefix: np.ndarray,
          unseen: np.ndarray, shares: Sequence[float] = SHARES, tolerance: float = 0.05,
          k: int = 10, reach: int = 1) -> tuple[float, pd.DataFrame]:
    """Every share scored from one model's ranked validation and test lists: validation HR@k
    (what the rule reads, as :func:`choose_share` does) and NDCG@k, and test HR@k / NDCG@k on
    warm and new targets (what it costs and buys); with the share the rule picks, never
    looking at test."""
    from digr_utils.metrics import hit_rate, ndcg

    test_is_new = np.asarray(test_is_new, dtype=bool)
    rows = {}
    for s in sorted(shares):
        v = slot_unseen(valid, prefix, unseen, s, k, reach)
        t = slot_unseen(test, prefix, unseen, s, k, reach)
        rows[s] = {f"valid HR@{k}": hit_rate(v, valid_targets, k),
                   f"valid NDCG@{k}": ndcg(v, valid_targets, k)}
        for group, m in (("warm", ~test_is_new), ("new", test_is_new)):
            rows[s][f"test {group} HR@{k}"] = hit_rate(t[m], test_targets[m], k)
            rows[s][f"test {group} NDCG@{k}"] = ndcg(t[m], test_targets[m], k)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("share")
    chosen = pick_share(table[f"valid HR@{k}"].to_dict(), tolerance)
    return chosen, table.assign(chosen=table.index == chosen)
