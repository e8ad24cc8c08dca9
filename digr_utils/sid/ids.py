"""Semantic IDs: code tuples made unique by a suffix, their tokens, and a prefix trie.

Two items can get the same codes (they look the same to the quantiser). A generative model must
name exactly one item, so TIGER appends a suffix position: 0 for the first item with a tuple,
1 for the second, and so on. Each position then gets its own token range, so "code 3 at level 1"
and "code 3 at level 2" are different tokens.
"""
from __future__ import annotations

import os
import string
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digr_utils.io import ArtifactError, write_atomic


def assign_suffix(codes: np.ndarray) -> np.ndarray:
    """``codes`` ``(n, L)`` with one more column: 0, 1, 2, ... over the items that share a
    tuple, in item order, so every row is unique."""
    codes = validate_codes(codes, "assign_suffix")
    n = len(codes)
    if n == 0:
        return np.zeros((0, codes.shape[1] + 1), dtype=np.int64)
    group = np.unique(codes, axis=0, return_inverse=True)[1].ravel()
    order = np.argsort(group, kind="stable")  # stable: within a group, item order is kept
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    first_of_group = np.repeat(starts, np.diff(np.r_[starts, n]))
    suffix = np.empty(n, dtype=np.int64)
    suffix[order] = np.arange(n) - first_of_group
    return np.column_stack([codes, suffix])


@dataclass(eq=False)  # arrays have no single truth value; compare .codes instead
class SemanticIds:
    """Each item's semantic ID: ``codes`` ``(n_items, D)`` int64, the suffix last; ``item_ids``
    the source's ids; ``sizes`` the vocabulary size of each position."""

    codes: np.ndarray
    item_ids: np.ndarray
    sizes: tuple[int, ...]
    _rows: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.codes = validate_codes(self.codes, "SemanticIds")
        self.item_ids = np.asarray(self.item_ids, dtype=str)
        self.sizes = tuple(int(s) for s in self.sizes)
        n, depth = self.codes.shape
        if len(self.item_ids) != n or len(self.sizes) != depth:
            raise ValueError(f"SemanticIds: codes {self.codes.shape} need {n} item_ids and "
                             f"{depth} sizes; got {len(self.item_ids)} and {len(self.sizes)}")
        if depth > len(string.ascii_lowercase):
            raise ValueError(f"SemanticIds: {depth} positions; labels use one letter each, "
                             f"so at most {len(string.ascii_lowercase)}")
        if n and (self.codes.max(0) >= np.array(self.sizes)).any():
            raise ValueError(f"SemanticIds: codes reach {self.codes.max(0).tolist()} but sizes "
                             f"are {list(self.sizes)}; every code must be below its size")
        self._rows = {tuple(row): i for i, row in enumerate(self.codes.tolist())}
        if len(self._rows) != n:
            raise ValueError("SemanticIds: two items have the same codes; build with "
                             "SemanticIds.from_codes, which appends the separating suffix")

    @classmethod
    def from_codes(cls, codes: np.ndarray, item_ids, codebook_size: int) -> SemanticIds:
        """IDs from quantiser codes ``(n, L)`` (without suffix) with ``codebook_size`` per level."""
        full = assign_suffix(codes)
        sizes = (codebook_size,) * (full.shape[1] - 1) + (int(full[:, -1].max(initial=0)) + 1,)
        return cls(full, item_ids, sizes)

    @property
    def depth(self) -> int:
        return self.codes.shape[1]

    @property
    def vocab_size(self) -> int:
        """Tokens a generative model needs for all positions: ``sum(sizes)``."""
        return sum(self.sizes)

    def sid(self, i: int) -> tuple[int, ...]:
        return tuple(int(c) for c in self.codes[i])

    def item_of(self, sid) -> int | None:
        """The item (row) whose ID is ``sid``, or None if no item has it."""
        return self._rows.get(tuple(int(c) for c in sid))

    def token_ids(self, offset: int = 0) -> np.ndarray:
        """``(n, D)`` tokens: position p, code c -> ``offset + sum(sizes[:p]) + c``."""
        starts = offset + np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        return self.codes + starts.astype(np.int64)

    def label(self, i: int) -> str:
        """Readable ID such as ``<a_12><b_3><c_250><d_0>`` (position letter, code)."""
        return "".join(f"<{string.ascii_lowercase[p]}_{c}>" for p, c in enumerate(self.sid(i)))

    def collision_rate(self) -> float:
        """Share of items whose codes before the suffix equal another item's."""
        if not len(self.codes):
            return 0.0
        _, group, counts = np.unique(self.codes[:, :-1], axis=0, return_inverse=True,
                                     return_counts=True)
        return float((counts[group.ravel()] > 1).mean())

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` (``.npz``) atomically."""
        write_atomic(path, lambda f: np.savez(f, codes=self.codes, item_ids=self.item_ids,
                                              sizes=np.array(self.sizes)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> SemanticIds:
        """Read what :meth:`save` wrote; a missing, truncated or foreign file says which."""
        fix = "write it with SemanticIds.save (digr sids builds it)"
        if not Path(path).exists():
            raise FileNotFoundError(f"SemanticIds.load: no file {path}; {fix}")
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["codes"], data["item_ids"], tuple(data["sizes"].tolist()))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
            raise ArtifactError(f"SemanticIds.load: {path} cannot be read as semantic IDs "
                                f"({err.__class__.__name__}: {str(err)[:120]}); it is damaged "
                                f"or truncated; delete it and {fix}") from err


class PrefixTrie:
    """The prefixes of the rows of an ``(n, D)`` code (or token) matrix, as nested dicts.

    ``allowed(prefix)`` lists the codes that may follow, which is how constrained decoding
    keeps every generated ID a real item.
    """

    def __init__(self, codes: np.ndarray) -> None:
        self._codes = validate_codes(codes, "PrefixTrie")
        self._root: dict = {}
        for row in self._codes.tolist():
            node = self._root
            for c in row:
                node = node.setdefault(c, {})

    @property
    def depth(self) -> int:
        return self._codes.shape[1]

    def allowed(self, prefix=()) -> np.ndarray:
        """Sorted codes that can follow ``prefix``; empty after a full ID or an unknown prefix."""
        node = self._node(prefix)
        return np.array(sorted(node) if node else [], dtype=np.int64)

    def __contains__(self, prefix) -> bool:
        """True when ``prefix`` (of any length up to ``depth``) starts some row."""
        return self._node(prefix) is not None

    def items_with_prefix(self, prefix) -> np.ndarray:
        """Rows (items) whose codes start with ``prefix``, ascending."""
        prefix = np.asarray(prefix, dtype=np.int64)
        if len(prefix) > self.depth:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero((self._codes[:, :len(prefix)] == prefix).all(axis=1))

    def _node(self, prefix) -> dict | None:
        node = self._root
        for c in prefix:
            node = node.get(int(c))
            if node is None:
                return None
        return node


def validate_codes(codes, caller: str) -> np.ndarray:
    """``codes`` as an int64 ``(n, L)`` array of non-negative codes, or a ValueError."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or (codes.size and not np.issubdtype(codes.dtype, np.integer)):
        raise ValueError(f"{caller}: codes must be an (n_items, levels) integer array; got "
                         f"shape {codes.shape}, dtype {codes.dtype}")
    if codes.size and codes.min() < 0:
        raise ValueError(f"{caller}: codes must be >= 0; found {codes.min()}")
    return codes.astype(np.int64)
