"""Merging several LLMs' interests: one list per item, with agreement counts and confidences.

Each LLM words the same motive its own way, so merging must group paraphrases, not strings:
texts are normalised, embedded, and linked when their cosine similarity reaches a threshold
(faiss range search on the item's few vectors); a group's support is how many distinct LLMs
said it. :func:`contribution` then shows what each LLM adds that the others do not.
"""
from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd

from digr_utils.embed import encode_or
from digr_utils.interests.types import Interest, Mined

#: MiniLM cosine of "preparing for a long-distance race" vs "training for a marathon" is 0.60;
#: the closest paraphrases of *different* simulated motives reach 0.57.
DEFAULT_THRESHOLD = 0.6

#: Confidence given to an interest whose LLM did not state one.
MISSING_CONFIDENCE = 0.5


@dataclass(frozen=True)
class MergedInterest:
    """One group of paraphrases: its wording, merged confidence and which LLMs agreed."""

    text: str
    confidence: float
    support: int
    sources: tuple[str, ...]
    members: tuple[str, ...]


def normalise(text: str) -> str:
    """Lowercase, punctuation to spaces, whitespace collapsed: the key two wordings share."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower())).strip()


def merge_interests(
    mined_by_llm: dict[str, Sequence[Mined]],
    threshold: float = DEFAULT_THRESHOLD,
    embed_fn: Callable[[list[str]], np.ndarray] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> list[list[MergedInterest]]:
    """Merge, item by item, the interests several LLMs mined; lists are aligned by position.

    Two texts join a group when their cosine similarity is >= ``threshold`` (groups are the
    connected components of that link). Per group: ``text`` is the member with the highest
    confidence (ties: the wording most LLMs used), ``support`` the number of distinct LLMs,
    ``confidence`` a noisy-or over those LLMs, 1 - prod(1 - c_k), with c_k the LLM's highest
    confidence in the group (missing = :data:`MISSING_CONFIDENCE`): agreement between
    LLMs raises belief, treating them as independent witnesses. Groups are sorted by support,
    then confidence. ``embed_fn`` maps texts to unit rows; by default the bundled MiniLM,
    cached in ``cache_dir``.
    """
    n_items = _check_aligned(mined_by_llm)
    entries = [_item_entries(mined_by_llm, i) for i in range(n_items)]
    keys = sorted({key for item in entries for key, _, _, _ in item})
    if not keys:
        return [[] for _ in range(n_items)]
    vectors = encode_or(keys, embed_fn, cache_dir, "merge_interests")
    row = {k: i for i, k in enumerate(keys)}
    with _one_faiss_thread():
        return [_merge_item(item, vectors, row, threshold) for item in entries]


def to_mined(
    merged: list[list[MergedInterest]], entities: Sequence[str], min_support: int = 1,
    name: str = "merged",
) -> list[Mined]:
    """Merged lists as :class:`Mined` answers (groups with ``support >= min_support``).

    Lets the tools made for one LLM's answers (e.g. ``simulated.precision_recall``) score a merge.
    """
    if len(merged) != len(entities):
        raise ValueError(f"to_mined: {len(merged)} merged items but {len(entities)} entities; "
                         "pass one entity id per item, in the same order")
    return [Mined(entity=str(e), backend="merge", model=name,
                  interests=[Interest(g.text, g.confidence) for g in groups
                             if g.support >= min_support])
            for e, groups in zip(entities, merged)]


def contribution(
    mined_by_llm: dict[str, Sequence[Mined]],
    merged: list[list[MergedInterest]],
    truth: Sequence[set[str]] | None = None,
    truth_fn: Callable[[str], str | None] | None = None,
) -> pd.DataFrame:
    """What each LLM adds: one row per LLM.

    Columns: ``interests`` it wrote, merged groups it ``supports``, groups only it found
    (``unique``) and their share. With ``truth`` (one set of true keys per item) and
    ``truth_fn`` (group text -> key or None), also ``precision`` of the groups it supports and
    ``unique_precision`` of those only it found.
    """
    if (truth is None) != (truth_fn is None):
        raise ValueError("contribution: pass both `truth` and `truth_fn`, or neither")
    if truth is not None and len(truth) != len(merged):
        raise ValueError(f"contribution: {len(truth)} truth sets but {len(merged)} merged items; "
                         "pass one truth set per item, in the same order")
    rows = []
    for llm, answers in mined_by_llm.items():
        supported = [(i, g) for i, groups in enumerate(merged) for g in groups if llm in g.sources]
        unique = [(i, g) for i, g in supported if g.support == 1]
        row = {"llm": llm, "interests": sum(len(a.interests) for a in answers),
               "supports": len(supported), "unique": len(unique),
               "unique_share": len(unique) / len(supported) if supported else 0.0}
        if truth is not None:
            row["precision"] = _precision(supported, truth, truth_fn)
            row["unique_precision"] = _precision(unique, truth, truth_fn)
        rows.append(row)
    return pd.DataFrame(rows).set_index("llm")


def _precision(groups: list[tuple[int, MergedInterest]], truth, truth_fn) -> float:
    hits = sum(truth_fn(g.text) in truth[i] for i, g in groups)
    return hits / len(groups) if groups else float("nan")


def _check_aligned(mined_by_llm: dict[str, Sequence[Mined]]) -> int:
    if not mined_by_llm:
        raise ValueError("merge_interests: no LLMs given; pass {llm_name: [Mined per item]}")
    lengths = {llm: len(answers) for llm, answers in mined_by_llm.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"merge_interests: lists differ in length {lengths}; every LLM needs "
                         "one answer per item in the same order (a failed call is a Mined with "
                         "`error` set, not a missing entry)")
    first_llm, first = next(iter(mined_by_llm.items()))
    for llm, answers in mined_by_llm.items():
        for i, (a, b) in enumerate(zip(first, answers)):
            if a.entity != b.entity:
                raise ValueError(f"merge_interests: item {i} is {b.entity!r} for {llm!r} but "
                                 f"{a.entity!r} for {first_llm!r}; sort every list by entity")
    return len(first)


def _item_entries(mined_by_llm, i: int) -> list[tuple[str, str, str, float | None]]:
    """(normalised key, original text, llm, confidence) of every interest of item ``i``."""
    return [(normalise(it.text), it.text.strip(), llm, it.confidence)
            for llm, answers in mined_by_llm.items() for it in answers[i].interests
            if normalise(it.text)]


def _merge_item(entries, vectors: np.ndarray, row: dict[str, int],
                threshold: float) -> list[MergedInterest]:
    if not entries:
        return []
    keys = sorted({e[0] for e in entries})
    labels = _components(vectors[[row[k] for k in keys]], threshold)
    group_of = dict(zip(keys, labels))
    merged = [_summarise([e for e in entries if group_of[e[0]] == g]) for g in set(labels)]
    return sorted(merged, key=lambda m: (-m.support, -m.confidence, m.text))


@contextmanager
def _one_faiss_thread() -> Iterator[None]:
    """Run faiss single-threaded: on a handful of vectors per item, OpenMP start-up costs
    ~100x the search itself (5.6 s vs 0.06 s for 827 items on a busy 2-core machine)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _components(x: np.ndarray, threshold: float) -> list[int]:
    """Connected components of the graph 'cosine >= threshold' (faiss range search)."""
    import faiss

    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    # faiss keeps inner products strictly above the radius; a hair below makes it ">="
    lims, _, neighbours = index.range_search(x, threshold - 1e-6)
    parent = list(range(len(x)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in range(len(x)):
        for j in neighbours[lims[i]:lims[i + 1]]:
            parent[find(int(j))] = find(i)
    return [find(i) for i in range(len(x))]


def _summarise(group) -> MergedInterest:
    conf = {}
    for _, _, llm, c in group:
        value = MISSING_CONFIDENCE if c is None else float(c)
        conf[llm] = max(conf.get(llm, 0.0), value)
    votes = Counter(key for key, _, _, _ in group)
    # the best member: highest confidence, then the key most often used, then alphabetical
    best = min(group, key=lambda e: (-(MISSING_CONFIDENCE if e[3] is None else e[3]),
                                     -votes[e[0]], e[1]))
    sources = tuple(sorted(conf))
    return MergedInterest(
        text=best[1],
        confidence=round(1.0 - float(np.prod([1.0 - c for c in conf.values()])), 4),
        support=len(sources),
        sources=sources,
        members=tuple(sorted({text for _, text, _, _ in group})),
    )
