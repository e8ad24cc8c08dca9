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
    motives with one matcher (:mod:`digr_utils.interests.judge`); on real data only counts and
    failures are reported. ``visual`` adds each item's visual cues to a real LLM's prompt (the
    answers shipped for SmolLM2 were made without them, so turning it on re-mines).
    """
    import shutil

    from digr_utils.interests import mining
    from digr_utils.interests.judge import minilm_matcher, score

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
    held-out set is never empty.
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
    from digr_utils.interests.judge import minilm_matcher

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
    rows = np.flatnonzero(given >= 0)
    grader = labeling.train_classifier(table, given, rows, kind=kind, seed=p.seed)
    proba = grader.predict_proba(table)
    threshold = labeling.choose_threshold(proba[rows], given[rows])
    keep = np.where(given >= 0, given == 1, proba >= threshold)
    held = np.setdiff1d(np.arange(len(table)), rows)
    scores = labeling.evaluate_labels(proba[held], truth[held], threshold)
    confidence = table.frame["confidence_filled"].to_numpy()
    conf_cut = labeling.choose_threshold(confidence[rows], given[rows])
    conf_scores = labeling.evaluate_labels(confidence[held], truth[held], conf_cut)
    quality = labeling.item_quality(table, keep, data.dataset.n_items)
    kept = labeling.filtered_interests(table, keep, data.dataset.n_items)
    frame = table.frame.assign(label=given, truth=truth, proba=proba, keep=keep.astype(bool))
    figures = {
        "source": source, "classifier": kind, "labels_from": _label_origin(labels_csv, judge),
        "interests": len(table), "annotated": int(len(rows)),
        "keep_all_precision": float(truth[held].mean()),
        "roc_auc": scores["roc_auc"], "average_precision": scores["average_precision"],
        "threshold": threshold, "kept_precision": scores["precision"], "kept_recall": scores["recall"],
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
    from digr_utils.interests.grounding import JUDGE_PREFILL, JUDGE_SETTINGS, llm_judge

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
    rows = labeling.sample_budget(len(table), min(budget, len(table) // 2), p.seed)
    grader = labeling.train_classifier(table, truth, rows, kind=kind, seed=p.seed)
    proba = grader.predict_proba(table)
    threshold = labeling.choose_threshold(proba[rows], truth[rows])
    keep = proba >= threshold
    keep[rows] = truth[rows] == 1
    held = np.setdiff1d(np.arange(len(table)), rows)
    scores = labeling.evaluate_labels(proba[held], truth[held], threshold)
    frame = table.frame.assign(truth=truth, proba=proba, keep=keep)
    kept = labeling.filtered_interests(table, keep, ds.n_users)
    return frame, kept, {"users_keep_all_precision": float(truth[held].mean()),
                         "users_roc_auc": scores["roc_auc"],
                         "users_kept_precision": scores["precision"],
                         "users_kept_recall": scores["recall"]}


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
