"""Measurements that show the bundled shop poses the problem the course solves.

Each figure answers one question a sceptical reader should ask of a synthetic dataset: do
surface and motive really disagree, do the clues carry anything, do motives drive behaviour,
is the data as sparse as real Amazon data.
"""
from __future__ import annotations

import re

import numpy as np

from digr_utils.data.dataset import leave_one_out
from digr_utils.data.vocabulary import ACTIVITY_WORDS, MOTIVES, PRODUCT_TYPES
from digr_utils.data.world import Shop
from digr_utils.embed import nearest_neighbors, neighbor_agreement


def behaviour_report(shop: Shop) -> dict:
    """Figures about users and sequences (no embeddings needed)."""
    ds = shop.dataset
    motives = shop.motive_sets()
    types = ds.items["product_type"].to_numpy()
    shares, repeats = [], []
    for seq in ds.sequences():
        for j in range(1, len(seq)):
            recent = set().union(*(motives[i] for i in seq[max(0, j - 3): j]))
            if j >= 3:
                shares.append(bool(motives[seq[j]] & recent))
            repeats.append(types[seq[j]] == types[seq[j - 1]])
    split = leave_one_out(ds)
    counts = split.train_counts
    return {
        "next_item_shares_motive_with_last_3": float(np.mean(shares)),
        "next_item_repeats_previous_type": float(np.mean(repeats)),
        "mean_train_count_per_warm_item": float(counts[counts > 0].mean()),
        "median_train_count_per_warm_item": float(np.median(counts[counts > 0])),
        "mean_sequence_length": float(np.mean([len(s) for s in ds.sequences()])),
        "new_arrival_item_share": float(shop.new_items.mean()),
        "new_arrival_test_share": float(split.target_is_new("test").mean()),
    }


def text_report(shop: Shop) -> dict:
    """Figures about how items are written: clue discipline and motive coverage."""
    items = shop.dataset.items
    use_case = {line for m in MOTIVES.values() for line in m.use_case}
    pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, ACTIVITY_WORDS)) + r")", re.IGNORECASE)
    motives_per_type = {t: sum(t in m.types for m in MOTIVES.values()) for t in PRODUCT_TYPES}
    return {
        "descriptions_with_use_case_line": float(
            items["description"].map(lambda d: any(u in d for u in use_case)).mean()),
        "titles_with_activity_words": int(items["title"].str.contains(pattern).sum()),
        "min_motives_per_product_type": min(motives_per_type.values()),
        "items_with_two_motives": float(np.mean([len(m) == 2 for m in shop.item_motives])),
    }


def surface_vs_motive(shop: Shop, vectors: np.ndarray, k: int = 10) -> dict:
    """Among each item's ``k`` nearest neighbours by ``vectors``: same type? shared motive?

    Also the *floor* (a random item of the same type shares a motive) and the agreement
    when neighbours are searched only within the item's own type, which isolates what the
    description's clues carry beyond the product type.
    """
    types = shop.dataset.items["product_type"].to_numpy()
    motives = shop.motive_sets()
    neighbours, _ = nearest_neighbors(vectors, k)
    within, floor = [], []
    for t in np.unique(types):
        members = np.flatnonzero(types == t)
        if len(members) < 2:
            continue
        sub, _ = nearest_neighbors(vectors[members], min(k, len(members) - 1))
        within.append(neighbor_agreement(sub, [motives[i] for i in members]) * len(members))
        shared = np.array([[bool(motives[a] & motives[b]) for b in members] for a in members])
        floor.append((shared.sum() - len(members)) / (len(members) - 1))
    n = len(types)
    return {
        "type_agreement": neighbor_agreement(neighbours, types),
        "motive_agreement": neighbor_agreement(neighbours, motives),
        "motive_floor_same_type": float(np.sum(floor) / n),
        "motive_agreement_within_type": float(np.sum(within) / n),
    }
