"""One function per stage of the course; each loads what earlier stages made or builds it.

Notebooks and the ``digr`` command call the same functions, so a figure in a notebook and the
JSON line printed by the command come from one code path.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from digr_utils.config import Preset, artifacts_dir, get_preset
from digr_utils.data.dataset import Dataset, Split, k_core, leave_one_out
from digr_utils.data.world import Shop, generate_shop, load_shop, ShopConfig, shop_folder, write_shop


@dataclass
class DataSpec:
    """A dataset other than the bundled shop: a folder, its format and its category/file stem."""

    folder: Path
    fmt: str
    name: str


@dataclass
class Data:
    """What the data stage hands on: the dataset, its split, and the shop if it is the shop."""

    dataset: Dataset
    split: Split
    shop: Shop | None


def load_data(preset: str | Preset | None = None, spec: DataSpec | None = None,
              regenerate: bool = False) -> Data:
    """The preset's bundled shop (or the real dataset ``spec`` names), k-cored and split."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if spec is None:
        if regenerate:
            write_shop(generate_shop(ShopConfig.from_preset(p)), shop_folder(p.name))
        shop = load_shop(p)
        ds = shop.dataset
    else:
        from digr_utils.data.amazon import load

        shop = None
        ds = k_core(load(spec.folder, spec.fmt, spec.name, k=None), p.k_core)
    return Data(ds, leave_one_out(ds, p.max_history), shop)


def data_stage(preset: str | Preset | None = None, spec: DataSpec | None = None,
               regenerate: bool = False) -> dict:
    """Load or generate the data, and write and return its statistics (``metrics.json``)."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    start = time.perf_counter()
    data = load_data(p, spec, regenerate)
    figures = {"dataset": data.dataset.name, **data.dataset.stats(),
               "new_arrival_test_share": round(float(data.split.target_is_new().mean()), 4),
               "seconds": round(time.perf_counter() - start, 2)}
    if data.shop is not None:
        from digr_utils.data.diagnostics import behaviour_report

        figures.update({k: round(v, 4) for k, v in behaviour_report(data.shop).items()})
    save_metrics(p, "data" if spec is None else f"data-{spec.fmt}-{spec.name}", figures)
    return figures


def save_metrics(preset: Preset, stage: str, figures: dict) -> Path:
    """Write a stage's key figures as ``artifacts/<preset>/<stage>/metrics.json``."""
    path = artifacts_dir(preset, stage) / "metrics.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
