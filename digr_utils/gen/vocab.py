"""The token vocabulary of the generative recommender: specials, task tokens, SID codes, words.

Each semantic-ID position has its own block of tokens, so code 3 at position 0 and code 3 at
position 1 are different tokens: the model never confuses a coarse cluster with a fine one.
A small word vocabulary lets the auxiliary tasks tie SIDs to the items' interest texts.
"""
from __future__ import annotations

import os
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from digr_utils.io import ArtifactError, read_json, write_json_atomic

PAD, EOS, UNK = 0, 1, 2  # PAD doubles as T5's decoder start token
NEXT, INT2SID, SID2INT = 3, 4, 5  # task tokens: which job the encoder input asks for
_SPECIAL_NAMES = ("<pad>", "</s>", "<unk>", "<next>", "<int2sid>", "<sid2int>")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(eq=False)
class SidVocab:
    """Token ids: specials 0-5, then one token per (position, code), then ``words``.

    Position ``p`` code ``c`` is token ``sid_offset + sum(sizes[:p]) + c``. ``codes`` is every
    item's semantic ID, ``(n_items, D)``, the last column a collision suffix.
    """

    codes: np.ndarray = field(repr=False)
    sizes: tuple[int, ...]
    words: list[str] = field(repr=False)

    sid_offset: ClassVar[int] = len(_SPECIAL_NAMES)

    def __post_init__(self) -> None:
        self._tokens = self.item_tokens()
        self._word_ids = {w: self.word_offset + k for k, w in enumerate(self.words)}

    @classmethod
    def build(cls, sid_codes: np.ndarray, sizes: Sequence[int],
              interest_texts: Sequence[Sequence[str]] | None = None,
              min_count: int = 2, max_words: int = 2000) -> SidVocab:
        """Vocabulary of ``sid_codes`` (checked) plus the ``max_words`` most frequent words of
        ``interest_texts`` seen at least ``min_count`` times (ties alphabetical)."""
        sizes = tuple(int(s) for s in sizes)
        codes = _check_codes(np.asarray(sid_codes), sizes)
        counts = Counter(w for texts in (interest_texts or []) for text in texts
                         for w in _words(text))
        ranked = sorted((w for w, n in counts.items() if n >= min_count),
                        key=lambda w: (-counts[w], w))
        return cls(codes, sizes, ranked[:max_words])

    @property
    def n_items(self) -> int:
        return len(self.codes)

    @property
    def word_offset(self) -> int:
        return self.sid_offset + sum(self.sizes)

    @property
    def vocab_size(self) -> int:
        return self.word_offset + len(self.words)

    def item_tokens(self) -> np.ndarray:
        """Every item's SID as decoder tokens, ``(n_items, D)`` int64: what beam search emits."""
        starts = self.sid_offset + np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        return (self.codes + starts).astype(np.int64)

    def encode_history(self, items: Sequence[int] | np.ndarray) -> list[int]:
        """``<next>`` followed by the SID tokens of each item position in ``items``, oldest first."""
        return [NEXT, *self._tokens[np.asarray(items, dtype=np.int64)].ravel().tolist()]

    def encode_words(self, text: str) -> list[int]:
        """The lower-cased words of ``text`` as tokens; words outside the vocabulary become UNK."""
        return [self._word_ids.get(w, UNK) for w in _words(text)]

    def decode(self, tokens: Sequence[int]) -> str:
        """Readable text: ``<a_12><b_3><c_0>`` per item, words and task tokens space-separated.

        Padding and label padding (-100) are skipped, so a row of labels decodes too.
        """
        out: list[str] = []
        bounds = np.cumsum(self.sizes)
        for t in (int(t) for t in tokens):
            if t < 0 or t == PAD:
                continue
            if t < self.sid_offset:
                out.append(" " + _SPECIAL_NAMES[t])
            elif t < self.word_offset:
                p = int(np.searchsorted(bounds, t - self.sid_offset, side="right"))
                code = t - self.sid_offset - (bounds[p - 1] if p else 0)
                # a new item starts at position 0; its later positions follow without a space
                out.append(("" if p else " ") + f"<{string.ascii_lowercase[p]}_{code}>")
            elif t < self.vocab_size:
                out.append(" " + self.words[t - self.word_offset])
            else:
                raise ValueError(f"SidVocab.decode: token {t} is outside the vocabulary "
                                 f"(size {self.vocab_size}); decode tokens made by this vocab")
        return "".join(out).strip()

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary as JSON (atomically)."""
        payload = {"sizes": list(self.sizes), "codes": self.codes.tolist(), "words": self.words}
        write_json_atomic(path, payload, indent=None)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SidVocab:
        """Read a vocabulary written by :meth:`save`; a missing or damaged file says which."""
        fix = "build the vocabulary with SidVocab.build(...) and save it there again"
        payload = read_json(path, fix=fix)
        if not isinstance(payload, dict) or not {"sizes", "codes", "words"} <= payload.keys():
            raise ArtifactError(f"SidVocab.load: {path} is JSON but not a vocabulary (no sizes, "
                                f"codes and words); {fix}")
        sizes = tuple(payload["sizes"])
        codes = np.asarray(payload["codes"], dtype=np.int64).reshape(-1, len(sizes))
        return cls(_check_codes(codes, sizes), sizes, list(payload["words"]))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _check_codes(codes: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    """``codes`` as int64 if it is a valid ``(n_items, len(sizes))`` table of distinct rows."""
    if codes.ndim != 2 or codes.shape[1] != len(sizes) or not len(codes):
        raise ValueError(f"SidVocab.build: sid_codes must be (n_items, D) with D = len(sizes) = "
                         f"{len(sizes)} and n_items >= 1, got shape {codes.shape}; pass one "
                         "code per SID position (suffix included) and one size per position")
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"SidVocab.build: sid_codes has dtype {codes.dtype}; pass integer codes")
    if len(sizes) > len(string.ascii_lowercase):
        raise ValueError(f"SidVocab.build: {len(sizes)} SID positions; at most 26 are supported")
    for p, size in enumerate(sizes):
        column = codes[:, p]
        if column.min() < 0 or column.max() >= size:
            raise ValueError(f"SidVocab.build: position {p} has codes {column.min()}..{column.max()}"
                             f" but sizes[{p}] = {size}; sizes must count the codes at each "
                             "position (codes 0..size-1)")
    if len(np.unique(codes, axis=0)) != len(codes):
        raise ValueError("SidVocab.build: two items share a semantic ID; add the collision suffix "
                         "column so every row of sid_codes is distinct")
    return codes.astype(np.int64)
