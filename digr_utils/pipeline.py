"""One function per stage of the course; each loads what earlier stages made or builds it.

Notebooks and the ``digr`` command call the same functions, so a figure in a notebook and the
JSON line printed by the command come from one code path.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from digr_utils.config import Preset, artifacts_dir, get_preset, pick_device
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


def _rounded(figures: dict) -> dict:
    return {k: round(v, 4) for k, v in figures.items()}


def save_metrics(preset: Preset, stage: str, figures: dict) -> Path:
    """Write a stage's key figures as ``artifacts/<preset>/<stage>/metrics.json``."""
    path = artifacts_dir(preset, stage) / "metrics.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def shipped_llm_answers(preset: Preset) -> Path:
    """Where the precomputed answers of the bundled SmolLM2 for a preset's shop are shipped."""
    from digr_utils.data.world import DATA_DIR

    return DATA_DIR / "llm" / f"smollm2_{preset.name}.jsonl"


def mine_stage(preset: str | Preset | None = None, backend: str = "simulated",
               base_url: str | None = None, model: str | None = None,
               spec: DataSpec | None = None, visual: bool = False, progress: bool = True) -> dict:
    """MLIM: mine every item with ``backend`` (simulated | smollm2 | openai) and score it.

    The simulated panel is also merged across its annotators (interests at least two agree on)
    and mines users too. On the bundled shop every answer set is scored against the hidden
    motives with one matcher (:mod:`digr_utils.interests.scoring`); on real data only counts and
    failures are reported. ``visual`` adds each item's visual cues to a real LLM's prompt (the
    answers shipped for SmolLM2 were made without them, so turning it on re-mines).
    """
    import shutil

    from digr_utils.interests import mining
    from digr_utils.interests.scoring import minilm_matcher, score

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    data = load_data(p, spec)
    folder = artifacts_dir(p, "mine")
    answers: dict[str, list] = {}
    runs: dict[str, dict] = {}
    if backend == "simulated":
        if data.shop is None:
            raise ValueError("the simulated panel reads the bundled shop's hidden motives; it "
                             "cannot mine a real dataset: use --backend smollm2 or openai")
        from digr_utils.interests.simulated import default_panel

        from digr_utils.interests import merge

        panel = default_panel(p.seed)
        for annotator in panel:
            answers[annotator.model], runs[annotator.model] = mining.mine_simulated(
                annotator, data.shop, folder / f"{annotator.model}.jsonl", progress=progress)
        merged = merge.merge_interests(answers, cache_dir=artifacts_dir(p, "embeddings"))
        answers["merged (support >= 2)"] = merge.to_mined(merged, data.dataset.items["item_id"], 2)
        user_answers = {a.model: mining.mine_simulated(a, data.shop, folder / f"{a.model}-users.jsonl",
                                                       users=True, progress=progress)[0]
                        for a in panel}
    else:
        cues = None
        if visual:
            if data.shop is None:
                raise ValueError("visual cues need item images; real datasets here have none")
            from digr_utils.interests.visual import visual_cues_all

            cues = visual_cues_all(data.shop.images)
        if backend == "smollm2":
            from digr_utils.interests.backends import LocalHF

            llm = LocalHF()
            cache = folder / "smollm2.jsonl"
            shipped = shipped_llm_answers(p)
            if data.shop is not None and not cache.exists() and shipped.exists():
                shutil.copyfile(shipped, cache)  # start from the answers shipped in data/
        elif backend == "openai":
            from digr_utils.interests.openai_client import OpenAICompatible

            if not (base_url and model):
                raise ValueError("--backend openai needs --base-url and --model")
            llm = OpenAICompatible(base_url, model)
            cache = folder / "openai.jsonl"
        else:
            raise ValueError(f"unknown backend {backend!r}; use simulated, smollm2 or openai")
        answers[llm.model], runs[llm.model] = mining.mine_items(
            data.dataset, llm, cache, visual_cues=cues, progress=progress)
    quality, user_quality = {}, {}
    if data.shop is not None:
        matcher = minilm_matcher(artifacts_dir(p, "embeddings"))
        truth = data.shop.motive_sets()
        quality = {name: score(mined, truth, matcher) for name, mined in answers.items()}
        if backend == "simulated":
            user_truth = [set(m) for m in data.shop.user_motives]
            user_quality = {name: _rounded(score(mined, user_truth, matcher))
                            for name, mined in user_answers.items()}
    figures = {"backend": backend, "dataset": data.dataset.name,
               "llms": {name: {**_rounded(quality.get(name, {})), **runs.get(name, {})}
                        for name in answers}}
    if user_quality:
        figures["users"] = user_quality
    save_metrics(p, "mine", figures)
    return figures


def shipped_smollm2(preset: str | Preset | None = None) -> tuple[list, dict]:
    """The bundled SmolLM2's precomputed answers for every item of the preset's shop.

    Returns the answers in item order and the settings they were made with; written by
    ``scripts/precompute_smollm2.py``. No model is loaded. The raw answers are parsed again
    with the current parser, so an improved parser applies to the shipped answers too.
    """
    from digr_utils.interests.cache import MiningCache
    from digr_utils.interests.parse import to_mined

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    path = shipped_llm_answers(p)
    record_path = path.with_suffix(".json")
    if not record_path.exists():
        raise FileNotFoundError(f"{record_path} is missing; make it with "
                                f"`python scripts/precompute_smollm2.py --preset {p.name}`")
    record = json.loads(record_path.read_text())
    cache = MiningCache(path)
    ids = load_shop(p).dataset.items["item_id"]
    mined = [cache.get((record["backend"], record["model"], record["prompt_key"], i)) for i in ids]
    missing = [i for i, m in zip(ids, mined) if m is None]
    if missing:
        raise ValueError(f"{path}: no answer for {len(missing)} items ({missing[0]} first); finish "
                         f"it with `python scripts/precompute_smollm2.py --preset {p.name}` (it resumes)")
    return [to_mined(m.entity, m.backend, m.model, m.raw, m.tokens) for m in mined], record


#: Where the interests RLDI grades come from: the simulated panel or the bundled SmolLM2's answers.
LABEL_SOURCES = ("simulated", "smollm2")


@dataclass
class Labels:
    """What RLDI hands on: every graded interest and, per item (and user), the kept ones and q_i.

    ``frame`` has one row per mined interest: ``entity``, ``entity_id``, ``llm``, ``text``,
    ``confidence``, the features, ``label`` (the annotation, -1 where none), ``proba`` and
    ``keep``. ``users`` is the same for user-level interests (None when the source has none).
    """

    frame: "pd.DataFrame"
    item_interests: list[list[str]]
    quality: "np.ndarray"
    users: "pd.DataFrame | None"
    user_interests: list[list[str]] | None
    figures: dict


def mined_for_labeling(preset: Preset, source: str, data: Data) -> tuple[dict, dict | None]:
    """The item answers (per LLM) RLDI grades, and the user answers when the source has them."""
    if source not in LABEL_SOURCES:
        raise ValueError(f"unknown interest source {source!r}; use one of {', '.join(LABEL_SOURCES)}")
    if data.shop is None:
        raise ValueError("RLDI on real data reads mined answers from your own mining run; use the "
                         "library (digr_utils.labeling) with your cache and an LLM judge or --labels")
    if source == "smollm2":
        return {"SmolLM2-135M": shipped_smollm2(preset)[0]}, None
    from digr_utils.interests.mining import mine_simulated
    from digr_utils.interests.simulated import default_panel

    folder = artifacts_dir(preset, "mine")
    items, users = {}, {}
    for a in default_panel(preset.seed):
        items[a.model] = mine_simulated(a, data.shop, folder / f"{a.model}.jsonl", progress=False)[0]
        users[a.model] = mine_simulated(a, data.shop, folder / f"{a.model}-users.jsonl",
                                        users=True, progress=False)[0]
    return items, users


def label_stage(preset: str | Preset | None = None, source: str = "simulated", budget: int = 200,
                kind: str = "logistic", labels_csv: str | Path | None = None,
                judge: str | None = None, base_url: str | None = None, model: str | None = None,
                progress: bool = True) -> dict:
    """RLDI: grade every mined interest, keep the good ones, score items; write and return figures.

    The annotated subset (``budget`` interests drawn at random) is labelled from the hidden
    motives (the shop's stand-in for people), by an LLM ``judge`` (``smollm2`` or ``openai``
    with ``base_url``/``model``), or read from ``labels_csv`` (entity_id, text, label). A grader of
    ``kind`` learns from it and labels the rest; quality is measured on the interests nobody
    annotated, against the hidden motives. At most half the interests are annotated, so that
    held-out set is never empty. User-level interests (simulated panel only) are always
    annotated from the users' hidden motives.
    """
    labels = run_labeling(preset, source, budget, kind, labels_csv, judge, base_url, model, progress)
    return labels.figures


def run_labeling(preset: str | Preset | None = None, source: str = "simulated", budget: int = 200,
                 kind: str = "logistic", labels_csv: str | Path | None = None,
                 judge: str | None = None, base_url: str | None = None, model: str | None = None,
                 progress: bool = True) -> Labels:
    """:func:`label_stage`, returning the :class:`Labels` themselves (notebook 03 reads them)."""
    import numpy as np

    from digr_utils import labeling
    from digr_utils.interests.scoring import minilm_matcher

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    start = time.perf_counter()
    data = load_data(p)
    items, users = mined_for_labeling(p, source, data)
    emb_dir = artifacts_dir(p, "embeddings")
    folder = artifacts_dir(p, f"label/{source}")
    matcher = minilm_matcher(emb_dir)
    table = labeling.interest_table(items, data.dataset.items, cache_dir=emb_dir)
    truth = labeling.truth_labels(table, data.shop.motive_sets(), matcher)
    # at most half is annotated, so the grader is always measured on interests it never saw
    annotated = labeling.sample_budget(len(table), min(budget, len(table) // 2), p.seed)
    given = _annotations(table, truth, annotated, data, labels_csv, judge, base_url, model,
                         folder, progress)
    graded = labeling.grade(table, given, truth, kind, p.seed)
    rows, held, keep, scores = np.flatnonzero(given >= 0), graded.held, graded.keep, graded.scores
    confidence = table.frame["confidence_filled"].to_numpy()
    conf_cut = labeling.choose_threshold(confidence[rows], given[rows])
    conf_scores = labeling.evaluate_labels(confidence[held], truth[held], conf_cut)
    quality = labeling.item_quality(table, keep, data.dataset.n_items)
    kept = labeling.filtered_interests(table, keep, data.dataset.n_items)
    frame = table.frame.assign(label=given, truth=truth, proba=graded.proba, keep=keep.astype(bool))
    figures = {
        "source": source, "classifier": kind, "labels_from": _label_origin(labels_csv, judge),
        "interests": len(table), "annotated": int(len(rows)),
        "keep_all_precision": float(truth[held].mean()),
        "roc_auc": scores["roc_auc"], "average_precision": scores["average_precision"],
        "threshold": graded.threshold, "kept_precision": scores["precision"],
        "kept_recall": scores["recall"],
        "confidence_only_auc": conf_scores["roc_auc"], "confidence_only_precision": conf_scores["precision"],
        "confidence_only_recall": conf_scores["recall"],
        "mean_quality": float(quality.mean()),
        "items_without_kept_interests": float(np.mean([not k for k in kept])),
    }
    figures.update(_neighbour_agreement(data, table, keep, truth, emb_dir))
    user_frame, user_kept = None, None
    if users is not None:
        user_frame, user_kept, user_figures = _label_users(p, data, users, matcher, budget, kind, emb_dir)
        figures.update(user_figures)
    figures["seconds"] = time.perf_counter() - start
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    _write_labels(folder, frame, kept, quality, user_frame, user_kept)
    (folder / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    save_metrics(p, "label", figures)
    return Labels(frame, kept, quality, user_frame, user_kept, figures)


def _annotations(table, truth, annotated, data: Data, labels_csv, judge, base_url, model,
                 folder: Path, progress: bool):
    """One label per table row for the annotated subset (-1 elsewhere), from the chosen origin."""
    import numpy as np

    from digr_utils import labeling

    if labels_csv is not None and judge is not None:
        raise ValueError("give either --labels (your own labels) or --judge (an LLM judge), not both")
    if labels_csv is not None:
        return labeling.read_labels(labels_csv, table)
    given = np.full(len(table), -1)
    if judge is None:
        given[annotated] = truth[annotated]
        return given
    from digr_utils.interests.llm_judge import JUDGE_PREFILL, JUDGE_SETTINGS, llm_judge

    if judge == "smollm2":
        from digr_utils.interests.backends import LocalHF

        backend = LocalHF(settings=JUDGE_SETTINGS)
    elif judge == "openai":
        from digr_utils.interests.openai_client import OpenAICompatible

        if not (base_url and model):
            raise ValueError("--judge openai needs --base-url and --model")
        backend = OpenAICompatible(base_url, model, max_tokens=8, prefill=JUDGE_PREFILL)
    else:
        raise ValueError(f"unknown judge {judge!r}; use smollm2 or openai")
    rows = table.frame.iloc[annotated]
    items = data.dataset.items
    given[annotated] = llm_judge(list(rows["text"]), list(items["title"].iloc[rows["entity"]]),
                                 list(items["description"].iloc[rows["entity"]]),
                                 list(rows["entity_id"]), backend, folder / "judge.jsonl", progress)
    if not (given >= 0).any():
        raise ValueError(f"the {judge} judge gave no readable verdict for any of {len(annotated)} "
                         f"interests; inspect {folder / 'judge.jsonl'}")
    return given


def _label_origin(labels_csv, judge) -> str:
    if labels_csv is not None:
        return f"file {labels_csv}"
    return f"LLM judge ({judge})" if judge else "hidden motives (stand-in for people)"


def _neighbour_agreement(data: Data, table, keep, truth, emb_dir: Path) -> dict:
    """Notebook 01's neighbour-motive agreement for surface text alone and fused with the mined
    interests: all of them, the kept ones, and the truly good ones (the ceiling of filtering)."""
    from digr_utils import labeling
    from digr_utils.data.diagnostics import surface_vs_motive
    from digr_utils.embed import encode
    from digr_utils.representation import fuse, interest_vectors

    surface = encode(data.dataset.text(), cache_dir=emb_dir)
    n = data.dataset.n_items
    out = {"agreement_surface": surface_vs_motive(data.shop, surface)["motive_agreement"]}
    for name, chosen in (("all", keep | True), ("kept", keep), ("truly_good", truth == 1)):
        vectors, _ = interest_vectors(labeling.filtered_interests(table, chosen, n), cache_dir=emb_dir)
        fused = fuse(surface, [(vectors, 1.0)])
        out[f"agreement_fused_{name}"] = surface_vs_motive(data.shop, fused)["motive_agreement"]
    return out


def _label_users(p: Preset, data: Data, users: dict, matcher, budget: int, kind: str, emb_dir: Path):
    """The same grading for user-level interests (annotated from the users' hidden motives)."""
    import numpy as np

    from digr_utils import labeling

    ds = data.dataset
    evidence = labeling.user_evidence(ds.items, ds.users["user_id"].astype(str).tolist(),
                                      data.split.train)
    table = labeling.interest_table(users, evidence, cache_dir=emb_dir)
    truth = labeling.truth_labels(table, [set(m) for m in data.shop.user_motives], matcher)
    given = np.full(len(table), -1)
    rows = labeling.sample_budget(len(table), min(budget, len(table) // 2), p.seed)
    given[rows] = truth[rows]
    graded = labeling.grade(table, given, truth, kind, p.seed)
    frame = table.frame.assign(truth=truth, proba=graded.proba, keep=graded.keep.astype(bool))
    kept = labeling.filtered_interests(table, graded.keep, ds.n_users)
    return frame, kept, {"users_keep_all_precision": float(truth[graded.held].mean()),
                         "users_roc_auc": graded.scores["roc_auc"],
                         "users_kept_precision": graded.scores["precision"],
                         "users_kept_recall": graded.scores["recall"]}


def _write_labels(folder: Path, frame, kept, quality, user_frame, user_kept) -> None:
    import numpy as np

    frame.to_csv(folder / "item_interests.csv", index=False)
    (folder / "kept_item_interests.json").write_text(json.dumps(kept, ensure_ascii=False) + "\n")
    np.save(folder / "item_quality.npy", quality)
    if user_frame is not None:
        user_frame.to_csv(folder / "user_interests.csv", index=False)
        (folder / "kept_user_interests.json").write_text(json.dumps(user_kept, ensure_ascii=False) + "\n")


def kept_interests(preset: str | Preset | None = None, source: str = "simulated") -> tuple[list[list[str]], "np.ndarray"]:
    """RLDI's kept interests per item and the item quality q_i, from its artifacts (made if missing)."""
    import numpy as np

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    folder = artifacts_dir(p, f"label/{source}")
    path = folder / "kept_item_interests.json"
    if not path.exists():
        run_labeling(p, source, progress=False)
    return json.loads(path.read_text()), np.load(folder / "item_quality.npy")


#: Item representations a semantic ID can be built from (notebook 04).
SID_SOURCES = ("shallow", "deep")


@dataclass(frozen=True)
class DeepRecipe:
    """How item vectors are made: the sentence ``encoder`` (the bundled ``minilm`` or any
    sentence-transformers name or folder), and for deep vectors the weights of the kept
    interests and visual cues fused with the surface vector."""

    encoder: str = "minilm"
    interests_from: str = "simulated"
    interest_weight: float = 1.0
    cue_weight: float = 0.2
    mode: str = "sum"


def item_vectors(preset: Preset, source: str, data: Data,
                 recipe: DeepRecipe = DeepRecipe()) -> "np.ndarray":
    """Unit item vectors: ``shallow`` = the encoder's embedding of title + description; ``deep``
    = that vector fused with the mean vector of the item's RLDI-kept interests and of its
    visual cues (all three from the same encoder, cached per text)."""
    from digr_utils.embed import encode
    from digr_utils.representation import fuse, interest_vectors

    if source not in SID_SOURCES:
        raise ValueError(f"unknown SID source {source!r}; use one of {', '.join(SID_SOURCES)}")
    emb_dir = artifacts_dir(preset, "embeddings")

    def embed(texts: list[str]) -> "np.ndarray":
        return encode(texts, model=recipe.encoder, cache_dir=emb_dir)

    surface = embed(data.dataset.text())
    if source == "shallow":
        return surface
    if recipe.encoder == "tfidf":
        raise ValueError("deep item vectors fuse separately encoded texts, but TF-IDF vectors depend "
                         "on the texts encoded together; use a neural encoder (minilm) for --source deep")
    if data.shop is None:
        raise ValueError("deep item vectors need mined interests, which this course makes for the "
                         "bundled shop; on real data use --source shallow (or mine and label first "
                         "with the library)")
    from digr_utils.interests.visual import visual_cues_all

    kept, _ = kept_interests(preset, recipe.interests_from)
    interests, _ = interest_vectors(kept, embed_fn=embed)
    cues = embed(visual_cues_all(data.shop.images))
    return fuse(surface, [(interests, recipe.interest_weight), (cues, recipe.cue_weight)], recipe.mode)


@dataclass
class SidRun:
    """A trained quantiser's output: the IDs, raw codes, training history and diagnostics."""

    ids: "SemanticIds"
    codes: "np.ndarray"  # (n_items, L) before the suffix
    history: "pd.DataFrame | None"
    figures: dict


def build_sids(preset: str | Preset | None = None, source: str = "deep", method: str = "rqvae",
               spec: DataSpec | None = None, recipe: DeepRecipe = DeepRecipe(),
               progress: bool = True, save: bool = True, **overrides) -> SidRun:
    """IEID: quantise the items' ``source`` vectors into semantic IDs with ``method``
    (``rqvae`` or residual ``kmeans``) and measure them. ``overrides`` set RQVAEConfig fields
    (levels, codebook_size, epochs, ...). With ``save``, the IDs, the RQ-VAE checkpoint (a rerun
    resumes from it) and the figures go to ``artifacts/<preset>/sids/<source>/``, where later
    stages read them; experiments pass ``save=False``."""
    import numpy as np
    import pandas as pd

    from digr_utils.sid import (RQVAEConfig, SemanticIds, codebook_usage, reconstruction_error,
                                residual_kmeans, shared_code_purity, train_rqvae)

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if method not in ("rqvae", "kmeans"):
        raise ValueError(f"unknown quantiser {method!r}; use rqvae or kmeans")
    data = load_data(p, spec)
    vectors = item_vectors(p, source, data, recipe)
    cfg = RQVAEConfig.for_items(vectors.shape[1], len(vectors), full=p.name == "full",
                                seed=p.seed, **overrides)
    folder = artifacts_dir(p, f"sids/{source}" if spec is None else f"sids/{spec.name}-{source}")
    start = time.perf_counter()
    history = None
    if method == "rqvae":
        # the checkpoint name carries a hash of the vectors: a resumed run must see the same input
        digest = hashlib.sha1(np.ascontiguousarray(vectors).tobytes()).hexdigest()[:10]
        model, history = train_rqvae(vectors, cfg, progress=progress,
                                     checkpoint=folder / f"rqvae-{digest}.pt" if save else None)
        codes = model.encode_codes(vectors).cpu().numpy()
    else:
        codes, _ = residual_kmeans(vectors, cfg.levels, cfg.codebook_size, cfg.seed)
    seconds = time.perf_counter() - start
    ids = SemanticIds.from_codes(codes, data.dataset.items["item_id"].astype(str), cfg.codebook_size)
    usage = codebook_usage(codes, cfg.codebook_size)
    figures = {"source": source, "method": method, "dataset": data.dataset.name,
               "items": len(vectors), "levels": cfg.levels, "codebook_size": cfg.codebook_size,
               "train_seconds": seconds, "collision_rate": ids.collision_rate(),
               "max_suffix": int(ids.codes[:, -1].max()),
               **{f"used_l{lvl}": float(row.used) for lvl, row in usage.iterrows()},
               **{f"perplexity_l{lvl}": float(row.perplexity) for lvl, row in usage.iterrows()}}
    if method == "rqvae":
        figures["recon_mse"] = reconstruction_error(model, vectors)
    if data.shop is not None:
        motives = data.shop.motive_sets()
        types = data.dataset.items["product_type"].to_numpy()
        for depth in (1, 2):
            purity = shared_code_purity(codes, motives, types, depth=depth)
            figures.update({f"motive_share_l{depth}": purity["share"], f"type_share_l{depth}": purity["share_b"]})
        figures.update({"motive_floor": purity["floor"], "type_floor": purity["floor_b"]})
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    if save:
        ids.save(folder / "sids.npz")
        if history is not None:
            history.to_csv(folder / "history.csv", index=False)
        (folder / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    return SidRun(ids, codes, history, figures)


def sids_stage(preset: str | Preset | None = None, source: str = "deep", method: str = "rqvae",
               spec: DataSpec | None = None, encoder: str = "minilm", progress: bool = True) -> dict:
    """:func:`build_sids` for the command line: its figures, also saved as the stage's metrics."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    figures = build_sids(p, source, method, spec, DeepRecipe(encoder=encoder), progress=progress).figures
    save_metrics(p, "sids", figures)
    return figures


def load_sids(preset: str | Preset | None = None, source: str = "deep") -> "SemanticIds":
    """The semantic IDs notebook 04 (or ``digr sids``) built for ``source``; built now if missing."""
    from digr_utils.sid import SemanticIds

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    path = artifacts_dir(p, f"sids/{source}") / "sids.npz"
    if not path.exists():
        build_sids(p, source, progress=False)
    return SemanticIds.load(path)


@dataclass
class SFTRun:
    """A trained stage-1 model, ready to rank (``recommender``), with its history and figures."""

    recommender: "GenerativeRecommender"
    history: "pd.DataFrame"
    figures: dict


def run_sft(preset: str | Preset | None = None, source: str = "deep", aux: bool | None = None,
            seed: int | None = None, valid_users: int = 1000, progress: bool = True,
            save: bool = True, **overrides) -> SFTRun:
    """Stage 1: train a T5 on ``source`` semantic IDs by SFT and score it on the split.

    ``aux`` adds the interest <-> SID alignment tasks (default: on for deep IDs, off for shallow
    ones, whose items have no interests in TIGER). Early stopping watches NDCG@10 of constrained
    beam search on ``valid_users`` validation users; the final figures use all users. With
    ``save``, checkpoints go to ``artifacts/<preset>/sft/...`` and an interrupted run resumes.
    ``overrides`` set :class:`~digr_utils.gen.sft.SFTConfig` fields (epochs, lr, ...).
    """
    import numpy as np

    from digr_utils.gen.data import TaskMix, build_examples
    from digr_utils.gen.model import ModelConfig, build_model
    from digr_utils.gen.recommender import GenerativeRecommender
    from digr_utils.gen.sft import SFTConfig, train_sft
    from digr_utils.gen.vocab import SidVocab
    from digr_utils.metrics import evaluate, ranking_metrics

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    seed = p.seed if seed is None else seed
    aux = source == "deep" if aux is None else aux
    data = load_data(p)
    ids = load_sids(p, source)
    interests = kept_interests(p)[0] if aux else None
    vocab = SidVocab.build(ids.codes, ids.sizes, interests)
    examples = build_examples(data.split, vocab, interests,
                              TaskMix(interest_to_sid=aux, sid_to_interest=aux), p.max_history)
    model = build_model(ModelConfig.for_preset(p), vocab, seed=seed)
    recommender = GenerativeRecommender(model, vocab, max_history=p.max_history,
                                        device=pick_device())
    split = data.split
    watch = np.sort(np.random.default_rng(seed).permutation(len(split.valid_target))[:valid_users])

    def validate(m) -> dict:
        topk = recommender.recommend([split.valid_history[u] for u in watch], 10)
        return ranking_metrics(topk, split.valid_target[watch], (10,))

    digest = hashlib.sha1(ids.codes.tobytes()).hexdigest()[:8]
    folder = artifacts_dir(p, f"sft/{source}-{'aux' if aux else 'noaux'}-seed{seed}-{digest}") if save else None
    result = train_sft(model, examples, SFTConfig.for_preset(p, seed=seed, **overrides), validate,
                       checkpoint_dir=folder, progress=progress)
    start = time.perf_counter()
    scores = {part: evaluate(recommender, split, part) for part in ("valid", "test")}
    figures = {"source": source, "aux_tasks": aux, "seed": seed, "examples": len(examples),
               "epochs_run": len(result.history), "best_epoch": result.best_epoch,
               "train_seconds": float(result.history["seconds"].sum()),
               "sequences_per_second": float(result.history["sequences_per_second"].median()),
               "rank_seconds": time.perf_counter() - start,
               **{f"{part} {group} {metric}": value for part, s in scores.items()
                  for group in ("all", "warm", "new") for metric, value in s[group].items()
                  if part == "test" or group == "all"}}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    if folder is not None:
        result.history.to_csv(folder / "history.csv", index=False)
        (folder / "metrics.json").write_text(json.dumps(figures, indent=2) + "\n")
    return SFTRun(recommender, result.history, figures)


def sft_stage(preset: str | Preset | None = None, source: str = "deep", aux: bool | None = None,
              seed: int | None = None, progress: bool = True) -> dict:
    """:func:`run_sft` for the command line: its figures, also saved as the stage's metrics."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    figures = run_sft(p, source, aux, seed, progress=progress).figures
    save_metrics(p, "sft", figures)
    return figures
