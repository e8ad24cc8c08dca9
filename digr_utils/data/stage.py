"""The data stage: the bundled shop or a real Amazon folder, k-cored, split, and named by its files.

Every later stage starts from :func:`load_data`. The :class:`Data` it returns carries ``key``,
the dataset's identity (``shop_tutorial-3f2a…`` or ``Beauty-91c0…``), under which every run made
from it is stored (:mod:`digr_utils.runs`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from digr_utils.config import Preset, get_preset
from digr_utils.data.dataset import Dataset, Split, k_core, leave_one_out
from digr_utils.data.world import Shop, ShopConfig, generate_shop, load_shop, shop_folder, write_shop
from digr_utils.runs import Run, digest, open_run


@dataclass(frozen=True)
class DataSpec:
    """A dataset other than the bundled shop: a folder, and (when the folder's files do not say
    it unambiguously) its format and category/file stem."""

    folder: Path
    fmt: str | None = None
    name: str | None = None


@dataclass
class Data:
    """What the data stage hands on: the dataset, its split, the shop if it is the shop, and
    ``key``, the dataset's identity that names every run made from it."""

    dataset: Dataset
    split: Split
    shop: Shop | None
    key: str

    def check_items(self, item_ids, what: str) -> None:
        """Refuse artifacts (IDs, a model) whose items are not this dataset's, in this order."""
        ours = self.dataset.items["item_id"].astype(str).tolist()
        theirs = [str(i) for i in item_ids]
        if theirs != ours:
            same = len(set(ours) & set(theirs))
            raise ValueError(f"{what} covers {len(theirs)} items, {same} of them in dataset "
                             f"{self.key} ({len(ours)} items), or in another order; it was made "
                             "from other data: rebuild it for this dataset")


def as_preset(preset: str | Preset | None) -> Preset:
    """A :class:`Preset` from a name, a preset, or None (``$DIGR_PRESET``, else tutorial)."""
    return preset if isinstance(preset, Preset) else get_preset(preset)


def load_data(preset: str | Preset | None = None, spec: DataSpec | None = None,
              regenerate: bool = False) -> Data:
    """The preset's bundled shop (or the real dataset ``spec`` names), k-cored (unless its
    loader says the source already was: MiniOneRec rows) and split."""
    p = as_preset(preset)
    if spec is None:
        if regenerate:
            write_shop(generate_shop(ShopConfig.from_preset(p)), shop_folder(p.name))
        shop = load_shop(p)
        ds = shop.dataset
        checksums = json.loads((shop_folder(p.name) / "checksums.json").read_text())["files"]
        key = f"shop_{p.name}-{digest(checksums, 8)}"
    else:
        from digr_utils.data.amazon import load
        from digr_utils.data.dataset import dataset_digest

        shop = None
        raw = load(spec.folder, spec.fmt, spec.name, k=None)
        k = None if raw.meta.get("cored_at_source") else p.k_core
        ds = raw if k is None else k_core(raw, k)
        key = f"{raw.name}-{digest([dataset_digest(raw), k, p.max_history], 8)}"
    return Data(ds, leave_one_out(ds, p.max_history), shop, key)


def data_stage(preset: str | Preset | None = None, spec: DataSpec | None = None,
               regenerate: bool = False) -> dict:
    """Load or generate the data; write and return its statistics (the run's ``metrics.json``)."""
    p = as_preset(preset)
    start = time.perf_counter()
    data = load_data(p, spec, regenerate)
    figures = {"dataset": data.key, **data.dataset.stats(),
               "new_arrival_test_share": round(float(data.split.target_is_new().mean()), 4),
               "seconds": round(time.perf_counter() - start, 2)}
    if data.shop is not None:
        from digr_utils.data.diagnostics import behaviour_report

        figures.update({k: round(v, 4) for k, v in behaviour_report(data.shop).items()})
    data_run(data).save_metrics(figures)
    return figures


def data_run(data: Data) -> Run:
    """The data stage's run folder (its statistics) for ``data``."""
    return open_run(data.key, "data", {}, "stats")
