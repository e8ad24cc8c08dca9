"""One in-memory form for every dataset: an items table, chronological interactions, and a split.

The bundled shop and every real Amazon loader produce a :class:`Dataset`; everything
downstream (embeddings, semantic IDs, recommenders, metrics) reads only this form.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns every items table has (loaders fill what the source lacks with "").
ITEM_TEXT_COLUMNS = ("title", "description", "brand", "category")


class EmptyDatasetError(ValueError):
    """Raised when filtering leaves nothing to learn from."""


@dataclass
class Dataset:
    """Items and interactions with dense integer ids.

    ``items`` is indexed by ``item`` (0..n_items-1) and has at least ``item_id`` (the source's
    id, a string) and the :data:`ITEM_TEXT_COLUMNS`. ``interactions`` has ``user`` (0..n_users-1),
    ``item`` and ``timestamp`` columns, sorted by user then time. ``users`` maps ``user`` to the
    source's ``user_id``.
    """

    name: str
    items: pd.DataFrame
    interactions: pd.DataFrame
    users: pd.DataFrame
    meta: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_users(self) -> int:
        return len(self.users)

    def sequences(self) -> list[np.ndarray]:
        """Each user's items in chronological order (list index = user)."""
        inter = self.interactions
        bounds = np.flatnonzero(np.diff(inter["user"].to_numpy())) + 1
        return np.split(inter["item"].to_numpy(dtype=np.int64), bounds)

    def text(self, fields: tuple[str, ...] = ("title", "description")) -> list[str]:
        """The surface text of every item: the named columns joined, what an encoder reads."""
        columns = [self.items[f].fillna("").astype(str).str.strip(". ").tolist() for f in fields]
        return [". ".join(p for p in parts if p) for parts in zip(*columns)]

    def require_text(self, caller: str, fields: tuple[str, ...] = ("title", "description")) -> None:
        """Raise when no item has any text in ``fields`` (what :meth:`text` joins): item vectors
        built from it would all be the same empty string."""
        if any(self.text(fields)):
            return
        raise ValueError(
            f"{caller}: dataset {self.name!r} has no item text: column(s) {', '.join(fields)} "
            f"empty for all {self.n_items} items (files read: {_file_names(self.meta)}). Fix: use "
            "the folder's published semantic IDs instead of ones built from text (--sids "
            "published), or add its item-text file (<name>.item.json, or the release's "
            "meta_<category> file)")

    def stats(self) -> dict:
        """Sizes and densities a reader compares against the paper's datasets."""
        lengths = np.array([len(s) for s in self.sequences()])
        counts = np.bincount(self.interactions["item"], minlength=self.n_items)
        return {
            "users": self.n_users,
            "items": self.n_items,
            "interactions": int(len(self.interactions)),
            "mean_sequence_length": round(float(lengths.mean()), 2),
            "mean_item_count": round(float(counts.mean()), 2),
            "density": float(len(self.interactions) / max(1, self.n_users * self.n_items)),
        }


#: Bump when a loader's reading of the same files changes, so old digests stop matching.
_DIGEST_VERSION = 1


def dataset_digest(ds: Dataset) -> str:
    """A 16-hex-digit key for ``ds``: the bytes and names of ``meta["source_files"]`` plus the
    loader settings (format, name, the k-core applied), so an artifact made from it is reused
    only for the same data. Reads every file once (about 2 s per GB on one core)."""
    files = ds.meta.get("source_files")
    if not files:
        raise ValueError(f"dataset_digest: dataset {ds.name!r} has no meta['source_files']; the "
                         "Amazon loaders record it. Fix: load it with digr_utils.data.amazon.load, "
                         "or set meta['source_files'] to the files it was made from")
    settings = {"format": ds.meta.get("format"), "name": ds.name, "k": ds.meta.get("k_core"),
                "version": _DIGEST_VERSION}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for name in sorted(files):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"dataset_digest: {path} (a source file of {ds.name!r}) is "
                                    "gone; put it back or load the dataset again")
        with open(path, "rb") as f:
            file_hash = hashlib.file_digest(f, "sha256").digest()
        digest.update(path.name.encode() + b"\0" + file_hash)
    return digest.hexdigest()[:16]


def _file_names(meta: dict) -> str:
    files = meta.get("source_files")
    return ", ".join(Path(f).name for f in files) if files else "not recorded"


def from_sequences(
    name: str,
    sequences: dict[str, list[str]],
    items: pd.DataFrame | None = None,
    timestamps: dict[str, list[int]] | None = None,
    meta: dict | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from ``{user_id: [item_id, ...]}`` in chronological order.

    ``items`` (indexed by the source's item id) supplies text; items that appear in
    interactions but not in ``items`` get empty text. Without ``timestamps`` the position in
    the sequence is the time. Users with an empty sequence are left out.
    """
    user_ids = [u for u, seq in sequences.items() if len(seq)]
    if timestamps is not None:
        for uid in user_ids:
            got = len(timestamps.get(uid, ()))
            if got != len(sequences[uid]):
                raise ValueError(f"{name}: user {uid!r} has {len(sequences[uid])} items but "
                                 f"{got} timestamps; give one timestamp per item")
    item_ids: dict[str, int] = {}
    rows_u, rows_i, rows_t = [], [], []
    for u, uid in enumerate(user_ids):
        seq = sequences[uid]
        ts = timestamps[uid] if timestamps is not None else range(len(seq))
        for iid, t in zip(seq, ts):
            rows_u.append(u)
            rows_i.append(item_ids.setdefault(str(iid), len(item_ids)))
            rows_t.append(int(t))
    inter = pd.DataFrame({"user": rows_u, "item": rows_i, "timestamp": rows_t})
    table = pd.DataFrame({"item_id": list(item_ids)})
    if items is not None:
        src = items.copy()
        src.index = src.index.astype(str)
        table = table.join(src, on="item_id")
    for col in ITEM_TEXT_COLUMNS:
        if col not in table:
            table[col] = ""
        table[col] = table[col].fillna("").astype(str)
    table.index.name = "item"
    users = pd.DataFrame({"user_id": [str(u) for u in user_ids]})
    users.index.name = "user"
    inter = inter.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    return Dataset(name, table, inter, users, dict(meta or {}))


def k_core(ds: Dataset, k: int = 5) -> Dataset:
    """Iteratively drop users and items with fewer than ``k`` interactions, then re-index.

    Repeats until stable, because dropping a user can push an item below ``k`` and back.
    """
    inter = ds.interactions
    while True:
        item_counts = inter["item"].map(inter["item"].value_counts())
        user_counts = inter["user"].map(inter["user"].value_counts())
        keep = (item_counts >= k) & (user_counts >= k)
        if keep.all():
            break
        inter = inter[keep]
    if inter.empty:
        raise EmptyDatasetError(
            f"{ds.name}: {k}-core filtering removed every interaction "
            f"({len(ds.interactions)} before). Lower k (the `k_core` threshold) or use more data."
        )
    return _reindex(ds, inter, {**ds.meta, "k_core": k})


def _reindex(ds: Dataset, inter: pd.DataFrame, meta: dict) -> Dataset:
    """Renumber the users and items that remain in ``inter`` densely, keeping their order."""
    items_kept = np.sort(inter["item"].unique())
    users_kept = np.sort(inter["user"].unique())
    item_map = pd.Series(np.arange(len(items_kept)), index=items_kept)
    user_map = pd.Series(np.arange(len(users_kept)), index=users_kept)
    new_inter = pd.DataFrame(
        {
            "user": user_map[inter["user"]].to_numpy(),
            "item": item_map[inter["item"]].to_numpy(),
            "timestamp": inter["timestamp"].to_numpy(),
        }
    ).sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    items = ds.items.loc[items_kept].reset_index(drop=True)
    items.index.name = "item"
    users = ds.users.loc[users_kept].reset_index(drop=True)
    users.index.name = "user"
    return Dataset(ds.name, items, new_inter, users, meta)


@dataclass
class Split:
    """Leave-one-out split: per user, last item = test, second-to-last = validation.

    ``train`` holds each user's sequence without its last two items (what models learn from).
    ``valid_history``/``test_history`` are the inputs (capped at ``max_history`` most recent
    items; the test history includes the validation item). ``new_items`` flags items that never
    occur in ``train`` — new arrivals, reachable only through content.
    """

    train: list[np.ndarray]
    valid_history: list[np.ndarray]
    valid_target: np.ndarray
    test_history: list[np.ndarray]
    test_target: np.ndarray
    n_items: int
    max_history: int

    @property
    def train_counts(self) -> np.ndarray:
        """How often each item occurs in the training sequences."""
        flat = np.concatenate(self.train) if self.train else np.array([], dtype=np.int64)
        return np.bincount(flat, minlength=self.n_items)

    @property
    def new_items(self) -> np.ndarray:
        """Boolean mask over items: True where the item never appears in training."""
        return self.train_counts == 0

    def target_is_new(self, which: str = "test") -> np.ndarray:
        """Boolean mask over users: True where the ``which`` target is a new arrival."""
        return self.new_items[self.targets(which)]

    def histories(self, which: str = "test") -> list[np.ndarray]:
        return _pick(which, self.valid_history, self.test_history)

    def targets(self, which: str = "test") -> np.ndarray:
        return _pick(which, self.valid_target, self.test_target)


def _pick(which: str, valid, test):
    if which == "valid":
        return valid
    if which == "test":
        return test
    raise ValueError(f"unknown split part {which!r}; use 'valid' or 'test'")


def leave_one_out(ds: Dataset, max_history: int = 20) -> Split:
    """Split every user's chronological sequence leave-one-out (needs ≥ 3 items per user)."""
    seqs = ds.sequences()
    short = [u for u, s in enumerate(seqs) if len(s) < 3]
    if short:
        raise EmptyDatasetError(
            f"{ds.name}: {len(short)} users have fewer than 3 interactions (user {short[0]} "
            "first); leave-one-out needs train, validation and test items. Apply k_core first."
        )
    cap = max_history
    return Split(
        train=[s[:-2] for s in seqs],
        valid_history=[s[:-2][-cap:] for s in seqs],
        valid_target=np.array([s[-2] for s in seqs], dtype=np.int64),
        test_history=[s[:-1][-cap:] for s in seqs],
        test_target=np.array([s[-1] for s in seqs], dtype=np.int64),
        n_items=ds.n_items,
        max_history=cap,
    )
