"""New arrivals reached through their codes, as TIGER does.

A new arrival never appears as a training target, so a generative model trained by SFT never
writes its ID. But its ID comes from its content like every item's, so it shares code prefixes
with warm items of the same kind. Here the model ranks warm items by constrained beam search;
then every unseen item is matched to the generated beams by its code prefix (the deepest shared
prefix, levels before the collision suffix), and up to a share ``share`` of the top-K is given
to the best-matched unseen items, each placed right after the beam whose prefix it shares.
``share`` is chosen on validation (:func:`choose_share`); ``share=0`` is the plain warm ranking.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from digr_utils.gen.decode import BeamSettings, CatalogTrie, recommend
from digr_utils.gen.data import history_tensors


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
        self.warm = np.flatnonzero(~unseen)
        self.new = np.flatnonzero(unseen)
        self._trie = CatalogTrie(base.vocab.item_tokens()[self.warm], base.vocab.vocab_size,
                                 base.device)
        self._prefix = base.vocab.codes[:, :-1]  # code levels before the collision suffix

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(n, k)`` array of item positions: warm beams with unseen items slotted in."""
        b = self.base
        input_ids, mask = history_tensors(histories, b.vocab, b.max_history)
        beams = max(b.beams, k)
        settings = BeamSettings(beams=beams, top_k=beams, batch_size=b.batch_size)
        rows = recommend(b.model, input_ids, mask, self._trie, settings, b.device)
        warm = np.where(rows >= 0, self.warm[np.clip(rows, 0, None)], -1)
        slots = math.floor(self.share * k + 1e-9)
        if not slots or not len(self.new):
            return warm[:, :k]
        return np.stack([self._merge(row, k, slots) for row in warm])

    def _merge(self, beams: np.ndarray, k: int, slots: int) -> np.ndarray:
        """One user's list: each beam, then the unseen items matched to it (best ``slots``)."""
        valid = beams[beams >= 0]
        depth = prefix_depth(self._prefix[valid], self._prefix[self.new])  # (beams, new)
        best_beam = np.argmax(depth, axis=0)  # first (highest-ranked) beam among the deepest
        best_depth = depth[best_beam, np.arange(len(self.new))]
        keep = np.flatnonzero(best_depth >= self.min_depth)
        order = keep[np.lexsort((best_beam[keep], -best_depth[keep]))][:slots]
        after = {}
        for j in order:
            after.setdefault(int(best_beam[j]), []).append(int(self.new[j]))
        out = []
        for rank, item in enumerate(valid):
            out.append(int(item))
            out.extend(after.get(rank, []))
        out = out[:k]
        return np.array(out + [-1] * (k - len(out)), dtype=np.int64)


def prefix_depth(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))``: how many leading code levels each row of ``a`` shares with each of ``b``."""
    equal = a[:, None, :] == b[None, :, :]
    return np.cumprod(equal, axis=2).sum(axis=2)


def choose_share(base, split, shares: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
                 tolerance: float = 0.05, metric: str = "NDCG@10") -> tuple[float, dict[float, float]]:
    """The largest share of the list that unseen items may take while the validation ``metric``
    stays within ``tolerance`` (relative) of the plain warm ranking; and each share's score.

    New arrivals are only ever test targets, so validation cannot reward reaching them: it can
    only measure what their slots cost the warm targets. The rule spends that cost up to a
    budget chosen in advance, and never looks at the test split.
    """
    from digr_utils.metrics import evaluate

    unseen = split.train_counts == 0
    scores = {s: evaluate(ColdStartRecommender(base, unseen, s), split, "valid")["all"][metric]
              for s in sorted(shares)}
    floor = (1 - tolerance) * scores[min(scores)]
    return max(s for s, v in scores.items() if v >= floor), scores
