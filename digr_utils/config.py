"""Presets, device choice and seeding: the knobs every notebook shares (run folders: runs.py).

A preset fixes the sizes of a run. It comes from a notebook's ``parameters`` cell, and the
environment variable ``DIGR_PRESET`` overrides it (that is how the tests run every notebook on
``ci``); papermill overrides the parameters cell itself.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

#: The repository root (the folder holding ``data/`` and ``notebooks/``).
REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Preset:
    """Sizes of one run of the course. ``n_users``/``n_items`` size the bundled shop."""

    name: str
    n_users: int
    n_items: int
    seed: int = 0
    max_history: int = 20
    k_core: int = 5
    embed_batch_size: int = 64
    epochs: int = 10
    batch_size: int = 256
    # the generative model's SFT epochs when they differ from ``epochs`` (the ID models' budget)
    sft_epochs: int | None = None
    # whether notebook 05 trains the oracle's deep-ID model (an upper bound: its interests are
    # the hidden motives); notebooks 05, 07 and 08 show it whenever its run is on disk
    oracle_in_notebooks: bool = True


PRESETS: dict[str, Preset] = {
    # ci: the whole test suite in minutes on 2 CPU cores.
    "ci": Preset("ci", n_users=500, n_items=240, epochs=2, batch_size=128),
    # tutorial: a few minutes per notebook on a laptop CPU; big enough that effects show.
    # SFT gets 20 epochs, with patience 3 from epoch 15 on (SFTConfig.min_epochs): in 12 the
    # shallow model (TIGER) was still improving (validation NDCG@10 0.114 at its last epoch,
    # 0.134 at epoch 18 of 20), which flattered the deep IDs.
    # The oracle's SFT model, a fourth in notebook 05, took that notebook's SFT from 645 s to
    # 826 s and `make run` to the edge of its 25 minutes (runs of the same work varied by 4 minutes):
    # `digr evaluate` and `digr sft --interests oracle` train it instead.
    "tutorial": Preset("tutorial", n_users=2000, n_items=1000, epochs=12, sft_epochs=20,
                       oracle_in_notebooks=False),
    # full: a GPU; larger shop (or real Amazon data), larger batches.
    "full": Preset("full", n_users=40000, n_items=20000, epochs=30, batch_size=2048,
                   embed_batch_size=512),
}

DEFAULT_PRESET = "tutorial"


def get_preset(name: str | None = None, use_env: bool = True, **overrides) -> Preset:
    """The preset named by ``DIGR_PRESET`` if set, else ``name``, else ``tutorial``.

    A notebook's ``parameters`` cell passes its ``PRESET`` and the environment wins (that is
    how the tests run every notebook on ``ci``); the command line passes ``use_env=False`` when
    ``--preset`` is given, so an explicit flag wins there. Keyword overrides replace single
    fields (``get_preset("ci", epochs=1)``).
    """
    from_env = os.environ.get("DIGR_PRESET") if use_env else None
    chosen = from_env or name or DEFAULT_PRESET
    if chosen not in PRESETS:
        raise ValueError(
            f"unknown preset {chosen!r} (from {'DIGR_PRESET' if from_env else 'the argument'}); "
            f"valid presets: {', '.join(PRESETS)}"
        )
    return replace(PRESETS[chosen], **overrides)


def pick_device(prefer: str | None = None) -> str:
    """``cuda`` if available, else ``mps``, else ``cpu``; ``prefer`` or ``DIGR_DEVICE`` overrides."""
    import torch

    wanted = prefer or os.environ.get("DIGR_DEVICE")
    if wanted:
        return wanted
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so a CPU run repeats exactly.

    Seeding only: deterministic kernels are switched on by each trainer for its own call
    (:func:`digr_utils.training.deterministic`), not for the whole process.
    """
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # torch is a dependency, but seeding must not be what fails
        return
    torch.manual_seed(seed)

