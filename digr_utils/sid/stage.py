"""The IEID stage: item vectors (shallow or fused with kept interests), quantised into semantic IDs.

A run is named by its whole recipe: the interest source (``none`` = shallow, TIGER's IDs), the
RLDI run whose kept interests are fused in, the encoder and fusion weights, the quantiser and
its settings, and the seed. ``published`` takes a processed folder's own IDs as they are.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from digr_utils.config import Preset
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.interests.stage import InterestSource
from digr_utils.labeling.stage import LabelRecipe
from digr_utils.representation import FUSION_MODES
from digr_utils.runs import Run, cache_dir, digest, load_run, open_run

if TYPE_CHECKING:
    from digr_utils.sid import SemanticIds

#: How item codes are made: an RQ-VAE, residual k-means, or the dataset's published IDs.
QUANTISERS = ("rqvae", "kmeans", "published")

#: How deep item vectors combine surface text, kept interests and visual cues: fused vectors
#: (``sum``, ``concat``: see :func:`~digr_utils.representation.fuse`) or one appended text.
VECTOR_MODES = (*FUSION_MODES, "append")


@dataclass(frozen=True)
class VectorRecipe:
    """How item vectors are made: the sentence ``encoder`` (the bundled ``minilm`` or any
    sentence-transformers name or folder), and for deep vectors the weights of the kept
    interests and visual cues fused with the surface vector (``mode`` sum or concat).

    ``mode="append"`` is the paper's later release's choice: one embedding of title +
    description + the kept interests + the visual cues as text; there a weight only switches
    its part on (> 0) or off (0).
    """

    encoder: str = "minilm"
    interest_weight: float = 1.0
    cue_weight: float = 0.2
    mode: str = "sum"

    def __post_init__(self) -> None:
        if self.mode not in VECTOR_MODES:
            raise ValueError(f"unknown vector mode {self.mode!r}; use one of {', '.join(VECTOR_MODES)}")


def recipe_tag(source: InterestSource, vectors: VectorRecipe, labels: LabelRecipe) -> str:
    """What a model's run name adds for non-default labels or vectors of mined interests
    (``-keepall``, ``-append``, ``-nocues``...); "" for the defaults, so their runs keep their names."""
    if not source.mined:
        return ""
    default = VectorRecipe()
    parts = ["keepall" if labels.keeps_all else "",
             vectors.mode if vectors.mode != default.mode else "",
             "nocues" if vectors.cue_weight == 0 else
             f"cues{vectors.cue_weight:g}" if vectors.cue_weight != default.cue_weight else "",
             f"interests{vectors.interest_weight:g}"
             if vectors.interest_weight != default.interest_weight else "",
             Path(vectors.encoder).name if vectors.encoder != default.encoder else ""]
    return "".join(f"-{p}" for p in parts if p)


@dataclass
class SidRun:
    """A quantiser's output: the IDs, raw codes, training history, figures and the run."""

    ids: "SemanticIds"
    codes: np.ndarray  # (n_items, L) before the suffix
    history: pd.DataFrame | None
    figures: dict
    run: Run | None


def item_vectors(data: Data, source: InterestSource, recipe: VectorRecipe = VectorRecipe(),
                 seed: int = 0, labels: LabelRecipe = LabelRecipe()) -> tuple[np.ndarray, Run | None]:
    """Unit item vectors and the RLDI run they used: for ``none`` the encoder's embedding of
    title + description; otherwise that vector fused with the mean vector of the item's
    RLDI-kept interests (graded as ``labels`` says) and (on the shop) of its visual cues, all
    from the same encoder, or with ``recipe.mode="append"`` one embedding of all of it as text."""
    from digr_utils.embed import encode
    from digr_utils.representation import fuse, interest_vectors

    data.dataset.require_text("item vectors")

    def embed(texts: list[str]) -> np.ndarray:
        return encode(texts, model=recipe.encoder, cache_dir=cache_dir())

    texts = data.dataset.text()
    if not source.mined:
        return embed(texts), None
    if recipe.encoder == "tfidf" and recipe.mode != "append":
        raise ValueError("deep item vectors fuse separately encoded texts, but TF-IDF vectors depend "
                         "on the texts encoded together; use a neural encoder (minilm) for deep IDs")
    from digr_utils.labeling.stage import kept_interests

    kept, _, label_run = kept_interests(data, source, seed, labels)
    cues = None
    if data.shop is not None and recipe.cue_weight:
        from digr_utils.interests.visual import visual_cues_all

        cues = visual_cues_all(data.shop.images)
    if recipe.mode == "append":
        return embed(appended_texts(texts, kept if recipe.interest_weight else None, cues)), label_run
    interests, _ = interest_vectors(kept, embed_fn=embed)
    parts = [(interests, recipe.interest_weight)]
    if cues is not None:
        parts.append((embed(cues), recipe.cue_weight))
    return fuse(embed(texts), parts, recipe.mode), label_run


def appended_texts(texts: list[str], interests: list[list[str]] | None,
                   cues: list[str] | None) -> list[str]:
    """Each item's text with its interests (sorted, once each) and visual cues appended as
    sentences: what one embedding reads in ``mode="append"``."""
    n = len(texts)
    return [". ".join(p for p in (text, *sorted(set(kept)), cue) if p.strip())
            for text, kept, cue in zip(texts, interests or [[]] * n, cues or [""] * n)]


def build_sids(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
               method: str = "rqvae", spec: DataSpec | None = None,
               recipe: VectorRecipe = VectorRecipe(), seed: int | None = None,
               progress: bool = True, save: bool = True, labels: LabelRecipe = LabelRecipe(),
               **overrides) -> SidRun:
    """IEID: quantise ``source``'s item vectors into semantic IDs with ``method`` and measure them.

    ``overrides`` set :class:`~digr_utils.sid.RQVAEConfig` fields (levels, codebook_size,
    epochs...). With ``save`` the run's folder keeps the IDs, the RQ-VAE checkpoint (a rerun
    resumes from it, a finished run is reused) and the figures; experiments pass ``save=False``.
    """
    p = as_preset(preset)
    seed = p.seed if seed is None else seed
    if method not in QUANTISERS:
        raise ValueError(f"unknown quantiser {method!r}; use one of {', '.join(QUANTISERS)}")
    data = load_data(p, spec)
    if method == "published":
        return _published(data, source, save)
    from digr_utils.sid import RQVAEConfig

    vectors, label_run = item_vectors(data, source, recipe, seed, labels)
    cfg = RQVAEConfig.for_items(vectors.shape[1], len(vectors), full=p.name == "full",
                                seed=seed, **overrides)
    run = None
    if save:
        fields = {"interests": source.label, "label_run": label_run.key if label_run else None,
                  "vectors": asdict(recipe) if source.mined else {"encoder": recipe.encoder},
                  "method": method, "quantiser": asdict(cfg)}
        run = open_run(data.key, "sids", fields, f"{source.label}-{method}")
        if run.finished:
            return _read(run, data)
    return _quantise(data, source, method, vectors, cfg, run, progress)


def _quantise(data: Data, source: InterestSource, method: str, vectors: np.ndarray, cfg,
              run: Run | None, progress: bool) -> SidRun:
    from digr_utils.sid import SemanticIds, reconstruction_error, residual_kmeans, train_rqvae

    start = time.perf_counter()
    history, model = None, None
    if method == "rqvae":
        # the checkpoint name carries a hash of the vectors: a resumed run must see the same input
        checkpoint = run.path(f"rqvae-{digest(np.ascontiguousarray(vectors).tobytes())}.pt") if run else None
        model, history = train_rqvae(vectors, cfg, progress=progress, checkpoint=checkpoint)
        codes = model.encode_codes(vectors).cpu().numpy()
    else:
        codes, _ = residual_kmeans(vectors, cfg.levels, cfg.codebook_size, cfg.seed)
    seconds = time.perf_counter() - start
    ids = SemanticIds.from_codes(codes, data.dataset.items["item_id"].astype(str), cfg.codebook_size)
    figures = {"interests": source.label, "method": method, "train_seconds": seconds,
               **_id_figures(data, ids, codes)}
    if model is not None:
        figures["recon_mse"] = reconstruction_error(model, vectors)
    figures = _rounded(figures)
    if run is not None:
        ids.save(run.path("sids.npz"))
        if history is not None:
            history.to_csv(run.path("history.csv"), index=False)
        run.save_metrics(figures)
    return SidRun(ids, codes, history, figures, run)


def _id_figures(data: Data, ids, codes: np.ndarray) -> dict:
    """Collisions, code use and (on the shop) what items sharing a code prefix have in common."""
    from digr_utils.sid import codebook_usage, shared_code_purity

    size = int(max(ids.sizes[:codes.shape[1]]))
    usage = codebook_usage(codes, size)
    figures = {"dataset": data.key, "items": len(codes), "levels": codes.shape[1],
               "codebook_size": size, "collision_rate": ids.collision_rate(),
               "max_suffix": int(ids.codes[:, -1].max()),
               **{f"used_l{lvl}": float(row.used) for lvl, row in usage.iterrows()},
               **{f"perplexity_l{lvl}": float(row.perplexity) for lvl, row in usage.iterrows()}}
    if data.shop is not None:
        motives = data.shop.motive_sets()
        types = data.dataset.items["product_type"].to_numpy()
        for depth in (1, 2):
            purity = shared_code_purity(codes, motives, types, depth=depth)
            figures.update({f"motive_share_l{depth}": purity["share"],
                            f"type_share_l{depth}": purity["share_b"]})
        figures.update({"motive_floor": purity["floor"], "type_floor": purity["floor_b"]})
    return figures


def _published(data: Data, source: InterestSource, save: bool) -> SidRun:
    """The folder's own semantic IDs (LETTER / MiniOneRec), as they were published."""
    from digr_utils.sid.published import published_sids

    if source.mined:
        raise ValueError("published IDs were made by their authors from item text alone; use "
                         "--interests none with --sids published")
    ids = published_sids(data.dataset)
    run = open_run(data.key, "sids", {"interests": "none", "method": "published"},
                   "none-published") if save else None
    if run is not None and run.finished:
        return _read(run, data)
    codes = ids.codes[:, :-1] if ids.depth > 1 else ids.codes
    figures = _rounded({"interests": "none", "method": "published", **_id_figures(data, ids, codes)})
    if run is not None:
        ids.save(run.path("sids.npz"))
        run.save_metrics(figures)
    return SidRun(ids, codes, None, figures, run)


def _read(run: Run, data: Data) -> SidRun:
    """A finished IEID run, read back and checked against ``data``."""
    ids = load_sids(run.folder, data)
    history = pd.read_csv(run.path("history.csv")) if run.path("history.csv").exists() else None
    return SidRun(ids, ids.codes[:, :-1], history, run.metrics(), run)


def load_sids(folder: str | Path, data: Data | None = None) -> "SemanticIds":
    """The semantic IDs of an IEID run folder; with ``data``, refused unless made from it."""
    from digr_utils.sid import SemanticIds

    run = load_run(folder, data.key if data is not None else None, "sids")
    ids = SemanticIds.load(run.path("sids.npz"))
    if data is not None:
        data.check_items(ids.item_ids, f"{run.path('sids.npz')}")
    return ids


def sids_stage(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
               method: str = "rqvae", spec: DataSpec | None = None,
               recipe: VectorRecipe = VectorRecipe(), seed: int | None = None,
               labels: LabelRecipe = LabelRecipe(), progress: bool = True) -> dict:
    """``digr sids``: :func:`build_sids`'s figures, with the run's folder."""
    result = build_sids(preset, source, method, spec, recipe, seed, progress, labels=labels)
    return {**result.figures, "run": str(result.run.folder)}


def _rounded(figures: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
