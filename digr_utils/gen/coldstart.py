"""New arrivals reached through their codes, as TIGER does.

A new arrival never appears as a training target, so a generative model trained by SFT never
writes its ID. But its ID comes from its content like every item's, so it shares code prefixes
with warm items of the same kind. Here the model ranks items by constrained beam search and the
unseen items are dropped from its list (it gives them almost no probability anyway); then every
unseen item is matched to the remaining beams by its code prefix (the deepest shared prefix,
levels before the collision suffix), and up to a share ``share`` of the top-K is given to the
best-matched unseen items, each placed right after the beam whose prefix it shares. ``share`` is
chosen on validation (:func:`choose_share`); ``share=0`` is the plain warm ranking.

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

    def __init__(self, base, unseen: np.ndarray, share: float, min_depth: int = 1):
        unseen = np.asarray(unseen, dtype=bool)
        if unseen.shape != (base.vocab.n_items,):
            raise ValueError(f"ColdStartRecommender: `unseen` needs one flag per item "
                             f"({base.vocab.n_items}), got shape {unseen.shape}")
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"ColdStartRecommender: share={share}; choose a share of the list "
                             "between 0 and 1")
        self.base, self.unseen, self.share, self.min_depth = base, unseen, share, min_depth
        self.prefix = base.vocab.codes[:, :-1]  # code levels before the collision suffix

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(n, k)`` array of item positions: warm beams with unseen items slotted in."""
        ranked = self.base.recommend(histories, max(self.base.beams, k))
        return slot_unseen(ranked, self.prefix, self.unseen, self.share, k, self.min_depth)


def slot_unseen(ranked: np.ndarray, prefix: np.ndarray, unseen: np.ndarray, share: float,
                k: int, min_depth: int = 1) -> np.ndarray:
    """``(n, k)`` lists: each row of ``ranked`` without its unseen items, with up to
    ``floor(share * k)`` unseen items slotted in, each right after the highest-ranked beam with
    which it shares the deepest code prefix (at least ``min_depth`` levels); -1 pads."""
    ranked = np.asarray(ranked)
    unseen = np.asarray(unseen, dtype=bool)
    new = np.flatnonzero(unseen)
    slots = math.floor(share * k + 1e-9)
    rows = []
    for row in ranked:
        warm = row[(row >= 0) & ~unseen[np.clip(row, 0, None)]]
        out = _merge(warm, prefix, new, slots, min_depth) if slots and len(new) and len(warm) \
            else warm.tolist()
        rows.append(out[:k] + [-1] * (k - len(out[:k])))
    return np.array(rows, dtype=np.int64).reshape(len(ranked), k)


def _merge(warm: np.ndarray, prefix: np.ndarray, new: np.ndarray, slots: int,
           min_depth: int) -> list[int]:
    """One user's list: each warm beam, then the unseen items matched to it (best ``slots``)."""
    depth = prefix_depth(prefix[warm], prefix[new])  # (beams, new)
    best_beam = np.argmax(depth, axis=0)  # first (highest-ranked) beam among the deepest
    best_depth = depth[best_beam, np.arange(len(new))]
    keep = np.flatnonzero(best_depth >= min_depth)
    order = keep[np.lexsort((best_beam[keep], -best_depth[keep]))][:slots]
    after: dict[int, list[int]] = {}
    for j in order:
        after.setdefault(int(best_beam[j]), []).append(int(new[j]))
    out = []
    for rank, item in enumerate(warm):
        out.append(int(item))
        out.extend(after.get(rank, []))
    return out


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
                 users: np.ndarray | None = None) -> tuple[float, dict[float, float]]:
    """The share :func:`pick_share` picks from validation NDCG@10 of ``base`` on ``users``
    (default: every validation user), and each share's score; one beam search serves them all.

    New arrivals are only ever test targets, so validation cannot reward reaching them: it can
    only measure what their slots cost the warm targets. The rule spends that cost up to a
    budget chosen in advance, and never looks at the test split.
    """
    from digr_utils.metrics import ndcg

    users = np.arange(len(split.valid_target)) if users is None else np.asarray(users)
    ranked = base.recommend([split.valid_history[u] for u in users], max(base.beams, 10))
    prefix, unseen = base.vocab.codes[:, :-1], split.train_counts == 0
    scores = {s: ndcg(slot_unseen(ranked, prefix, unseen, s, 10), split.valid_target[users], 10)
              for s in sorted(shares)}
    return pick_share(scores, tolerance), scores


def sweep(valid: np.ndarray, valid_targets: np.ndarray, test: np.ndarray,
          test_targets: np.ndarray, test_is_new: np.ndarray, prefix: np.ndarray,
          unseen: np.ndarray, shares: Sequence[float] = SHARES, tolerance: float = 0.05,
          k: int = 10) -> tuple[float, pd.DataFrame]:
    """Every share scored from one model's ranked validation and test lists: validation
    NDCG@k (what the rule reads) and test HR@k / NDCG@k on warm and new targets (what it costs
    and buys); with the share the rule picks, never looking at test."""
    from digr_utils.metrics import hit_rate, ndcg

    test_is_new = np.asarray(test_is_new, dtype=bool)
    rows = {}
    for s in sorted(shares):
        v = slot_unseen(valid, prefix, unseen, s, k)
        t = slot_unseen(test, prefix, unseen, s, k)
        rows[s] = {f"valid NDCG@{k}": ndcg(v, valid_targets, k)}
        for group, m in (("warm", ~test_is_new), ("new", test_is_new)):
            rows[s][f"test {group} HR@{k}"] = hit_rate(t[m], test_targets[m], k)
            rows[s][f"test {group} NDCG@{k}"] = ndcg(t[m], test_targets[m], k)
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("share")
    chosen = pick_share(table[f"valid NDCG@{k}"].to_dict(), tolerance)
    return chosen, table.assign(chosen=table.index == chosen)
