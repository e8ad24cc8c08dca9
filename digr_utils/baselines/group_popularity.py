"""Group popularity: recommend the popular items of the groups a user's recent history falls in.

Notebook 01 runs it twice, once with the shop's true motives as groups and once with surface
clusters, so the gap between the two is the head-room that deep interests offer.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import scipy.sparse as sparse

from digr_utils.data.dataset import Split


class GroupPopularity:
    """Score each item by Σ_g P(g | history) · P(item | g), a mixture over the user's groups.

    ``groups[i]`` holds the group ids of item ``i`` (one or more; a 1-D int array means one group
    per item). P(g | history) is taken proportional to the recency-weighted count of history items
    in ``g`` (last item weight 1, the one before ``recency_decay``, ...); P(item | g) is the item's
    training count over its group's total. Ties go to global popularity, then to the lower item id.
    """

    def __init__(self, groups: Sequence[Collection[int]] | np.ndarray, recency_decay: float = 0.7):
        if not 0.0 < recency_decay <= 1.0:
            raise ValueError(f"recency_decay must be in (0, 1], got {recency_decay}")
        self.recency_decay = recency_decay
        self._item_groups = _membership(groups)  # (n_items, n_groups), 0/1
        self.n_items = self._item_groups.shape[0]
        self._item_given_group: sparse.csr_matrix | None = None
        self._tie_order: np.ndarray | None = None

    def fit(self, split: Split, smoothing: float = 1.0) -> GroupPopularity:
        """Count item popularity in ``split.train``.

        ``smoothing`` is added to every count so a new arrival (zero training count) still gets
        a small share of its group and ranks after its group's popular items, not after every item.
        """
        if split.n_items != self.n_items:
            raise ValueError(
                f"GroupPopularity: `groups` covers {self.n_items} items but the split has "
                f"{split.n_items}; pass one group collection per item of the dataset."
            )
        counts = split.train_counts.astype(np.float64) + smoothing
        in_group = self._item_groups.multiply(counts[:, None]).tocsc()
        totals = np.asarray(in_group.sum(axis=0)).ravel()
        per_group = sparse.diags(1.0 / np.maximum(totals, 1e-12))
        self._item_given_group = sparse.csr_matrix(in_group @ per_group)
        # most popular first, lower id first among equals: the order ties fall back to
        self._tie_order = np.lexsort((np.arange(self.n_items), -counts))
        return self

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """Top-``k`` item ids per history as an ``(n, k)`` int array, best first."""
        if self._item_given_group is None:
            raise RuntimeError("GroupPopularity.recommend called before fit(split)")
        recency = _recency_matrix(histories, self.n_items, self.recency_decay)
        group_score = (recency @ self._item_groups).toarray()  # (users, groups)
        scores = (self._item_given_group @ group_score.T).T  # (users, items)
        # a stable sort over columns laid out in tie order breaks equal scores by popularity, id
        by_tie = scores[:, self._tie_order]
        best = np.argsort(-by_tie, axis=1, kind="stable")[:, :k]
        return self._tie_order[best]


def _membership(groups: Sequence[Collection[int]] | np.ndarray) -> sparse.csr_matrix:
    """The 0/1 item × group matrix, group ids renumbered densely."""
    per_item = [_group_ids(c) for c in groups]
    rows = np.repeat(np.arange(len(per_item)), [len(c) for c in per_item])
    ids, cols = np.unique(np.array([g for c in per_item for g in c], dtype=np.int64),
                          return_inverse=True)
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(per_item), len(ids)))


def _group_ids(entry) -> list[int]:
    """One item's groups as a sorted list: a single id (from a 1-D array) or a collection."""
    if isinstance(entry, (int, np.integer)):
        return [int(entry)]
    return sorted({int(g) for g in entry})


def _recency_matrix(
    histories: Sequence[np.ndarray], n_items: int, decay: float
) -> sparse.csr_matrix:
    """Users × items weights: decay ** (steps from the end of the history), repeats summed."""
    lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]
                          + [np.empty(0, np.int64)])
    ends = np.repeat(np.cumsum(lengths), lengths)
    steps_from_end = ends - 1 - np.arange(len(flat))
    rows = np.repeat(np.arange(len(histories)), lengths)
    weights = decay ** steps_from_end.astype(np.float64)
    return sparse.csr_matrix((weights, (rows, flat)), shape=(len(histories), n_items))
