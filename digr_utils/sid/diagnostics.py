"""How good are the codes: codebook use, collisions, what items sharing a code have in common."""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
import torch

from digr_utils.sid.ids import validate_codes
from digr_utils.sid.rqvae import RQVAE


def codebook_usage(codes: np.ndarray, codebook_size: int) -> pd.DataFrame:
    """One row per level: ``used`` (share of codes picked by some item), ``perplexity``
    (exp of the entropy of the code distribution: codebook_size at best) and ``max_bucket``."""
    codes = validate_codes(codes, "codebook_usage")
    if codes.size and codes.max() >= codebook_size:
        raise ValueError(f"codebook_usage: codes reach {codes.max()} but codebook_size="
                         f"{codebook_size}; pass the size the codes were made with")
    rows = []
    for level in range(codes.shape[1]):
        counts = np.bincount(codes[:, level], minlength=codebook_size)
        p = counts[counts > 0] / counts.sum()
        rows.append({"level": level + 1, "used": float((counts > 0).sum() / codebook_size),
                     "perplexity": float(np.exp(-(p * np.log(p)).sum())),
                     "max_bucket": int(counts.max())})
    return pd.DataFrame(rows).set_index("level")


def collision_histogram(codes: np.ndarray) -> pd.Series:
    """Group size -> number of items in groups of that size (groups = identical code tuples)."""
    codes = validate_codes(codes, "collision_histogram")
    _, group, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    sizes = pd.Series(counts[group.ravel()])
    return sizes.value_counts().sort_index().rename_axis("group_size").rename("items")


def shared_code_purity(codes: np.ndarray, labels_a: Sequence, labels_b: Sequence | None = None,
                       depth: int = 1) -> dict:
    """Of the item pairs sharing their first ``depth`` codes, the share that share a label.

    Labels are one scalar per item (product type) or one small set per item (hidden motives;
    sets "share" when they intersect). ``floor`` is the same share over all pairs: what random
    codes would give. ``labels_b``, if given, is scored on the same pairs (``share_b``,
    ``floor_b``), e.g. product type next to motives. Counts are exact and need no loop over
    pairs: pairs sharing a label are counted by inclusion-exclusion over each item's label subsets.
    """
    codes = validate_codes(codes, "shared_code_purity")
    if not 1 <= depth <= codes.shape[1]:
        raise ValueError(f"shared_code_purity: depth={depth} but codes have {codes.shape[1]} "
                         f"levels; choose 1 <= depth <= {codes.shape[1]}")
    group = np.unique(codes[:, :depth], axis=0, return_inverse=True)[1].ravel()
    pairs = int(_pairs(np.bincount(group)).sum())
    out = {"pairs": pairs}
    for suffix, labels in (("", labels_a), ("_b", labels_b)):
        if labels is None:
            continue
        if len(labels) != len(codes):
            raise ValueError(f"shared_code_purity: labels{suffix or '_a'} has {len(labels)} "
                             f"entries for {len(codes)} items; pass one label per item")
        out[f"share{suffix}"] = _share(group, labels, pairs)
        out[f"floor{suffix}"] = _share(np.zeros(len(codes), dtype=np.int64), labels,
                                       len(codes) * (len(codes) - 1) // 2)
    return out


@torch.no_grad()
def reconstruction_error(model: RQVAE, embeddings: np.ndarray) -> float:
    """Mean per-item squared error of the RQ-VAE's reconstruction (the training ``recon``)."""
    model.eval()
    x = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=model.codebooks.device)
    return float(model(x)[2]["recon"])


def _pairs(counts: np.ndarray) -> np.ndarray:
    return counts * (counts - 1) // 2


def _share(group: np.ndarray, labels: Sequence, pairs: int) -> float:
    return _pairs_sharing(group, labels) / pairs if pairs else float("nan")


def _pairs_sharing(group: np.ndarray, labels: Sequence) -> int:
    """Pairs in the same group whose labels intersect: sum over label subsets S of
    (-1)^(|S|+1) * pairs(items in the group whose labels contain S)."""
    rows = []
    for g, item_labels in zip(group.tolist(), labels, strict=True):
        if isinstance(item_labels, (set, frozenset, list, tuple)):
            item_labels = sorted(set(item_labels))
        else:
            item_labels = [item_labels]
        for size in range(1, len(item_labels) + 1):
            rows.extend((g, subset) for subset in combinations(item_labels, size))
    if not rows:
        return 0
    counts = pd.Series(rows).value_counts()
    sign = np.where(np.array([len(s) for _, s in counts.index]) % 2 == 1, 1, -1)
    return int((sign * _pairs(counts.to_numpy())).sum())
