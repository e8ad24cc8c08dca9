"""The whole chain for one dataset, recipe and seed: data -> mine -> label -> IDs -> SFT.

Orchestration only: each stage's code lives with its stage (``data/stage.py``,
``interests/stage.py``, ``labeling/stage.py``, ``sid/stage.py``, ``gen/stage.py``), and each
reuses the run an earlier call made with the same inputs (:mod:`digr_utils.runs`).
"""
from __future__ import annotations

import time

from digr_utils.config import Preset
from digr_utils.data.stage import DataSpec, as_preset, data_stage
from digr_utils.interests.stage import InterestSource
from digr_utils.labeling.stage import LabelRecipe


def run_pipeline(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
                 method: str = "rqvae", spec: DataSpec | None = None,
                 seeds: tuple[int, ...] | None = None, labels: LabelRecipe = LabelRecipe(),
                 progress: bool = True) -> dict:
    """Every stage in order for each seed; returns each stage's figures (SFT's per seed)."""
    from digr_utils.gen.stage import sft_stage
    from digr_utils.labeling.stage import label_stage
    from digr_utils.sid.stage import sids_stage

    p = as_preset(preset)
    seeds = seeds or (p.seed,)
    start = time.perf_counter()
    out = {"data": data_stage(p, spec)}
    for seed in seeds:
        if source.mined:
            out.setdefault("label", {})[seed] = label_stage(p, source, labels, spec, seed,
                                                            progress)
        out.setdefault("sids", {})[seed] = sids_stage(p, source, method, spec, seed=seed,
                                                      labels=labels, progress=progress)
        out.setdefault("sft", {})[seed] = sft_stage(p, source, method, seed=seed, spec=spec,
                                                    labels=labels, progress=progress)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out
