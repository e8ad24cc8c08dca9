"""The RLDI stage: grade every mined interest of one source, keep the good ones, score items.

Labels for the annotated subset come from the shop's hidden motives (a stand-in for people,
named as such), from an LLM judge, or from a user's CSV; a grader learns from them and labels
the rest. On the bundled shop quality is measured on the interests nobody annotated; on real
data there is no truth, so the figures say what was kept, not how well.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from digr_utils import labeling
from digr_utils.config import Preset
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.interests.stage import InterestSource, Mining, mine
from digr_utils.io import read_json, write_bytes_atomic, write_json_atomic
from digr_utils.labeling.grader import best_single_feature, echo_rule
from digr_utils.runs import Run, cache_dir, digest, open_run

#: The grader kind that grades nothing: the paper's ablation "without RLDI".
KEEP_ALL = "keep-all"


@dataclass(frozen=True)
class LabelRecipe:
    """How RLDI grades: ``budget`` annotated interests, the grader ``kind``, and where labels
    come from: a ``judge`` (``smollm2`` or ``openai`` with ``judge_url``/``judge_model``), a
    ``labels_csv`` (entity_id, text, label), or, when neither, the shop's hidden motives.
    ``kind="keep-all"`` is RLDI left out: no labels, no grader, every mined interest kept, q_i = 1."""

    budget: int = 200
    kind: str = "logistic"
    judge: str | None = None
    judge_url: str | None = None
    judge_model: str | None = None
    labels_csv: str | None = None

    def __post_init__(self) -> None:
        if self.keeps_all and (self.labels_csv is not None or self.judge is not None):
            raise ValueError("--keep-all grades nothing: leave out --labels and --judge")
        if self.labels_csv is not None and self.judge is not None:
            raise ValueError("give either --labels (your own labels) or --judge (an LLM judge), not both")
        if self.judge not in (None, "smollm2", "openai"):
            raise ValueError(f"unknown judge {self.judge!r}; use smollm2 or openai")
        if self.judge == "openai" and not (self.judge_url and self.judge_model):
            raise ValueError("--judge openai needs --base-url and --model")
        if self.budget < 2:
            raise ValueError(f"--budget {self.budget}: annotate at least 2 interests (one of each label)")

    @property
    def keeps_all(self) -> bool:
        """True for the ablation without RLDI: every mined interest kept, nothing graded."""
        return self.kind == KEEP_ALL

    @property
    def origin(self) -> str:
        if self.keeps_all:
            return "none: without RLDI, every mined interest kept"
        if self.labels_csv is not None:
            return f"file {self.labels_csv}"
        return f"LLM judge ({self.judge})" if self.judge else "hidden motives (stand-in for people)"


@dataclass
class Labels:
    """What RLDI hands on: every graded interest and, per item (and user), the kept ones and q_i.

    ``frame`` has one row per mined interest: ``entity``, ``entity_id``, ``llm``, ``text``,
    ``confidence``, the features, ``label`` (the annotation, -1 where none), ``truth`` (-1 on
    real data), ``proba`` and ``keep``. ``users`` is the same for user-level interests (None when
    the source has none).
    """

    frame: pd.DataFrame
    item_interests: list[list[str]]
    quality: np.ndarray
    users: pd.DataFrame | None
    user_interests: list[list[str]] | None
    figures: dict
    run: Run


def labeling_run(data: Data, mining_run: Run, recipe: LabelRecipe, seed: int) -> Run:
    """The run folder of RLDI over the answers of ``mining_run`` with ``recipe`` and ``seed``;
    a keep-all run is named ``<source>-keepall`` so it is never taken for a graded one."""
    label = mining_run.folder.name.rsplit("-", 1)[0]
    return open_run(data.key, "label", label_fields(data, mining_run.key, recipe, seed),
                    f"{label}-keepall" if recipe.keeps_all else label)


def label_fields(data: Data, mining_key: str, recipe: LabelRecipe, seed: int) -> dict:
    """The recipe naming a label run (a keep-all run has no budget: nothing is annotated)."""
    fields = {"mine": mining_key, "kind": recipe.kind, "labels": recipe.origin, "seed": seed}
    if not recipe.keeps_all:
        fields["budget"] = recipe.budget
    if recipe.labels_csv is not None:  # the file's content, not only its name, names the run
        fields["labels_digest"] = digest(Path(recipe.labels_csv).read_bytes())
    if recipe.judge == "openai":
        fields["judge_model"] = recipe.judge_model
    if data.shop is not None:  # labels and figures come from the hidden motives through the scorer
        from digr_utils.interests.scoring import scorer_key

        fields["scorer"] = scorer_key()
    return fields


def run_labeling(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
                 recipe: LabelRecipe = LabelRecipe(), spec: DataSpec | None = None,
                 seed: int | None = None, progress: bool = True) -> Labels:
    """RLDI on ``source``'s interests; reuses the run when it already finished."""
    p = as_preset(preset)
    seed = p.seed if seed is None else seed
    data = load_data(p, spec)
    mined = mine(data, source, seed, progress=progress)
    run = labeling_run(data, mined.run, recipe, seed)
    if run.finished:
        return _read_labels(run)
    return _grade(data, mined, recipe, seed, run, progress)


def label_stage(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
                recipe: LabelRecipe = LabelRecipe(), spec: DataSpec | None = None,
                seed: int | None = None, progress: bool = True) -> dict:
    """``digr label``: :func:`run_labeling`'s figures."""
    return run_labeling(preset, source, recipe, spec, seed, progress).figures


def kept_interests(data: Data, source: InterestSource, seed: int,
                   recipe: LabelRecipe = LabelRecipe()) -> tuple[list[list[str]], np.ndarray, Run]:
    """RLDI's kept interests per item, the item quality q_i, and the label run they come from
    (graded now if that run has not finished)."""
    mined = mine(data, source, seed, progress=False)
    run = labeling_run(data, mined.run, recipe, seed)
    if not run.finished:
        _grade(data, mined, recipe, seed, run, progress=False)
    kept = read_json(run.path("kept_item_interests.json"))
    data.check_items([r["item_id"] for r in kept], f"{run.path('kept_item_interests.json')}")
    return [r["interests"] for r in kept], np.load(run.path("item_quality.npy")), run


def _grade(data: Data, mined: Mining, recipe: LabelRecipe, seed: int, run: Run,
           progress: bool) -> Labels:
    from digr_utils.interests.scoring import minilm_matcher

    start = time.perf_counter()
    emb = cache_dir()
    table = labeling.interest_table(mined.items, data.dataset.items, cache_dir=emb)
    matcher = minilm_matcher(emb) if data.shop is not None else None
    truth = (labeling.truth_labels(table, data.shop.motive_sets(), matcher)
             if data.shop is not None else None)
    # at most half is annotated, so the grader is always measured on interests it never saw
    annotated = labeling.sample_budget(len(table), min(recipe.budget, len(table) // 2), seed)
    oracle = mined.source.name == "oracle"
    if oracle or recipe.keeps_all:  # the answer key itself, or RLDI left out: all kept
        given = np.full(len(table), 1 if oracle else -1)  # the oracle's answers are their own labels
        graded = _everything_kept(len(table))
    else:
        given = _annotations(table, truth, annotated, data, recipe, run, progress)
        graded = labeling.grade(table, given, truth, recipe.kind, seed)
    keep = graded.keep
    quality = labeling.item_quality(table, keep, data.dataset.n_items)
    kept = labeling.filtered_interests(table, keep, data.dataset.n_items)
    frame = table.frame.assign(label=given, truth=truth if truth is not None else -1,
                               proba=graded.proba, keep=keep.astype(bool))
    figures = {"interests": mined.source.label, "dataset": data.key,
               "classifier": recipe.kind, "labels_from": recipe.origin,
               "mined_interests": len(table), "annotated": int((given >= 0).sum()),
               "kept_share": float(keep.mean()), "mean_quality": float(quality.mean()),
               "items_without_kept_interests": float(np.mean([not k for k in kept]))}
    if oracle:
        figures["labels_from"] = "none needed: the oracle's interests are the truth"
    if truth is not None and recipe.keeps_all:
        figures["kept_precision"] = float(truth.mean())
    if truth is not None:
        if len(graded.held):
            figures.update(_held_out_scores(table, given, truth, graded))
        figures.update(_neighbour_agreement(data, table, keep, truth))
    user_frame, user_kept = None, None
    if mined.users is not None and data.shop is not None:
        user_frame, user_kept, user_figures = _label_users(data, mined.users, matcher,
                                                           recipe, seed)
        figures.update(user_figures)
    figures["seconds"] = time.perf_counter() - start
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    _write_labels(run, data, frame, kept, quality, user_frame, user_kept)
    run.save_metrics(figures)
    return Labels(frame, kept, quality, user_frame, user_kept, figures, run)


def _everything_kept(n: int) -> labeling.Grading:
    """No grader: each of ``n`` interests kept with P(good) = 1 and none held out to score."""
    return labeling.Grading(np.ones(n), np.ones(n, dtype=bool), 0.5, np.arange(0), {})


def _held_out_scores(table, given: np.ndarray, truth: np.ndarray, graded) -> dict:
    """The grader beside three simple rules on the interests nobody annotated: confidence alone,
    the best single feature (picked with hindsight) and the hand-written echo rule."""
    rows, held, scores = np.flatnonzero(given >= 0), graded.held, graded.scores
    confidence = table.frame["confidence_filled"].to_numpy()
    conf_cut = labeling.choose_threshold(confidence[rows], given[rows])
    conf = labeling.evaluate_labels(confidence[held], truth[held], conf_cut)
    labels = np.where(given >= 0, given, truth)  # held-out rows are scored against the truth
    feature, feature_auc = best_single_feature(table, labels, rows, held)
    echo = labeling.evaluate_labels(echo_rule(table)[held], truth[held])
    return {"keep_all_precision": float(truth[held].mean()),
            "best_rule_feature": feature, "best_rule_auc": feature_auc,
            "echo_rule_auc": echo["roc_auc"],
            "roc_auc": scores["roc_auc"], "average_precision": scores["average_precision"],
            "threshold": graded.threshold, "kept_precision": scores["precision"],
            "kept_recall": scores["recall"], "confidence_only_auc": conf["roc_auc"],
            "confidence_only_precision": conf["precision"], "confidence_only_recall": conf["recall"]}


def _annotations(table, truth, annotated, data: Data, recipe: LabelRecipe, run: Run,
                 progress: bool) -> np.ndarray:
    """One label per table row for the annotated subset (-1 elsewhere), from the chosen origin."""
    if recipe.labels_csv is not None:
        return labeling.read_labels(recipe.labels_csv, table)
    given = np.full(len(table), -1)
    if recipe.judge is None:
        if truth is None:
            raise ValueError(f"dataset {data.key} has no hidden motives to label from; give your "
                             "own labels with --labels FILE (entity_id, text, label) or an LLM "
                             "judge with --judge smollm2|openai")
        given[annotated] = truth[annotated]
        return given
    from digr_utils.interests.llm_judge import JUDGE_PREFILL, JUDGE_SETTINGS, llm_judge

    if recipe.judge == "smollm2":
        from digr_utils.interests.backends import LocalHF

        backend = LocalHF(settings=JUDGE_SETTINGS)
    else:
        from digr_utils.interests.openai_client import OpenAICompatible

        backend = OpenAICompatible(recipe.judge_url, recipe.judge_model, max_tokens=8,
                                   prefill=JUDGE_PREFILL)
    rows = table.frame.iloc[annotated]
    items = data.dataset.items
    verdicts = run.path("judge.jsonl")
    given[annotated] = llm_judge(list(rows["text"]), list(items["title"].iloc[rows["entity"]]),
                                 list(items["description"].iloc[rows["entity"]]),
                                 list(rows["entity_id"]), backend, verdicts, progress)
    if not (given >= 0).any():
        raise ValueError(f"the {recipe.judge} judge gave no readable verdict for any of "
                         f"{len(annotated)} interests; inspect {verdicts}")
    return given


def _neighbour_agreement(data: Data, table, keep, truth) -> dict:
    """Notebook 01's neighbour-motive agreement for surface text alone and fused with the mined
    interests: all of them, the kept ones, and the truly good ones (the ceiling of filtering)."""
    from digr_utils.data.diagnostics import surface_vs_motive
    from digr_utils.embed import encode
    from digr_utils.representation import fuse, interest_vectors

    surface = encode(data.dataset.text(), cache_dir=cache_dir())
    n = data.dataset.n_items
    out = {"agreement_surface": surface_vs_motive(data.shop, surface)["motive_agreement"]}
    for name, chosen in (("all", keep | True), ("kept", keep), ("truly_good", truth == 1)):
        vectors, _ = interest_vectors(labeling.filtered_interests(table, chosen, n),
                                      cache_dir=cache_dir())
        fused = fuse(surface, [(vectors, 1.0)])
        out[f"agreement_fused_{name}"] = surface_vs_motive(data.shop, fused)["motive_agreement"]
    return out


def _label_users(data: Data, users: dict, matcher, recipe: LabelRecipe, seed: int):
    """The same grading for user-level interests, annotated from the motives each user's
    training items show (no validation or test item reaches the truth)."""
    from digr_utils.interests.scoring import user_truth

    ds = data.dataset
    evidence = labeling.user_evidence(ds.items, ds.users["user_id"].astype(str).tolist(),
                                      data.split.train)
    table = labeling.interest_table(users, evidence, cache_dir=cache_dir())
    truth = labeling.truth_labels(table, user_truth(data.shop, data.split.train), matcher)
    if recipe.keeps_all:
        graded = _everything_kept(len(table))
    else:
        given = np.full(len(table), -1)
        rows = labeling.sample_budget(len(table), min(recipe.budget, len(table) // 2), seed)
        given[rows] = truth[rows]
        graded = labeling.grade(table, given, truth, recipe.kind, seed)
    frame = table.frame.assign(truth=truth, proba=graded.proba, keep=graded.keep.astype(bool))
    kept = labeling.filtered_interests(table, graded.keep, ds.n_users)
    if recipe.keeps_all:
        return frame, kept, {"users_kept_precision": float(truth.mean())}
    return frame, kept, {"users_keep_all_precision": float(truth[graded.held].mean()),
                         "users_roc_auc": graded.scores["roc_auc"],
                         "users_kept_precision": graded.scores["precision"],
                         "users_kept_recall": graded.scores["recall"]}


def _write_labels(run: Run, data: Data, frame, kept, quality, user_frame, user_kept) -> None:
    ids = data.dataset.items["item_id"].astype(str).tolist()
    write_bytes_atomic(run.path("item_interests.csv"), frame.to_csv(index=False).encode())
    write_json_atomic(run.path("kept_item_interests.json"),
                      [{"item_id": i, "interests": k} for i, k in zip(ids, kept)], indent=None)
    write_bytes_atomic(run.path("item_quality.npy"), _npy(quality))
    if user_frame is not None:
        write_bytes_atomic(run.path("user_interests.csv"), user_frame.to_csv(index=False).encode())
        write_json_atomic(run.path("kept_user_interests.json"), user_kept, indent=None)


def _read_labels(run: Run) -> Labels:
    """A finished label run, read back (the grader is not retrained)."""
    users_csv = run.path("user_interests.csv")
    kept = read_json(run.path("kept_item_interests.json"))
    return Labels(pd.read_csv(run.path("item_interests.csv"), keep_default_na=False),
                  [r["interests"] for r in kept], np.load(run.path("item_quality.npy")),
                  pd.read_csv(users_csv, keep_default_na=False) if users_csv.exists() else None,
                  read_json(run.path("kept_user_interests.json")) if users_csv.exists() else None,
                  run.metrics(), run)


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
