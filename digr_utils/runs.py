"""Runs named by what made them: every stage's output lives in a folder keyed by its inputs.

A run's folder is ``artifacts/<dataset key>/<stage>/<label>-<hash>/``. The dataset key names
the data and a digest of its files (the shop's checksums, or the bytes of a real dataset's
files with the loader's settings); the hash is of the run's *recipe*: every field that changes
what the stage makes (interest source, filtering, fusion weights, encoder, quantiser settings,
model size, task mix, seed) and the key of the run it builds on. Same inputs, same folder, so a
finished run is reused and an interrupted one resumes; any change gives a new folder, so
variants never overwrite each other. ``run.json`` in the folder records the recipe and the
dataset, and loading a run for other data fails with a message naming both.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from digr_utils.config import REPO_ROOT, Preset
from digr_utils.io import read_json, write_json_atomic

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"


def artifacts_root() -> Path:
    """Where every run lives: ``$DIGR_ARTIFACTS`` or ``<repo>/artifacts``."""
    return Path(os.environ.get("DIGR_ARTIFACTS", REPO_ROOT / "artifacts"))


def digest(obj: Any, length: int = 10) -> str:
    """A short stable hex digest of a JSON-able object (keys sorted) or of raw bytes."""
    data = obj if isinstance(obj, bytes) else json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha1(data).hexdigest()[:length]


@dataclass(frozen=True)
class Run:
    """One stage's run: its folder, the recipe that names it and the dataset it was made from."""

    folder: Path
    stage: str
    dataset: str
    recipe: dict

    @property
    def key(self) -> str:
        """The recipe hash (the last part of the folder's name); later stages fold it in theirs."""
        return self.folder.name.rsplit("-", 1)[-1]

    @property
    def finished(self) -> bool:
        """A run is finished once its figures are written (they are written last)."""
        return (self.folder / METRICS_FILE).exists()

    def path(self, name: str) -> Path:
        return self.folder / name

    def metrics(self) -> dict:
        """The figures the finished run wrote."""
        return read_json(self.folder / METRICS_FILE, fix=f"run the {self.stage} stage again "
                         f"(its folder {self.folder} is reused, and finished parts are kept)")

    def save_metrics(self, figures: dict) -> dict:
        """Write the run's figures (atomically, last: they mark the run finished)."""
        write_json_atomic(self.folder / METRICS_FILE, figures)
        return figures


def safe_name(text: str) -> str:
    """``text`` as one folder name: letters, digits and ``._+`` kept, anything else a dash, so a
    name such as ``../x`` can never lead outside the artifacts folder."""
    return "".join(c if c.isalnum() or c in "._+" else "-" for c in text).strip("-.")


def open_run(dataset: str, stage: str, recipe: dict, label: str) -> Run:
    """The run folder for ``recipe`` on ``dataset`` (created with its ``run.json`` if new).

    ``label`` is a readable prefix of the folder's name (``deep-panel``, ``published``...); only
    the recipe decides the hash, so two labels never share a folder by accident.
    """
    safe = safe_name(label) or stage
    folder = artifacts_root() / safe_name(dataset) / stage / f"{safe}-{digest({'stage': stage, **recipe})}"
    run = Run(folder, stage, dataset, recipe)
    record = folder / RUN_FILE
    if not record.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(record, {"stage": stage, "dataset": dataset, "label": safe,
                                   "recipe": recipe, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    return run


def load_run(folder: str | os.PathLike, dataset: str | None = None,
             stage: str | None = None) -> Run:
    """A run saved earlier, read from its folder; ``dataset``/``stage`` refuse a mismatch."""
    folder = Path(folder)
    info = read_json(folder / RUN_FILE, fix=f"{folder} is not a run folder; point at a folder "
                     "under artifacts/ that holds run.json (`digr runs` lists them)")
    if stage is not None and info["stage"] != stage:
        raise ValueError(f"{folder} holds a {info['stage']} run, not a {stage} run")
    if dataset is not None and info["dataset"] != dataset:
        raise ValueError(f"{folder} was made from dataset {info['dataset']}, but this run uses "
                         f"{dataset}; use a run made from the same data (`digr runs` lists them) "
                         "or build one for this dataset")
    return Run(folder, info["stage"], info["dataset"], info["recipe"])


def notebook_metrics(preset: str | Preset, notebook: str, figures: dict) -> Path:
    """Record a notebook's key figures as ``artifacts/notebooks/<preset>/<notebook>.json``."""
    name = preset.name if isinstance(preset, Preset) else preset
    return write_json_atomic(artifacts_root() / "notebooks" / name / f"{notebook}.json", figures)


def cache_dir(kind: str = "embeddings") -> Path:
    """A cache shared by every run (embeddings are keyed per text and model inside it):
    ``$DIGR_CACHE/<kind>`` if set, else ``artifacts/cache/<kind>``."""
    root = os.environ.get("DIGR_CACHE")
    path = (Path(root) if root else artifacts_root() / "cache") / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def index(root: str | os.PathLike | None = None, figures: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every run under ``root``: dataset, stage, label, key, created, finished, and ``figures``.

    ``figures`` names metrics to show as columns (e.g. ``("test all NDCG@10",)``); a run that
    lacks one shows NaN.
    """
    root = Path(root) if root is not None else artifacts_root()
    rows = []
    for record in sorted(root.glob(f"*/*/*/{RUN_FILE}")):
        try:
            info = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged record is not a run; loading it directly says why
        metrics_path = record.with_name(METRICS_FILE)
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        rows.append({"dataset": info.get("dataset"), "stage": info.get("stage"),
                     "run": record.parent.name, "created": info.get("created"),
                     "finished": metrics_path.exists(),
                     **{f: metrics.get(f) for f in figures}, "folder": str(record.parent)})
    columns = ["dataset", "stage", "run", "created", "finished", *figures, "folder"]
    return pd.DataFrame(rows, columns=columns)
