"""The semantic IDs a processed dataset ships with (LETTER, MiniOneRec), as :class:`SemanticIds`.

A folder without item text cannot get IDs from the course's RQ-VAE, but LETTER and MiniOneRec
publish the IDs their own quantisers gave: ``meta["sids"]`` holds them as token strings, one
list per item, ``["<a_12>", "<b_3>", ...]`` (letter = level, number = code).
"""
from __future__ import annotations

import re
import string

import numpy as np

from digr_utils.data.dataset import Dataset
from digr_utils.sid.ids import SemanticIds, assign_suffix

_TOKEN = re.compile(r"<([a-z])_(\d+)>")


def published_sids(ds: Dataset) -> SemanticIds:
    """``ds.meta["sids"]`` as :class:`SemanticIds`, rows in ``ds.items`` order.

    Each level's size is its largest published code + 1. Published IDs can collide: the shared
    MiniOneRec Industrial IDs (3 levels) do, and so do a few of LETTER's 4-level Beauty and
    Instruments IDs. When any two items share an ID, the course's suffix level is appended
    (:func:`~digr_utils.sid.ids.assign_suffix`: 0, 1, ... in item order) so every item has
    its own; otherwise the IDs stay as published, without a suffix.
    """
    published = ds.meta.get("sids")
    if published is None:
        raise ValueError(f"published_sids: dataset {ds.name!r} has no published semantic IDs "
                         "(meta['sids']); only LETTER and MiniOneRec folders with a "
                         "<name>.index.json have them. Fix: build IDs with the RQ-VAE instead")
    item_ids = ds.items["item_id"].astype(str).tolist()
    missing = [i for i in item_ids if i not in published]
    if missing:
        raise ValueError(f"published_sids: {len(missing)} of {len(item_ids)} items of "
                         f"{ds.name!r} have no published ID (item {missing[0]!r} first). Fix: use "
                         "the index.json made for these interactions, or build IDs with the RQ-VAE")
    rows = [_parse(item, published[item]) for item in item_ids]
    depths = sorted({len(row) for row in rows})
    if len(depths) > 1:
        raise ValueError(f"published_sids: items of {ds.name!r} have IDs of {depths} levels "
                         f"(item {item_ids[0]!r}: {len(rows[0])}); every item needs the same "
                         "number. Fix the index.json")
    codes = np.array(rows, dtype=np.int64)
    if len(np.unique(codes, axis=0)) < len(codes):
        codes = assign_suffix(codes)
    return SemanticIds(codes, item_ids, tuple(int(m) + 1 for m in codes.max(axis=0)))


def _parse(item: str, tokens) -> list[int]:
    """``["<a_12>", "<b_3>"]`` -> ``[12, 3]``; the letter must name the token's level."""
    if not isinstance(tokens, (list, tuple)) or not tokens:
        raise ValueError(f"published_sids: item {item!r}: ID {tokens!r} must be a non-empty list "
                         "of tokens like ['<a_12>', '<b_3>']. Fix that entry of the index.json")
    codes = []
    for level, token in enumerate(tokens):
        m = _TOKEN.fullmatch(str(token))
        letter = string.ascii_lowercase[level] if level < 26 else "?"
        if m is None or m.group(1) != letter:
            raise ValueError(f"published_sids: item {item!r}: token {token!r} at level "
                             f"{level + 1} does not parse; expected <{letter}_N> with N a code "
                             "number. Fix that entry of the index.json")
        codes.append(int(m.group(2)))
    return codes
