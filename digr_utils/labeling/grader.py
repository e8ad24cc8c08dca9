"""RLDI: a light classifier grades mined interests good or bad, and items get a quality score.

Mined interests are noisy: small LLMs echo the product name, large ones invent motives. Each
interest becomes one row of cheap features (grounding in the item's text, the LLM's confidence,
agreement across LLMs, specificity); a logistic regression or a small MLP trained on a few
hundred annotated rows labels the rest. The labels decide which interests reach the semantic IDs
(:func:`filtered_interests`) and give each item the quality score q_i used by the GRPO reward
(:func:`item_quality`).
"""
from __future__ import annotations

import csv
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from digr_utils.embed import encode_or
from digr_utils.interests.scoring import MotiveMatcher
from digr_utils.interests.merge import DEFAULT_THRESHOLD as PARAPHRASE_THRESHOLD
from digr_utils.interests.merge import MISSING_CONFIDENCE, normalise
from digr_utils.interests.types import Mined

#: The feature columns every classifier reads (the MLP adds a projection of the embeddings).
FEATURES = ("evidence_sim", "confidence_filled", "confidence_missing", "agreement",
            "n_words", "title_echo", "has_product_type")

#: Width of the PCA projection of interest embeddings the MLP sees: enough to tell an echo
#: from a motive, few enough not to memorise a few hundred labels.
EMBEDDING_DIMS = 8

# Early stopping holds out 20 % of the labels; below this many per class that split is noise.
_MIN_PER_CLASS_FOR_EARLY_STOP = 10

# Words this short ("a", "for", "the") are function words, not echoes of the title.
_MIN_ECHO_WORD = 4


@dataclass
class InterestTable:
    """One row per mined interest (``frame``) and its unit-length text embedding (``embeddings``).

    ``frame`` columns: ``entity`` (item position), ``entity_id``, ``llm``, ``text``,
    ``confidence`` (NaN if the LLM gave none) and the :data:`FEATURES`. ``embeddings`` is the
    full ``(n_rows, d)`` MiniLM embedding of ``text``, row-aligned with ``frame``.
    """

    frame: pd.DataFrame
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)


def interest_table(
    mined_by_llm: dict[str, Sequence[Mined]],
    ds_items: pd.DataFrame,
    embed_fn: Callable[[list[str]], np.ndarray] | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> InterestTable:
    """Build the feature table of every interest several LLMs mined for the items of ``ds_items``.

    Lists are aligned with ``ds_items`` rows. Features: ``evidence_sim`` (cosine of the interest
    and the item's title + description), ``confidence_filled`` (missing = 0.5, flagged in
    ``confidence_missing``), ``agreement`` (how many *other* LLMs wrote a paraphrase, cosine >=
    0.6, for the same item), ``n_words``, ``title_echo`` (share of the interest's words of 4+
    letters found in the title) and ``has_product_type`` (0 when ``ds_items`` has no
    ``product_type`` column, as in Amazon data). Empty interest texts are dropped.
    ``embed_fn`` maps texts to rows (default: the bundled MiniLM, cached in ``cache_dir``).
    """
    _check_aligned(mined_by_llm, ds_items)
    rows = [(i, m.entity, llm, it.text.strip(),
             np.nan if it.confidence is None else float(it.confidence))
            for llm, answers in mined_by_llm.items() for i, m in enumerate(answers)
            for it in m.interests if normalise(it.text)]
    frame = pd.DataFrame(rows, columns=["entity", "entity_id", "llm", "text", "confidence"]).astype(
        {"entity": int, "confidence": float})
    if frame.empty:
        return InterestTable(frame.assign(**{f: pd.Series(dtype=float) for f in FEATURES}),
                             np.zeros((0, 0), dtype=np.float32))
    titles = ds_items["title"].fillna("").astype(str).to_numpy()
    descriptions = ds_items["description"].fillna("").astype(str)
    evidence = [f"{t}. {d}".strip() for t, d in zip(titles, descriptions)]
    texts = sorted(set(frame["text"]))
    vectors = encode_or(texts + evidence, embed_fn, cache_dir, "interest_table")
    where = {t: k for k, t in enumerate(texts)}
    emb = vectors[[where[t] for t in frame["text"]]]
    entity = frame["entity"].to_numpy()
    frame["evidence_sim"] = np.einsum("nd,nd->n", emb, vectors[len(texts):][entity])
    frame["confidence_filled"] = frame["confidence"].fillna(MISSING_CONFIDENCE)
    frame["confidence_missing"] = frame["confidence"].isna().astype(float)
    frame["agreement"] = _agreement(emb, entity, frame["llm"].to_numpy())
    words = [normalise(t).split() for t in frame["text"]]
    frame["n_words"] = [float(len(w)) for w in words]
    frame["title_echo"] = [_echo(w, titles[i]) for w, i in zip(words, entity)]
    types = ds_items["product_type"].astype(str).to_numpy() if "product_type" in ds_items else None
    frame["has_product_type"] = [0.0 if types is None else _contains(w, types[i])
                                 for w, i in zip(words, entity)]
    return InterestTable(frame, emb)


def user_evidence(ds_items: pd.DataFrame, user_ids: Sequence[str],
                  histories: Sequence[np.ndarray]) -> pd.DataFrame:
    """The evidence a user interest is graded against, shaped like ``ds_items`` for
    :func:`interest_table`: the titles of the user's training history as one "title"."""
    if len(user_ids) != len(histories):
        raise ValueError(f"user_evidence: {len(user_ids)} user ids but {len(histories)} histories; "
                         "pass one history per user, in user order")
    titles = ds_items["title"].fillna("").astype(str).to_numpy()
    return pd.DataFrame({"user_id": list(user_ids),
                         "title": ["; ".join(titles[np.asarray(h, dtype=int)]) for h in histories],
                         "description": ""})


def truth_labels(table: InterestTable, truth: Sequence[set[str]], matcher: MotiveMatcher) -> np.ndarray:
    """1 where an interest names one of its item's true motives, else 0 (ints, one per row).

    On the bundled shop the hidden motives stand in for human annotation: a real project would
    have people (or an LLM judge) label the annotated subset instead.
    """
    entity = table.frame["entity"].to_numpy()
    if len(entity) and entity.max() >= len(truth):
        raise ValueError(f"truth_labels: the table has items up to position {entity.max()} but "
                         f"only {len(truth)} truth sets; pass one truth set per item, in order")
    named = matcher.match(list(table.frame["text"]))
    return np.array([int(n is not None and n in truth[i]) for n, i in zip(named, entity)], dtype=int)


def sample_budget(n_rows: int, budget: int, seed: int) -> np.ndarray:
    """Sorted positions of ``budget`` rows drawn without replacement: the subset to annotate."""
    if not 0 <= budget <= n_rows:
        raise ValueError(f"sample_budget: budget={budget} but there are {n_rows} mined interests; "
                         f"choose 0 <= budget <= {n_rows}")
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=budget, replace=False))


@dataclass
class Classifier:
    """A trained interest grader: ``predict_proba(table)`` is P(good) for every row."""

    kind: str
    model: Any
    projection: Any = None  # the MLP's PCA of interest embeddings; None for logistic

    def predict_proba(self, table: InterestTable) -> np.ndarray:
        """Probability that each interest of ``table`` is good, shape ``(len(table),)``."""
        if not len(table):
            return np.zeros(0)
        return self.model.predict_proba(_features(table, self.projection))[:, 1]


def train_classifier(table: InterestTable, labels: np.ndarray, rows: np.ndarray,
                     kind: str = "logistic", seed: int = 0) -> Classifier:
    """Fit a grader on the annotated ``rows`` (positions in ``table``) and their ``labels``.

    ``labels`` has one 0/1 entry per table row; only ``rows`` are read. ``kind="logistic"``:
    standardised :data:`FEATURES`, logistic regression. ``kind="mlp"``: the same features plus a
    :data:`EMBEDDING_DIMS`-dim PCA of the interest embeddings (fit on the whole table, no labels
    needed), one hidden layer of 16, seeded, early stopping on a 20 % validation split once
    each class has 10+ labels.
    """
    from sklearn.decomposition import PCA
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind not in ("logistic", "mlp"):
        raise ValueError(f"train_classifier: kind={kind!r}; choose 'logistic' or 'mlp'")
    labels, rows = np.asarray(labels), np.asarray(rows, dtype=int)
    if len(labels) != len(table):
        raise ValueError(f"train_classifier: {len(labels)} labels for {len(table)} table rows; "
                         "pass one label per row (only `rows` are read)")
    if not len(rows):
        raise ValueError("train_classifier: no labelled rows; label at least a few interests "
                         "(both good and bad ones), e.g. rows = sample_budget(len(table), 200, seed)")
    y = labels[rows]
    if len(np.unique(y)) < 2:
        which = "good" if y[0] == 1 else "bad"
        raise ValueError(f"train_classifier: all {len(y)} labelled interests are {which}; RLDI needs "
                         "both good and bad examples to learn a boundary: label more interests "
                         "or raise the budget")
    projection = None
    if kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    else:
        dims = min(EMBEDDING_DIMS, *table.embeddings.shape)
        projection = PCA(n_components=dims, random_state=seed).fit(table.embeddings)
        # sklearn's default patience (10 epochs at lr 1e-3) stops on a 20-row validation split
        # before learning anything (held-out AUC 0.3-0.85 at 200 labels; 0.93-0.96 with these)
        model = make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(16,), alpha=1e-3, learning_rate_init=1e-2, max_iter=1000,
            early_stopping=bool(np.bincount(y).min() >= _MIN_PER_CLASS_FOR_EARLY_STOP),
            validation_fraction=0.2, n_iter_no_change=50, random_state=seed))
    with warnings.catch_warnings():
        # on a handful of labels the MLP may run to max_iter; alpha already bounds its weights
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(_features(table, projection)[rows], y)
    return Classifier(kind, model, projection)


def evaluate_labels(proba: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict:
    """Held-out quality of a grader: ROC AUC, average precision, and precision/recall of the
    interests it keeps (``proba >= threshold``), with how many it keeps."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    proba, labels = _check_scores(proba, labels, "evaluate_labels")
    keep = proba >= threshold
    good = labels == 1
    return {
        "roc_auc": float(roc_auc_score(labels, proba)),
        "average_precision": float(average_precision_score(labels, proba)),
        "threshold": float(threshold),
        "precision": float((keep & good).sum() / keep.sum()) if keep.any() else 0.0,
        "recall": float((keep & good).sum() / good.sum()),
        "kept": int(keep.sum()),
        "n": len(labels),
    }


def choose_threshold(proba: np.ndarray, labels: np.ndarray,
                     target_precision: float | None = None) -> float:
    """The cut-off (keep ``proba >= t``) with the best F1, or, given ``target_precision``, the
    lowest one that reaches it (the most recall at that precision). Ties go to the lower cut-off."""
    from sklearn.metrics import precision_recall_curve

    proba, labels = _check_scores(proba, labels, "choose_threshold")
    precision, recall, thresholds = precision_recall_curve(labels, proba)
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    if target_precision is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
        return float(thresholds[np.argmax(f1)])
    reached = np.flatnonzero(precision >= target_precision)
    if not len(reached):
        raise ValueError(f"choose_threshold: no cut-off reaches precision {target_precision}; the "
                         f"best is {precision.max():.3f}. Lower target_precision or label more data")
    return float(thresholds[reached[0]])


def echo_rule(table: InterestTable) -> np.ndarray:
    """A hand rule needing no labels: 1 for a statement that neither names the product type nor
    repeats title words (0 for a full echo), plus half the LLM's confidence. What the grader
    must beat to show it learnt more than "echoes are bad"."""
    frame = table.frame
    echo = np.maximum(frame["has_product_type"], frame["title_echo"]).to_numpy(dtype=float)
    return 1.0 - echo + 0.5 * frame["confidence_filled"].to_numpy(dtype=float)


def best_single_feature(table: InterestTable, labels: np.ndarray, rows: np.ndarray,
                        held: np.ndarray) -> tuple[str, float]:
    """The one feature that ranks the ``held`` rows best when used alone, and its held-out AUC.

    Each feature's direction is set on the labelled ``rows``; the feature itself is picked with
    hindsight on ``held``, so this is the best any single-feature rule could have done.
    """
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels).astype(int)
    best = ("", 0.0)
    for name in FEATURES:
        values = table.frame[name].to_numpy(dtype=float)
        if len(np.unique(values[rows])) < 2 or len(np.unique(labels[held])) < 2:
            continue
        sign = 1.0 if roc_auc_score(labels[rows], values[rows]) >= 0.5 else -1.0
        auc = float(roc_auc_score(labels[held], sign * values[held]))
        best = max(best, (name, auc), key=lambda pair: pair[1])
    return best


@dataclass
class Grading:
    """A grader applied to a whole table: P(good) per row, the kept rows, the cut-off, and its
    scores on the held-out rows (those without a label)."""

    proba: np.ndarray
    keep: np.ndarray
    threshold: float
    held: np.ndarray
    scores: dict


def grade(table: InterestTable, labels: np.ndarray, truth: np.ndarray | None,
          kind: str = "logistic", seed: int = 0) -> Grading:
    """RLDI end to end: learn from the labelled rows (``labels`` 0/1, -1 = unlabelled), cut at
    the best-F1 threshold on them, keep labelled rows by their own label and the rest by the
    grader, and score the unlabelled rows against ``truth`` (None on real data: no scores).

    When every labelled row has the same label (a miner so bad that all its sampled interests
    are wrong, or so good that all are right) there is no boundary to learn: every row gets that
    label, so all are dropped or all kept.
    """
    labels = np.asarray(labels).astype(int)
    rows = np.flatnonzero(labels >= 0)
    if len(rows) and len(np.unique(labels[rows])) == 1:
        proba, threshold = np.full(len(table), float(labels[rows][0])), 0.5
    else:
        proba = train_classifier(table, labels, rows, kind=kind, seed=seed).predict_proba(table)
        threshold = choose_threshold(proba[rows], labels[rows])
    keep = np.where(labels >= 0, labels == 1, proba >= threshold)
    held = np.setdiff1d(np.arange(len(table)), rows)
    scores = {} if truth is None else evaluate_labels(proba[held], truth[held], threshold)
    return Grading(proba, keep, threshold, held, scores)


def budget_curve(table: InterestTable, labels: np.ndarray, budgets: Sequence[int],
                 seeds: Sequence[int] = (0, 1, 2), kind: str = "logistic",
                 test_share: float = 0.3) -> pd.DataFrame:
    """How much a label budget buys: for each budget and seed, train on that many labels drawn
    from the non-test rows and score a fixed held-out test set (AUC, kept precision/recall at 0.5).

    Budgets whose draw holds one class only cannot train a grader; they appear with
    ``trained=False`` and empty scores rather than as an error or a silent NaN.
    """
    labels = np.asarray(labels).astype(int)
    test = sample_budget(len(table), int(round(test_share * len(table))), seed=10_000)
    pool = np.setdiff1d(np.arange(len(table)), test)
    test_table = InterestTable(table.frame.iloc[test].reset_index(drop=True), table.embeddings[test])
    rows = []
    for budget in budgets:
        if budget > len(pool):
            raise ValueError(f"budget_curve: budget {budget} exceeds the {len(pool)} rows outside the "
                             f"test set; use budgets up to {len(pool)} or a smaller test_share")
        for seed in seeds:
            picked = pool[sample_budget(len(pool), budget, seed)]
            if len(np.unique(labels[picked])) < 2:
                rows.append({"budget": budget, "seed": seed, "trained": False})
                continue
            grader = train_classifier(table, labels, picked, kind=kind, seed=seed)
            scores = evaluate_labels(grader.predict_proba(test_table), labels[test])
            rows.append({"budget": budget, "seed": seed, "trained": True,
                         **{k: scores[k] for k in ("roc_auc", "precision", "recall")}})
    return pd.DataFrame(rows)


def calibration(proba: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table: per probability bin, the mean predicted P(good), the observed share of
    good interests and the count. A calibrated grader has the two close in every bin."""
    proba, labels = _check_scores(proba, labels, "calibration")
    bins = np.minimum((proba * n_bins).astype(int), n_bins - 1)
    frame = pd.DataFrame({"bin": bins, "predicted": proba, "observed": labels})
    table = frame.groupby("bin").agg(predicted=("predicted", "mean"), observed=("observed", "mean"),
                                     count=("observed", "size"))
    return table.reset_index(drop=True)


def read_labels(path: str | os.PathLike, table: InterestTable) -> np.ndarray:
    """Labels a person supplied, as a CSV with columns ``entity_id``, ``text``, ``label`` (0/1).

    Returns one entry per table row: the label where the CSV has that (entity_id, text), -1
    elsewhere (unlabelled). Pass the labelled positions ``np.flatnonzero(labels >= 0)`` as
    ``rows`` to :func:`train_classifier`. A bad row (empty text, a label not 0/1, two lines
    labelling one interest differently) is an error naming its line; rows matching no mined
    interest are a warning, since their labels would be lost.
    """
    given: dict[tuple[str, str], tuple[int, int]] = {}  # (entity_id, text) -> (label, line)
    for line, entity_id, text, label in _label_rows(path):
        earlier = given.setdefault((entity_id, text), (label, line))
        if earlier[0] != label:
            raise ValueError(f"{path}: lines {earlier[1]} and {line} label the same interest "
                             f"({entity_id}, {text!r}) {earlier[0]} and {label}; keep the line "
                             "you mean and delete the other")
    mined = set(zip(table.frame["entity_id"].astype(str), table.frame["text"]))
    unmatched = sorted(line for key, (_, line) in given.items() if key not in mined)
    if len(unmatched) == len(given):
        raise ValueError(f"{path}: none of its {len(given)} rows matches a mined interest (same "
                         "entity_id and text); export the table with the interests to label first")
    if unmatched:
        shown = ", ".join(map(str, unmatched[:5])) + (", ..." if len(unmatched) > 5 else "")
        warnings.warn(f"{path}: {len(unmatched)} rows match no mined interest (lines {shown}); "
                      "their labels are not used: copy entity_id and text exactly from the "
                      "exported table", stacklevel=2)
    return np.array([given.get((str(e), t), (-1, 0))[0]
                     for e, t in zip(table.frame["entity_id"], table.frame["text"])], dtype=int)


_LABEL_COLUMNS = ("entity_id", "text", "label")


def _label_rows(path: str | os.PathLike) -> list[tuple[int, str, str, int]]:
    """(line, entity_id, text, label) per non-blank row of a labels CSV, line numbers as an editor
    shows them; a ValueError names the file, the line and the fix."""
    rows, end = [], 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            header = [name.strip() for name in next(reader, [])]
            missing = [c for c in _LABEL_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; the file needs entity_id, "
                                 "text and label (0 or 1) per labelled interest")
            columns = [header.index(c) for c in _LABEL_COLUMNS]
            end = reader.line_num
            for record in reader:
                line, end = end + 1, reader.line_num
                if any(value.strip() for value in record):
                    rows.append(_label_row(path, line, record, columns))
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start} cannot be decoded); save it "
                         "as 'CSV UTF-8' from your spreadsheet") from None
    except csv.Error as err:
        raise ValueError(f"{path}: cannot be read as CSV after line {end} ({err}); the file looks "
                         "cut off or has a quote that never closes: fix or export it again") from None
    return rows


def _label_row(path, line: int, record: list[str], columns: list[int]) -> tuple[int, str, str, int]:
    if len(record) <= max(columns):
        raise ValueError(f"{path}, line {line}: {len(record)} fields where entity_id, text and "
                         "label are expected; the line looks cut off: complete or delete it")
    entity_id, text, label = (record[c].strip() for c in columns)
    for name, value in (("entity_id", entity_id), ("text", text)):
        if not value:
            raise ValueError(f"{path}, line {line}: empty {name}; copy it from the exported "
                             "table or delete the line")
    try:
        number = float(label)
    except ValueError:
        number = None
    if number not in (0.0, 1.0):
        raise ValueError(f"{path}, line {line} has label {label!r}; labels must be 0 (bad "
                         "interest) or 1 (good interest)")
    return line, entity_id, text, int(number)


def item_quality(table: InterestTable, keep: np.ndarray, n_items: int) -> np.ndarray:
    """q_i = sum_k w_k*y_k / sum_k w_k over item i's interests, y = kept (0/1), w = confidence.

    A missing confidence weighs 0.5, as in merging; when all of an item's confidences are missing
    (or all are 0) its interests weigh 1 each. An item with no interests gets q = 0. Never NaN.
    """
    keep = _check_keep(table, keep, n_items, "item_quality")
    entity = table.frame["entity"].to_numpy()
    conf = table.frame["confidence"].to_numpy(dtype=float)
    weight = np.where(np.isnan(conf), MISSING_CONFIDENCE, conf)
    total = np.bincount(entity, weights=weight, minlength=n_items)
    known = np.bincount(entity, weights=~np.isnan(conf), minlength=n_items)
    uniform = (known == 0) | (total <= 0)  # an item with no interests at all lands here too
    weight = np.where(uniform[entity], 1.0, weight)
    total = np.bincount(entity, weights=weight, minlength=n_items)
    kept = np.bincount(entity, weights=weight * keep, minlength=n_items)
    return np.divide(kept, total, out=np.zeros(n_items), where=total > 0)


def filtered_interests(table: InterestTable, keep: np.ndarray, n_items: int) -> list[list[str]]:
    """The kept interest texts of each item, in table order; ``[]`` for an item with none kept."""
    keep = _check_keep(table, keep, n_items, "filtered_interests")
    out: list[list[str]] = [[] for _ in range(n_items)]
    for i, text, k in zip(table.frame["entity"], table.frame["text"], keep):
        if k:
            out[i].append(text)
    return out


def _check_aligned(mined_by_llm: dict[str, Sequence[Mined]], ds_items: pd.DataFrame) -> None:
    if not mined_by_llm:
        raise ValueError("interest_table: no LLMs given; pass {llm_name: [Mined per item]}")
    for column in ("title", "description"):
        if column not in ds_items:
            raise ValueError(f"interest_table: ds_items has no {column!r} column; pass "
                             "Dataset.items (columns item_id, title, description, ...)")
    id_column = next((c for c in ("item_id", "user_id") if c in ds_items), None)
    ids = ds_items[id_column].astype(str).to_numpy() if id_column else None
    for llm, answers in mined_by_llm.items():
        if len(answers) != len(ds_items):
            raise ValueError(f"interest_table: {llm!r} has {len(answers)} answers for "
                             f"{len(ds_items)} items; pass one Mined per item, in item order "
                             "(a failed call is a Mined with `error` set, not a missing entry)")
        for i, m in enumerate(answers):
            if ids is not None and m.entity != ids[i]:
                raise ValueError(f"interest_table: {llm!r} answer {i} is about {m.entity!r} but "
                                 f"item {i} is {ids[i]!r}; sort every list by item order")


def _agreement(emb: np.ndarray, entity: np.ndarray, llm: np.ndarray) -> np.ndarray:
    """Per row: how many other LLMs wrote a paraphrase (cosine >= threshold) for the same item."""
    out = np.zeros(len(emb))
    for i in np.unique(entity):
        idx = np.flatnonzero(entity == i)
        close = emb[idx] @ emb[idx].T >= PARAPHRASE_THRESHOLD - 1e-6
        for r, row in zip(idx, close):
            out[r] = len(set(llm[idx[row]]) - {llm[r]})
    return out


def _echo(words: list[str], title: str) -> float:
    content = [w for w in words if len(w) >= _MIN_ECHO_WORD]
    if not content:
        return 0.0
    title_words = set(normalise(title).split())
    return sum(w in title_words for w in content) / len(content)


def _contains(words: list[str], phrase: str) -> float:
    """1.0 if ``phrase`` appears in ``words`` as whole words ("tent" is not in "attention")."""
    return float(f" {normalise(phrase)} " in f" {' '.join(words)} ")


def _features(table: InterestTable, projection) -> np.ndarray:
    x = table.frame[list(FEATURES)].to_numpy(dtype=float)
    if projection is None:
        return x
    return np.hstack([x, projection.transform(table.embeddings)])


def _check_scores(proba, labels, name: str) -> tuple[np.ndarray, np.ndarray]:
    proba, labels = np.asarray(proba, dtype=float), np.asarray(labels).astype(int)
    if proba.shape != labels.shape or proba.ndim != 1:
        raise ValueError(f"{name}: proba has shape {proba.shape} but labels {labels.shape}; "
                         "pass one score and one 0/1 label per interest")
    if not len(labels):
        raise ValueError(f"{name}: no interests to score; pass at least one good and one bad")
    if len(np.unique(labels)) < 2:
        raise ValueError(f"{name}: all {len(labels)} labels are {labels[0]}; "
                         "ranking quality needs both good (1) and bad (0) interests")
    return proba, labels


def _check_keep(table: InterestTable, keep, n_items: int, name: str) -> np.ndarray:
    keep = np.asarray(keep).astype(float)
    if keep.shape != (len(table),):
        raise ValueError(f"{name}: keep has shape {keep.shape} for {len(table)} table rows; "
                         "pass one 0/1 (or bool) per row, e.g. proba >= threshold")
    if len(table) and table.frame["entity"].max() >= n_items:
        raise ValueError(f"{name}: the table has items up to position "
                         f"{table.frame['entity'].max()} but n_items={n_items}; pass len(ds_items)")
    return keep
