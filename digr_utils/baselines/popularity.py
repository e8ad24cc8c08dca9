"""Popularity: everyone gets the items bought most often in training — the floor to beat."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from digr_utils.data.dataset import Split


class Popularity:
    """Recommends the same top-k to every user, by training count (ties: lower item id first)."""

    def __init__(self) -> None:
        self.ranking: np.ndarray | None = None

    def fit(self, split: Split) -> "Popularity":
        """Rank items by how often they occur in ``split.train``."""
        # A stable sort of negated counts keeps equal-count items in ascending id order.
        self.ranking = np.argsort(-split.train_counts, kind="stable")
        return self

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(len(histories), k)`` array, every row the ``k`` most popular items."""
        if self.ranking is None:
            raise RuntimeError("Popularity: call fit(split) before recommend()")
        if k > len(self.ranking):
            raise ValueError(f"Popularity: k={k} but the catalogue has {len(self.ranking)} items")
        return np.tile(self.ranking[:k], (len(histories), 1))
