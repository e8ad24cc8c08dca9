"""Residual k-means: semantic codes without training, the simple baseline to the RQ-VAE.

Level 1 clusters the embeddings, level 2 clusters what level 1 left over (each row minus its
centroid), and so on. The RQ-VAE also uses it to initialise its codebooks on its latents.
"""
from __future__ import annotations

import numpy as np

# faiss's default (20) is tuned for big data; residuals of small catalogues settle in fewer.
_NITER = 25


def validate_embeddings(embeddings, codebook_size: int, caller: str,
                        in_dim: int | None = None) -> np.ndarray:
    """``embeddings`` as a float32 ``(n, d)`` array, or a ValueError naming what is wrong.

    Checks the shape, the width (when ``in_dim`` is given), finite values, and that there are
    at least ``codebook_size`` rows (k-means needs one row per centroid).
    """
    x = np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32))
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{caller}: embeddings must be a non-empty (n_items, dim) array; "
                         f"got shape {x.shape}")
    if in_dim is not None and x.shape[1] != in_dim:
        raise ValueError(f"{caller}: embeddings have dim {x.shape[1]} but the config has "
                         f"in_dim={in_dim}; build the config with in_dim={x.shape[1]}")
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if len(bad):
        raise ValueError(f"{caller}: {len(bad)} embedding row(s) hold NaN or inf, the first is "
                         f"row {bad[0]}; re-embed those items or drop them")
    if len(x) < codebook_size:
        raise ValueError(f"{caller}: {len(x)} items are fewer than codebook_size={codebook_size}; "
                         f"use codebook_size <= {len(x)} (RQVAEConfig.for_items picks one)")
    return x


def residual_kmeans(embeddings: np.ndarray, levels: int, codebook_size: int,
                    seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Codes ``(n, levels)`` int64 and one ``(codebook_size, d)`` centroid array per level."""
    x = validate_embeddings(embeddings, codebook_size, "residual_kmeans")
    return _residual_kmeans(x, levels, codebook_size, seed)


def _residual_kmeans(x: np.ndarray, levels: int, codebook_size: int,
                     seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    import faiss

    residual = x.copy()
    rng = np.random.default_rng(seed)
    codes = np.empty((len(x), levels), dtype=np.int64)
    centroids = []
    for level in range(levels):
        # min_points_per_centroid=1: small catalogues are the point here, not a mistake to warn of
        km = faiss.Kmeans(x.shape[1], codebook_size, niter=_NITER, seed=seed + level,
                          min_points_per_centroid=1)
        km.train(residual, init_centroids=_kmeans_plus_plus(residual, codebook_size, rng))
        _, assign = km.index.search(residual, 1)
        codes[:, level] = assign[:, 0]
        centroids.append(km.centroids.copy())
        residual -= km.centroids[codes[:, level]]
    return codes, centroids


def _kmeans_plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds: each next centre drawn with probability ~ squared distance to the
    nearest chosen one. faiss seeds at random, which often leaves two centres in one of a few
    well-separated clusters and none in another."""
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(len(x))]
    d2 = ((x - centres[0]) ** 2).sum(1, dtype=np.float64)
    for j in range(1, k):
        total = d2.sum()
        # duplicates can leave nothing uncovered; any point is then as good as another
        pick = rng.choice(len(x), p=d2 / total) if total > 0 else rng.integers(len(x))
        centres[j] = x[pick]
        d2 = np.minimum(d2, ((x - centres[j]) ** 2).sum(1, dtype=np.float64))
    return centres
