"""One evaluator for every model: full-ranking HR@K and NDCG@K, split by warm and new targets.

Protocol (stated in every notebook): leave-one-out, each model ranks *all* items for each user
(no sampled negatives), and we score the top-K list against the single held-out item. Items
already in the history are not removed from the ranking, for every model alike (a generative
model decoding a semantic ID cannot easily exclude them either).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import pandas as pd

from digr_utils.data.dataset import Split

DEFAULT_KS = (5, 10)


class Recommender(Protocol):
    """Anything that turns histories into a ranked top-K list of item ids."""

    def recommend(self, histories: Sequence[np.ndarray], k: int) -> np.ndarray:
        """An ``(n_users, k)`` int array, best item first."""
        ...


def hit_rate(topk: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of users whose target is among their first ``k`` recommendations."""
    return float(_hits(topk, targets, k).any(axis=1).mean()) if len(targets) else 0.0


def ndcg(topk: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Mean NDCG@k with one relevant item: 1/log2(rank+1) at its rank, 0 if missing."""
    if not len(targets):
        return 0.0
    hits = _hits(topk, targets, k)
    gains = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    return float((hits * gains).sum(axis=1).mean())


def _hits(topk: np.ndarray, targets: np.ndarray, k: int) -> np.ndarray:
    topk = np.asarray(topk)
    if topk.ndim != 2 or topk.shape[0] != len(targets):
        raise ValueError(f"topk must be (n_users, K) with n_users={len(targets)}, got {topk.shape}")
    if topk.shape[1] < k:
        raise ValueError(f"asked for @{k} but only {topk.shape[1]} recommendations per user")
    _check_no_repeats(topk)
    return topk[:, :k] == np.asarray(targets)[:, None]


def _check_no_repeats(topk: np.ndarray) -> None:
    """A list holding an item twice would count its hit twice (NDCG above 1); -1 padding may repeat."""
    ordered = np.sort(topk, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if not repeated.any():
        return
    row, col = np.argwhere(repeated)[0]
    item = ordered[row, col + 1]
    where = np.flatnonzero(topk[row] == item)
    raise ValueError(f"ranked list {row} holds item {item} more than once (at positions "
                     f"{where.tolist()}); a model must recommend each item at most once per "
                     "list: drop the repeats and pad a short list with -1")


def per_user_ndcg(topk: np.ndarray, targets: np.ndarray, k: int = 10) -> np.ndarray:
    """Each user's NDCG@k (1/log2(rank+1) at the target's rank, 0 if missing): the numbers a
    paired test compares user by user, and whose mean is :func:`ndcg`."""
    hits = _hits(topk, targets, k)
    return (hits / np.log2(np.arange(2, k + 2))).sum(axis=1)


def paired_test(a: np.ndarray, b: np.ndarray) -> dict:
    """Two paired per-user scores compared: mean difference, users where ``a`` wins / loses, the
    two-sided Wilcoxon signed-rank p-value (ties dropped) and the exact sign-test p-value."""
    from scipy.stats import binomtest, wilcoxon

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need one value per user on both sides: {a.shape} vs {b.shape}")
    diff = a - b
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    untied = wins + losses
    return {"mean difference": float(diff.mean()) if len(diff) else 0.0,
            "wins": wins, "losses": losses,
            "wilcoxon p": float(wilcoxon(a, b).pvalue) if untied else 1.0,
            "sign p": float(binomtest(wins, untied).pvalue) if untied else 1.0}


def ranking_metrics(topk: np.ndarray, targets: np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict:
    """``{"HR@5": …, "NDCG@5": …, "HR@10": …, …}`` for one set of users."""
    out = {}
    for k in ks:
        out[f"HR@{k}"] = hit_rate(topk, targets, k)
        out[f"NDCG@{k}"] = ndcg(topk, targets, k)
    return out


def evaluate(
    model: Recommender, split: Split, which: str = "test", ks: Sequence[int] = DEFAULT_KS
) -> dict:
    """Score ``model`` on the ``which`` part of ``split``: all users, warm targets, new arrivals.

    Returns ``{"all": {...}, "warm": {...}, "new": {...}, "n_users": …, "n_new": …}``.
    New-arrival targets are items never seen in training (the split's ``new_items``).
    """
    histories, targets = split.histories(which), split.targets(which)
    topk = np.asarray(model.recommend(histories, max(ks)))
    _check_no_repeats(topk)  # here, so an error names the user's row, not a warm/new subset's
    is_new = split.target_is_new(which)
    return {
        "all": ranking_metrics(topk, targets, ks),
        "warm": ranking_metrics(topk[~is_new], targets[~is_new], ks),
        "new": ranking_metrics(topk[is_new], targets[is_new], ks),
        "n_users": int(len(targets)),
        "n_new": int(is_new.sum()),
    }


def coverage(topk: np.ndarray, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's list."""
    return float(len(np.unique(np.asarray(topk))) / n_items)


def intra_list_diversity(topk: np.ndarray, item_vectors: np.ndarray) -> float:
    """Mean pairwise cosine *distance* between the items of each list, averaged over users.

    ``item_vectors`` are item embeddings (rows); 0 means every list repeats one kind of item.
    """
    topk = np.asarray(topk)
    if topk.shape[1] < 2:
        raise ValueError("intra-list diversity needs lists of at least 2 items")
    v = np.asarray(item_vectors, dtype=np.float64)
    v = v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
    lists = v[topk]  # (users, k, d)
    sims = np.einsum("ukd,uld->ukl", lists, lists)
    k = topk.shape[1]
    off_diag = (sims.sum(axis=(1, 2)) - np.trace(sims, axis1=1, axis2=2)) / (k * (k - 1))
    return float(np.mean(1.0 - off_diag))


def results_table(results: dict[str, dict], k: int = 10) -> pd.DataFrame:
    """One row per model from :func:`evaluate` outputs: HR@k and NDCG@k on all, warm, new."""
    rows = {
        name: {f"{part} {metric}@{k}": r[part][f"{metric}@{k}"]
               for part in ("all", "warm", "new") for metric in ("HR", "NDCG")}
        for name, r in results.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index").round(4)
