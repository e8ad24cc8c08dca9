"""Item representations: shallow (surface text) and deep (surface fused with mined interests).

A mean-pooled sentence encoder barely moves when a few interest sentences are appended to a
long description, so the deep representation embeds the kept interests (and the visual cues)
*separately* and fuses the vectors. Every function returns unit-length float32 rows, so a dot
product is a cosine and the result can go straight to nearest neighbours or an RQ-VAE.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from digr_utils.embed import encode_or

#: Fusion modes: ``sum`` = weighted sum of unit vectors, renormalised; ``concat`` = the weighted
#: parts side by side (wider vectors, each part keeps its own geometry).
FUSION_MODES = ("sum", "concat")


def interest_vectors(interests: Sequence[Sequence[str]],
                     embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                     cache_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per item, the normalised mean embedding of its interest texts, and a mask of items that
    have any. Items without interests get a zero row (fusion then keeps their surface vector)."""
    texts = sorted({t for item in interests for t in item if t.strip()})
    has = np.array([any(t.strip() for t in item) for item in interests], dtype=bool)
    if not texts:
        return np.zeros((len(interests), 0), dtype=np.float32), has
    vectors = encode_or(texts, embed_fn, cache_dir, "interest_vectors")
    where = {t: k for k, t in enumerate(texts)}
    out = np.zeros((len(interests), vectors.shape[1]), dtype=np.float32)
    for i, item in enumerate(interests):
        rows = [where[t] for t in item if t.strip()]
        if rows:
            out[i] = vectors[rows].mean(axis=0)
    return _unit(out), has


def fuse(surface: np.ndarray, parts: Sequence[tuple[np.ndarray, float]],
         mode: str = "sum") -> np.ndarray:
    """Fuse unit surface vectors with weighted parts (e.g. ``[(interests, 1.0), (cues, 0.3)]``).

    A part's zero rows (an item with no kept interests) add nothing, so such items keep their
    surface meaning. ``sum`` needs every part in the surface's space (same encoder, same width).
    """
    if mode not in FUSION_MODES:
        raise ValueError(f"fuse: mode={mode!r}; choose one of {FUSION_MODES}")
    surface = np.asarray(surface, dtype=np.float32)
    pieces = [surface]
    for k, (vectors, weight) in enumerate(parts):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape[0] != surface.shape[0]:
            raise ValueError(f"fuse: part {k} has {vectors.shape[0]} rows for {surface.shape[0]} "
                             "items; pass one row per item (zeros where an item has none)")
        if not np.isfinite(vectors).all():
            raise ValueError(f"fuse: part {k} holds NaN or infinite values in "
                             f"{int((~np.isfinite(vectors)).any(axis=1).sum())} rows")
        if vectors.shape[1] == 0:  # no item has this part at all
            vectors = np.zeros_like(surface)
        if mode == "sum" and vectors.shape[1] != surface.shape[1]:
            raise ValueError(f"fuse: part {k} has width {vectors.shape[1]} but the surface "
                             f"{surface.shape[1]}; embed both with the same encoder or use mode='concat'")
        pieces.append(weight * vectors)
    if mode == "sum":
        return _unit(np.sum(pieces, axis=0))
    return _unit(np.hstack(pieces))


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0).astype(np.float32)
