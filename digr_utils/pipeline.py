"""The whole chain for one dataset, recipe and seeds: data -> mine -> label -> IDs -> SFT -> GRPO
-> the results table.

Orchestration only: each stage's code lives with its stage (``data/stage.py``,
``interests/stage.py``, ``labeling/stage.py``, ``sid/stage.py``, ``gen/stage.py``,
``gen/grpo_stage.py``, ``evaluation.py``), and each reuses the run an earlier call made with the
same inputs (:mod:`digr_utils.runs`), so the table at the end retrains nothing the chain built.
"""
from __future__ import annotations

import time

from digr_utils.config import Preset
from digr_utils.data.stage import DataSpec, as_preset, data_stage
from digr_utils.interests.stage import InterestSource
from digr_utils.labeling.stage import LabelRecipe
from digr_utils.sid.stage import VectorRecipe


def run_pipeline(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
                 method: str = "rqvae", spec: DataSpec | None = None,
                 seeds: tuple[int, ...] | None = None, labels: LabelRecipe = LabelRecipe(),
                 progress: bool = True, trials: int = 1,
                 vectors: VectorRecipe = VectorRecipe()) -> dict:
    """Every stage in order for each seed (GRPO only for mined interests: TIGER is SFT alone),
    then the results table of ``none`` (TIGER) and ``source``; returns every stage's figures.
    ``labels`` and ``vectors`` run an ablation (without RLDI, without cues, appended
    interests) through every stage."""
    from digr_utils.gen.grpo_stage import grpo_stage
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
        out.setdefault("sids", {})[seed] = sids_stage(p, source, method, spec, vectors, seed=seed,
                                                      labels=labels, progress=progress)
        out.setdefault("sft", {})[seed] = sft_stage(p, source, method, seed=seed, spec=spec,
                                                    labels=labels, progress=progress,
                                                    vectors=vectors)
        if source.mined:
            out.setdefault("grpo", {})[seed] = grpo_stage(p, source, method, seed=seed,
                                                          spec=spec, labels=labels,
                                                          progress=progress, vectors=vectors)
    out["table"] = _table(p, source, method, spec, seeds, labels, trials, progress, vectors)
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def _table(p: Preset, source: InterestSource, method: str, spec: DataSpec | None,
           seeds: tuple[int, ...], labels: LabelRecipe, trials: int, progress: bool,
           vectors: VectorRecipe) -> dict:
    """:func:`~digr_utils.evaluation.evaluate_stage` on the chain's runs, or why it was not made.

    The table names interest sources only by name and uses the default labels, so a recipe
    with more than a name (a server, visual cues, a panel dial, other labels) would be
    retrained differently there; the stages' own figures above stand for it instead.
    """
    from digr_utils.evaluation import evaluate_stage

    if source != InterestSource(source.name) or labels != LabelRecipe() or vectors != VectorRecipe():
        return {"skipped": f"the results table knows interest sources by name with default "
                           f"labels and item vectors; {source.label} with {labels} and {vectors} "
                           "is reported by the stages above (digr evaluate --interests none "
                           "<name> for the defaults)"}
    sources = ["none", source.name] if source.mined else ["none"]
    return evaluate_stage(p, seeds, sources, spec, method, trials, progress)
