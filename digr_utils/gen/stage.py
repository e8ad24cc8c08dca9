"""The SFT stage: a T5 trained on one IEID run's semantic IDs, saved as a self-contained bundle.

A bundle is the run's folder: ``model.pt`` (best weights and sizes), ``vocab.json``,
``sids.npz``, ``run.json`` (recipe, dataset, digests), ``history.csv`` and ``metrics.json``.
:func:`load_recommender` turns it back into a ready :class:`GenerativeRecommender` in one call,
in a fresh process, without the data or any earlier stage.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from digr_utils import distributed
from digr_utils.config import Preset, pick_device
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.gen.causal import CausalConfig
from digr_utils.interests.stage import InterestSource
from digr_utils.io import read_json, write_json_atomic
from digr_utils.labeling.stage import LabelRecipe
from digr_utils.runs import Run, digest, load_run, open_run
from digr_utils.sid.stage import VectorRecipe, build_sids, recipe_tag

if TYPE_CHECKING:
    from digr_utils.gen.recommender import GenerativeRecommender

BUNDLE_FILES = ("model.pt", "vocab.json", "sids.npz", "bundle.json")


@dataclass
class SFTRun:
    """A trained stage-1 model, ready to rank (``recommender``), with its history, figures and run."""

    recommender: "GenerativeRecommender"
    history: pd.DataFrame
    figures: dict
    run: Run | None


def run_sft(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
            method: str = "rqvae", aux: bool | None = None, seed: int | None = None,
            spec: DataSpec | None = None, valid_users: int = 1000, progress: bool = True,
            save: bool = True, labels: LabelRecipe = LabelRecipe(),
            backbone: CausalConfig | None = None, vectors: VectorRecipe = VectorRecipe(),
            train: bool = True, **overrides) -> SFTRun | None:
    """Stage 1: train a T5 on ``source``'s semantic IDs (made by ``method``) and score it.

    ``labels`` and ``vectors`` say how the IDs' item vectors are made (the ablations without
    RLDI, without visual cues, or with appended interests); a run with other than the defaults
    is named for it (``panel-rqvae-aux-keepall``, ``-nocues``, ``-append``).

    ``backbone`` trains a decoder-only LLM with LoRA instead (:mod:`digr_utils.gen.causal`;
    ``CausalConfig()`` is the bundled SmolLM2); its run is named apart from the T5's.

    ``aux`` adds the interest <-> SID alignment tasks (default: on when interests are mined,
    off for shallow or published IDs, whose items have no interests in TIGER). Early stopping
    watches NDCG@10 of constrained beam search on ``valid_users`` validation users; the final
    figures use all users. With ``save`` the run is a bundle (see the module doc): an interrupted
    run resumes and a finished one is loaded, not retrained; with ``train=False`` a run not yet
    finished is left untrained and None is returned (its IDs and labels are made). ``overrides`` set
    :class:`~digr_utils.gen.sft.SFTConfig` fields (epochs, lr, patience...).
    """
    from digr_utils.gen.causal import build_causal
    from digr_utils.gen.data import TaskMix, build_examples
    from digr_utils.gen.model import ModelConfig, build_model
    from digr_utils.gen.recommender import GenerativeRecommender
    from digr_utils.gen.sft import SFTConfig, train_sft
    from digr_utils.gen.vocab import SidVocab
    from digr_utils.labeling.stage import kept_interests
    from digr_utils.metrics import ranking_metrics

    p = as_preset(preset)
    seed = p.seed if seed is None else seed
    aux = source.mined if aux is None else aux
    if aux and not source.mined:
        raise ValueError("the aux tasks align IDs with mined interests; --interests none has "
                         "none: use --aux off")
    data = load_data(p, spec)
    sids = build_sids(p, source, method, spec, vectors, seed, progress=progress, labels=labels)
    ids = sids.ids
    interests = kept_interests(data, source, seed, labels)[0] if aux else None
    vocab = SidVocab.build(ids.codes, ids.sizes, interests)
    model_cfg = ModelConfig.for_preset(p) if backbone is None else backbone
    cfg = SFTConfig.for_preset(p, seed=seed, **overrides)
    run = None
    if save:
        # a T5 run keeps the fields it always had, so runs already on disk are found again
        model_fields = (asdict(model_cfg) if backbone is None
                        else {"backbone": "causal", **asdict(backbone)})
        fields = {"sids": sids.run.key, "aux": aux, "model": model_fields,
                  "sft": asdict(cfg), "valid_users": valid_users, "max_history": p.max_history}
        name = (f"{source.label}-{method}-{'aux' if aux else 'noaux'}"
                f"{recipe_tag(source, vectors, labels)}")
        run = open_run(data.key, "sft", fields, name if backbone is None else f"{name}-causal")
        if run.finished:
            return SFTRun(load_recommender(run.folder, data), _history(run), run.metrics(), run)
    if not train:
        return None
    examples = build_examples(data.split, vocab, interests,
                              TaskMix(interest_to_sid=aux, sid_to_interest=aux), p.max_history)
    model = (build_model(model_cfg, vocab, seed=seed) if backbone is None
             else build_causal(backbone, vocab.vocab_size, seed=seed))
    recommender = GenerativeRecommender(model, vocab, max_history=p.max_history,
                                        device=pick_device())
    split = data.split
    watch = np.sort(np.random.default_rng(seed).permutation(len(split.valid_target))[:valid_users])

    def validate(m) -> dict:
        topk = distributed.gather_rows(lambda part: recommender.recommend(part, 10),
                                       [split.valid_history[u] for u in watch])
        return ranking_metrics(topk, split.valid_target[watch], (10,))

    result = train_sft(model, examples, cfg, validate,
                       checkpoint_dir=run.folder if run else None, progress=progress)
    figures = {"interests": source.label, "ids": method, "aux_tasks": aux, "seed": seed,
               "dataset": data.key, "examples": len(examples),
               "epochs_run": len(result.history), "best_epoch": result.best_epoch,
               "train_seconds": float(result.history["seconds"].sum()),
               "sequences_per_second": float(result.history["sequences_per_second"].median()),
               **score_figures(recommender, data)}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    if run is not None and distributed.is_main():  # under torchrun, rank 0 alone writes
        save_bundle(run, recommender, ids, data)
        result.history.to_csv(run.path("history.csv"), index=False)
        run.save_metrics(figures)
    distributed.barrier()
    return SFTRun(recommender, result.history, figures, run)


def run_sft_many(calls: Sequence[dict], workers: int | None = None) -> list[SFTRun]:
    """:func:`run_sft` for each dict of its arguments in ``calls``, in order; on a CPU with
    several cores the runs still to train are trained side by side, one process and one thread
    each (``workers``: by default every run at once, up to two per core).

    A second thread speeds the small T5 up far less than twice (about 1.6x on the tutorial shop
    here), so on 2 cores two runs side by side finish before the same two one after another on 2
    threads; three tutorial runs at once shared the 2 cores and finished in 645-674 s here, where
    two workers would take about 810 (two runs' time: the third trains alone, after the first). Their IDs and labels
    are made here first, one at a time, since runs of one shop share those caches.
    On a GPU, under torchrun or with one core, the runs train one after another in this process.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    ready = [run_sft(**{**call, "train": False}) for call in calls]  # IDs, labels; finished runs
    todo = [call for call, run in zip(calls, ready) if run is None]
    if workers is None:
        on_cpu = pick_device() == "cpu" and not distributed.launched()
        workers = min(len(todo), 2 * (os.cpu_count() or 1)) if on_cpu else 1
    if min(workers, len(todo)) > 1:
        with ProcessPoolExecutor(min(workers, len(todo)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_train_on_one_thread, todo))
    return [run if run is not None else run_sft(**call) for call, run in zip(calls, ready)]


def _train_on_one_thread(call: dict) -> None:
    import torch

    torch.set_num_threads(1)
    run_sft(**{**call, "progress": False})


def score_figures(recommender, data: Data) -> dict:
    """Validation and test figures of a recommender in the flat form every stage prints."""
    from digr_utils.metrics import evaluate

    start = time.perf_counter()
    scores = {part: evaluate(recommender, data.split, part) for part in ("valid", "test")}
    return {**{f"{part} {group} {metric}": value for part, s in scores.items()
               for group in ("all", "warm", "new") for metric, value in s[group].items()
               if part == "test" or group == "all"},
            "rank_seconds": time.perf_counter() - start}


def save_bundle(run: Run, recommender, ids, data: Data) -> None:
    """Write everything :func:`load_recommender` needs into the run's folder."""
    from digr_utils.gen.model import save_model

    save_model(recommender.model, run.path("model.pt"))
    recommender.vocab.save(run.path("vocab.json"))
    ids.save(run.path("sids.npz"))
    write_json_atomic(run.path("bundle.json"), {
        "max_history": recommender.max_history, "beams": recommender.beams,
        "items": len(ids.item_ids), "item_ids_digest": digest([str(i) for i in ids.item_ids]),
        "sids_digest": digest(np.ascontiguousarray(ids.codes).tobytes())})


def load_recommender(folder: str | Path, data: Data | None = None,
                     device: str | None = None) -> "GenerativeRecommender":
    """The recommender saved in a bundle folder, ready to rank; with ``data``, refused unless
    the bundle was trained on that dataset and its items."""
    from digr_utils.gen.model import load_model
    from digr_utils.gen.recommender import GenerativeRecommender
    from digr_utils.gen.vocab import SidVocab
    from digr_utils.sid import SemanticIds

    run = load_run(folder, data.key if data is not None else None)
    missing = [f for f in BUNDLE_FILES if not run.path(f).exists()]
    if missing:
        raise FileNotFoundError(f"{run.folder} is not a finished model bundle ({', '.join(missing)} "
                                f"missing); run the {run.stage} stage again to finish it")
    info = read_json(run.path("bundle.json"))
    ids = SemanticIds.load(run.path("sids.npz"))
    if digest(np.ascontiguousarray(ids.codes).tobytes()) != info["sids_digest"]:
        raise ValueError(f"{run.path('sids.npz')} differs from the IDs the model in {run.folder} "
                         "was trained on; the bundle was altered: train it again")
    if data is not None:
        data.check_items(ids.item_ids, f"the model in {run.folder}")
    vocab = SidVocab.load(run.path("vocab.json"))
    model = load_model(run.path("model.pt"), vocab)
    return GenerativeRecommender(model, vocab, beams=info["beams"],
                                 max_history=info["max_history"], device=device or pick_device())


def _history(run: Run) -> pd.DataFrame:
    path = run.path("history.csv")
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def sft_stage(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
              method: str = "rqvae", aux: bool | None = None, seed: int | None = None,
              spec: DataSpec | None = None, labels: LabelRecipe = LabelRecipe(),
              progress: bool = True, backbone: CausalConfig | None = None,
              vectors: VectorRecipe = VectorRecipe()) -> dict:
    """``digr sft``: :func:`run_sft`'s figures, with the bundle's folder."""
    result = run_sft(preset, source, method, aux, seed, spec, progress=progress, labels=labels,
                     backbone=backbone, vectors=vectors)
    return {**result.figures, "run": str(result.run.folder)}
