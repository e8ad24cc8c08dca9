"""The results table: every model on the same split, the same candidates and the same metric code.

Protocol: leave-one-out after 5-core, full ranking over all items, HR@K and NDCG@K for K = 5, 10,
warm targets and new arrivals apart. Generative models rank by constrained beam search (beam 20)
with TIGER's cold-start slots for unseen items, their share chosen on validation. Every learned
model gets the same number of hyper-parameter trials, each scored on validation. Each row names
where its interests come from; rows whose interests read the hidden motives say so.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from digr_utils.config import Preset
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.interests.stage import InterestSource
from digr_utils.io import read_json, write_json_atomic
from digr_utils.gen.coldstart import SHARES
from digr_utils.labeling.stage import KEEP_ALL, LabelRecipe
from digr_utils.metrics import DEFAULT_KS, per_user_ndcg, ranking_metrics
from digr_utils.runs import Run
from digr_utils.sid.stage import VectorRecipe

#: The paper's claimed NDCG@10 gain over the strongest of its 14 baselines (Beauty..Instruments).
PAPER_NDCG10_GAIN = (0.077, 0.099)

#: The ablations that change the semantic IDs, so each needs its own IDs and SFT model
#: (``benchmarks/ablations.py`` makes them): RLDI left out (every mined interest kept), visual
#: cues left out, and interests appended to the item's text instead of fused.
ID_ABLATIONS = {"keep-all": (LabelRecipe(kind=KEEP_ALL), VectorRecipe()),
                "no-cues": (LabelRecipe(), VectorRecipe(cue_weight=0.0)),
                "appended": (LabelRecipe(), VectorRecipe(mode="append"))}


@dataclass
class Scored:
    """One model's test figures on one seed, with per-user NDCG@10 for paired tests."""

    model: str
    interests: str
    seed: int
    figures: dict
    per_user: np.ndarray
    tuning: str
    #: the settings its trials moved off the defaults ({}: the defaults won); None: no trials
    chosen: dict | None = None

    @property
    def key(self) -> tuple[str, str]:
        """The results row it belongs to: (model, interests)."""
        return self.model, self.interests


def score_lists(topk: np.ndarray, split, which: str = "test") -> tuple[dict, np.ndarray]:
    """Flat figures (``all/warm/new`` x HR/NDCG@5/10) and per-user NDCG@10 of ranked lists."""
    targets = split.targets(which)
    topk = np.asarray(topk)
    is_new = split.target_is_new(which)
    figures = {}
    for group, rows in (("all", slice(None)), ("warm", ~is_new), ("new", is_new)):
        for metric, value in ranking_metrics(topk[rows], targets[rows]).items():
            figures[f"{group} {metric}"] = value
    return figures, per_user_ndcg(topk, targets, 10)


def score(model, data: Data, which: str = "test") -> tuple[dict, np.ndarray]:
    """:func:`score_lists` of ``model``'s top 10 for every ``which`` user."""
    return score_lists(model.recommend(data.split.histories(which), max(DEFAULT_KS)), data.split, which)


@dataclass
class Lists:
    """One model's ranked lists: validation ``users``' and every test user's, best first.
    ``prefix`` (generative models: code levels before the suffix) lets new arrivals be slotted in."""

    model: str
    interests: str
    users: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    prefix: np.ndarray | None = None
    tuning: str = "defaults"


def rank(model: str, interests: str, recommender, split, valid_users: np.ndarray | None = None,
         k: int = 20, cache_key: str | None = None, tuning: str = "defaults",
         test: np.ndarray | None = None) -> Lists:
    """``recommender``'s top-``k`` lists for ``valid_users`` (default all) and every test user;
    ``test``: test lists a run saved already (GRPO's ``test_top10.npz``), used as they are.

    With ``cache_key`` (name the run and dataset, e.g. ``f"{data.key}-{run.key}"``) the lists are
    kept under ``cache_dir("rankings")``, so a second evaluation of the same model costs nothing.
    """
    from digr_utils.runs import cache_dir, digest

    users = np.arange(len(split.valid_target)) if valid_users is None else np.asarray(valid_users)

    def lists(which: str, histories: list) -> np.ndarray:
        if cache_key is None:
            return np.asarray(recommender.recommend(histories, k))
        tag = digest([int(u) for u in users]) if which == "valid" else "all"
        path = cache_dir("rankings") / f"{cache_key}-{which}-{tag}-top{k}.npy"
        if not path.exists():
            np.save(path, np.asarray(recommender.recommend(histories, k)))
        return np.load(path)

    vocab = getattr(recommender, "vocab", None)
    return Lists(model, interests, users, lists("valid", [split.valid_history[u] for u in users]),
                 lists("test", split.test_history) if test is None else np.asarray(test),
                 None if vocab is None else vocab.codes[:, :-1], tuning)


def score_ranked(lists: Lists, split, seed: int = 0, tolerance: float = 0.05,
                 shares: Sequence[float] = SHARES, reach: int = 1) -> tuple[Scored, pd.DataFrame | None]:
    """Test figures of ranked lists; a generative model's with the cold-start share the
    validation rule picks (:func:`~digr_utils.gen.coldstart.sweep`), returned with the sweep."""
    from digr_utils.gen.coldstart import slot_unseen, sweep

    table, tuning, top = None, lists.tuning, lists.test[:, :max(DEFAULT_KS)]
    if lists.prefix is not None:
        unseen = split.train_counts == 0
        share, table = sweep(lists.valid, split.valid_target[lists.users], lists.test,
                             split.test_target, split.target_is_new("test"), lists.prefix,
                             unseen, shares, tolerance, reach=reach)
        top = slot_unseen(lists.test, lists.prefix, unseen, share, max(DEFAULT_KS), reach)
        tuning += f"; cold-start share {share:g}"
    return Scored(lists.model, lists.interests, seed, *score_lists(top, split), tuning), table


#: Each sequence model's default learning rate: a GRU at SASRec's 1e-3 was still improving when
#: the tutorial's 48-epoch cap ended it (validation NDCG@10 0.136); at 3e-3 it peaks at epoch 20
#: (0.154) and early stopping ends it at 23.
DEFAULT_LR = {"transformer": 1e-3, "gru": 3e-3}


def sasrec_trials(trials: int, preset: Preset, encoder: str = "transformer") -> list:
    """The first ``trials`` SASRec settings of a fixed grid (defaults first); each may train
    four times the preset's SFT epochs, stopping after 3 epochs without a better validation.
    ``encoder="gru"``: the same grid around GRU4Rec's own learning rate."""
    from digr_utils.baselines.stage import SASRecConfig

    base = SASRecConfig(epochs=4 * preset.epochs, patience=3, encoder=encoder,
                        lr=DEFAULT_LR[encoder])
    grid = [base, replace(base, dropout=0.5), replace(base, hidden=128),
            replace(base, lr=3 * base.lr), replace(base, hidden=128, dropout=0.5),
            replace(base, lr=base.lr / 3)]
    return grid[:trials]


#: The ID-only sequence models of the table, by row: their encoder (same training, same grid).
SEQUENCE_BASELINES = {"SASRec (item IDs)": "transformer", "GRU4Rec (item IDs)": "gru"}


def sft_trials(trials: int) -> list[dict]:
    """The first ``trials`` SFT settings of a fixed grid (defaults first), as SFTConfig overrides."""
    grid = [{}, {"lr": 1e-3}, {"lr": 6e-3}, {"weight_decay": 0.1}, {"lr": 1e-3, "epochs": 24},
            {"warmup_ratio": 0.2}]
    return grid[:trials]


def _best(candidates, valid_score):
    """The candidate with the best validation score (the earliest on a tie), that score, and
    its place in the grid."""
    scored = [(valid_score(c), i, c) for i, c in enumerate(candidates)]
    best = max(scored, key=lambda t: (t[0], -t[1]))
    return best[2], best[0], best[1]


def setting_text(changed: dict) -> str:
    """Settings moved off the defaults as text, e.g. ``lr=0.001``; ``defaults`` when none."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in changed.items()) or "defaults"


def tuning_note(trials: int, changed: dict, valid: float) -> str:
    """What a row's trials chose, e.g. ``best of 3 on validation: lr=0.001 (NDCG@10 0.1499)``."""
    return f"best of {trials} on validation: {setting_text(changed)} (NDCG@10 {valid:.4f})"


def _valid_ndcg(model, data: Data) -> float:
    return score(model, data, "valid")[0]["all NDCG@10"]


def evaluate_models(preset: str | Preset | None = None, seeds: Sequence[int] = (0,),
                    sources: Sequence[str] = ("none", "panel"), spec: DataSpec | None = None,
                    method: str = "rqvae", trials: int = 1, cold_start: bool = True,
                    grpo: bool = True, progress: bool = False) -> list[Scored]:
    """Popularity, SASRec, GRU4Rec and, per interest source, the SFT model (``none`` = TIGER)
    and, for mined sources with ``grpo``, SFT + GRPO with the interest-aware reward; each seed a
    whole pipeline, every learned model given ``trials`` settings tried on validation."""
    from digr_utils.baselines.popularity import Popularity
    from digr_utils.baselines.stage import train_sasrec
    from digr_utils.gen.coldstart import ColdStartRecommender, choose_share
    from digr_utils.gen.grpo_stage import run_grpo
    from digr_utils.gen.stage import run_sft

    p = as_preset(preset)
    data = load_data(p, spec)
    out = []
    figures, per_user = score(Popularity().fit(data.split), data)

    def generative(row: str, source: InterestSource, model, seed: int, note: str,
                   chosen: dict | None) -> Scored:
        if cold_start:
            share, _ = choose_share(model, data.split)
            model = ColdStartRecommender(model, data.split.train_counts == 0, share)
            note += f"; cold-start share {share:g}"
        return Scored(row, source.description, seed, *score(model, data), note, chosen)

    for seed in seeds:
        out.append(Scored("Popularity", "—", seed, figures, per_user, "none"))
        for row, encoder in SEQUENCE_BASELINES.items():
            grid = sasrec_trials(trials, p, encoder)
            model, v, i = _best([train_sasrec(data, cfg, seed, max_len=p.max_history)[0]
                                 for cfg in grid], lambda m: _valid_ndcg(m, data))
            changed = {k: x for k, x in asdict(grid[i]).items() if x != getattr(grid[0], k)}
            out.append(Scored(row, "—", seed, *score(model, data),
                              tuning_note(trials, changed, v), changed))
        for name in sources:
            source = InterestSource(name)
            runs = [run_sft(p, source, method, seed=seed, spec=spec, progress=progress, **o)
                    for o in sft_trials(trials)]
            sft, v, i = _best(runs, lambda r: r.figures["valid all NDCG@10"])
            chosen = sft_trials(trials)[i]
            row = "TIGER (shallow IDs, SFT)" if name == "none" else DEEP_SFT
            out.append(generative(row, source, sft.recommender, seed,
                                  tuning_note(trials, chosen, v), chosen))
            if grpo and source.mined:  # from the SFT model validation chose
                refined = run_grpo(p, source, method, seed=seed, spec=spec, progress=progress,
                                   sft_settings=sft_trials(trials)[i])
                out.append(generative(
                    DEEP_GRPO, source, refined.recommender, seed,
                    "GRPO on the SFT row's model, settings of benchmarks/grpo_tuning.py", None))
    return out


#: The rows of the full method, after stage 1 and after stage 2.
DEEP_SFT = "DeepInterestGR (deep IDs, SFT)"
DEEP_GRPO = "DeepInterestGR (deep IDs, SFT + GRPO)"


def results_table(scored: Sequence[Scored], columns: Sequence[str] = (
        "all HR@5", "all NDCG@5", "all HR@10", "all NDCG@10", "warm HR@10", "warm NDCG@10",
        "new HR@10", "new NDCG@10")) -> pd.DataFrame:
    """One row per (model, interests): the mean of each metric over seeds and its std
    (``<metric> std``), the seeds, how it was tuned, and the p-value of a paired test against
    the strongest baseline (:func:`paired_p`)."""
    frame = pd.DataFrame([{"model": s.model, "interests": s.interests, "seed": s.seed,
                           **s.figures} for s in scored])
    groups = frame.groupby(["model", "interests"], sort=False)
    table = groups[list(columns)].mean()
    std = groups[list(columns)].std(ddof=1).fillna(0.0)
    for c in columns:
        table.insert(table.columns.get_loc(c) + 1, f"{c} std", std[c])
    table["seeds"] = groups["seed"].count()
    table["tuning"] = [_tuning([s for s in scored if s.key == k]) for k in table.index]
    baseline = strongest_baseline(scored)
    table[f"p vs {baseline}"] = [paired_p(scored, k, baseline) for k in table.index]
    return table


def _tuning(rows: Sequence[Scored]) -> str:
    """A row's tuning note: the same on every seed, or each seed's."""
    notes = [s.tuning for s in rows]
    if len(set(notes)) == 1:
        return notes[0]
    return " | ".join(f"seed {s.seed}: {s.tuning}" for s in rows)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`results_table` for reading: ``mean ± std`` cells, 4 decimals."""
    out = table.copy()
    for c in [c for c in table.columns if f"{c} std" in table.columns]:
        out[c] = table[c].map("{:.4f}".format) + " ± " + table[f"{c} std"].map("{:.4f}".format)
        out = out.drop(columns=f"{c} std")
    return out


def strongest_baseline(scored: Sequence[Scored]) -> str:
    """The baseline (no mined interests) with the best mean test NDCG@10."""
    means: dict[str, list[float]] = {}
    for s in scored:
        if s.model.startswith("DeepInterestGR"):
            continue
        means.setdefault(s.model, []).append(s.figures["all NDCG@10"])
    return max(means, key=lambda m: np.mean(means[m]))


def paired_p(scored: Sequence[Scored], key: tuple[str, str], baseline: str) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-user NDCG@10 (all seeds pooled, paired by
    seed and user) of row ``key`` against ``baseline``; NaN for the baseline itself."""
    from scipy.stats import wilcoxon

    ours = {s.seed: s.per_user for s in scored if s.key == tuple(key)}
    theirs = {s.seed: s.per_user for s in scored if s.model == baseline}
    if key[0] == baseline or not set(ours) & set(theirs):
        return float("nan")
    a = np.concatenate([ours[s] for s in sorted(set(ours) & set(theirs))])
    b = np.concatenate([theirs[s] for s in sorted(set(ours) & set(theirs))])
    if np.allclose(a, b):
        return 1.0
    return float(wilcoxon(a, b).pvalue)


def relative_gain(scored: Sequence[Scored], key: tuple[str, str], baseline: str,
                  metric: str = "all NDCG@10") -> float:
    """Mean ``metric`` of row ``key`` (model, interests) over the baseline's, minus one (0.08 = +8 %)."""
    ours = np.mean([s.figures[metric] for s in scored if s.key == tuple(key)])
    theirs = np.mean([s.figures[metric] for s in scored if s.model == baseline])
    return float(ours / theirs - 1.0)


def seed_wins(gaps: Sequence[float]) -> str:
    """Seed-against-seed differences in words: ``on 2 of 3 seeds (per seed +0.0040, ...)``,
    the count of positive ones first, so prose never reports a mean without its seeds."""
    gaps = [float(g) for g in gaps]
    return (f"on {sum(g > 0 for g in gaps)} of {len(gaps)} seeds (per seed "
            + ", ".join(f"{g:+.4f}" for g in gaps) + ")")


def evaluate_stage(preset: str | Preset | None = None, seeds: Sequence[int] = (0,),
                   sources: Sequence[str] = ("none", "panel"), spec: DataSpec | None = None,
                   method: str = "rqvae", trials: int = 1, progress: bool = True) -> dict:
    """``digr evaluate``: the results table as JSON (one row per model, interests named), kept
    as an ``evaluate`` run so notebook 07 can show it (:func:`load_evaluation`)."""
    from digr_utils.runs import open_run

    data = load_data(preset, spec)
    run = open_run(data.key, "evaluate", _recipe(seeds, sources, method, trials),
                   f"evaluate-{'-'.join(sources)}")
    scored = evaluate_models(preset, seeds, sources, spec, method, trials, progress=progress)
    table = results_table(scored)
    print(formatted(table).to_string())
    baseline = strongest_baseline(scored)
    gains = {f"{m} · {i} NDCG@10 gain vs {baseline}": round(relative_gain(scored, (m, i), baseline), 4)
             for m, i in table.index if m.startswith("DeepInterestGR")}
    write_json_atomic(run.path("scored.json"), [
        {"model": x.model, "interests": x.interests, "seed": x.seed, "figures": x.figures,
         "tuning": x.tuning, "chosen": x.chosen} for x in scored])
    np.save(run.path("per_user.npy"), np.stack([x.per_user for x in scored]))
    return run.save_metrics({
        "dataset": data.key, "seeds": list(seeds), "trials": trials, "strongest_baseline": baseline,
        **gains, "paper_claimed_ndcg10_gain": list(PAPER_NDCG10_GAIN),
        "rows": [{"model": m, "interests": i,
                  **{k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()}}
                 for (m, i), row in table.to_dict(orient="index").items()]})


def _recipe(seeds: Sequence[int], sources: Sequence[str], method: str, trials: int) -> dict:
    return {"seeds": sorted(int(s) for s in seeds), "sources": list(sources), "method": method,
            "trials": trials, "cold_start": True, "grpo": True,
            "baselines": ["Popularity", *SEQUENCE_BASELINES],
            # what scored.json keeps per row and seed (``chosen`` since the trials' settings
            # are data: runs without it are not found)
            "kept": ["figures", "per_user", "tuning", "chosen"]}


def _finished_runs(dataset: str, stage: str) -> list[Run]:
    from digr_utils.runs import index, load_run

    runs = index()
    return [load_run(f) for f in
            runs[(runs["stage"] == stage) & runs["finished"] & (runs["dataset"] == dataset)]["folder"]]


def _plain(recipe: dict) -> str:
    """A recipe as run.json stores it (tuples become lists), for comparing."""
    return json.dumps(recipe, sort_keys=True, default=str)


def finished_run(dataset: str, stage: str, recipe: dict) -> Run | None:
    """The finished run of ``stage`` on ``dataset`` made by exactly ``recipe``, or None: how a
    notebook shows a variant another notebook or command made without training it itself."""
    return next((r for r in _finished_runs(dataset, stage) if _plain(r.recipe) == _plain(recipe)), None)


def finished_variant(data: Data, sft: Run, labels: LabelRecipe = LabelRecipe(),
                     vectors: VectorRecipe = VectorRecipe()) -> Run | None:
    """The finished SFT run made as ``sft`` (a run on mined interests) was but from IDs of item
    vectors made with ``labels`` and ``vectors`` (:data:`ID_ABLATIONS`), or None; found by
    following the recipes on disk, so nothing is trained or created."""
    from digr_utils.labeling.stage import label_fields

    def by_key(stage: str, key: str) -> Run:
        return next(r for r in _finished_runs(data.key, stage) if r.key == key)

    def widthless(recipe: dict) -> str:  # the quantiser's input width follows the vectors
        return _plain({**recipe, "quantiser": {**recipe["quantiser"], "in_dim": None}})

    sids = by_key("sids", sft.recipe["sids"])
    if sids.recipe.get("label_run") is None:
        raise ValueError(f"{sft.folder} was trained on IDs without mined interests; its variants "
                         "differ in how interests enter the IDs, so give a run on mined interests")
    graded = by_key("label", sids.recipe["label_run"])
    label = finished_run(data.key, "label", label_fields(data, graded.recipe["mine"], labels,
                                                         graded.recipe["seed"]))
    if label is None:
        return None
    want = widthless({**sids.recipe, "label_run": label.key, "vectors": asdict(vectors)})
    ids = next((r for r in _finished_runs(data.key, "sids") if widthless(r.recipe) == want), None)
    return None if ids is None else finished_run(data.key, "sft", {**sft.recipe, "sids": ids.key})


def _ablation_recipe(interests: str, seeds: Sequence[int], epochs: int | None) -> dict:
    return {"interests": interests, "seeds": sorted(int(s) for s in seeds), "epochs": epochs,
            "variants": ["default", *ID_ABLATIONS]}


def save_ablations(data: Data, interests: str, seeds: Sequence[int], epochs: int | None,
                   rows: Sequence[dict]) -> Run:
    """Keep ``benchmarks/ablations.py``'s per-seed figures (one row per variant and seed) as an
    ``ablations`` run, so notebook 07 can show them over seeds without training anything."""
    from digr_utils.runs import open_run

    run = open_run(data.key, "ablations", _ablation_recipe(interests, seeds, epochs),
                   f"ablations-{interests}")
    run.save_metrics({"rows": list(rows)})
    return run


def load_ablations(data: Data, interests: str = "panel", seeds: Sequence[int] = (0, 1, 2),
                   epochs: int | None = None) -> pd.DataFrame | None:
    """The per-seed ID-ablation figures :func:`save_ablations` kept for these settings (columns
    ``variant``, ``seed`` and the test figures), or None when the script has not run them."""
    run = finished_run(data.key, "ablations", _ablation_recipe(interests, seeds, epochs))
    return None if run is None else pd.DataFrame(run.metrics()["rows"])


def load_evaluation(data: Data, seeds: Sequence[int] = (0, 1, 2),
                    sources: Sequence[str] = ("none", "panel"), method: str = "rqvae",
                    trials: int = 1) -> list[Scored] | None:
    """The per-seed rows a finished ``digr evaluate`` with these settings saved on ``data``, or
    None when that command has not run (it is never started from here)."""
    run = finished_run(data.key, "evaluate", _recipe(seeds, sources, method, trials))
    if run is None:
        return None
    rows, per_user = read_json(run.path("scored.json")), np.load(run.path("per_user.npy"))
    return [Scored(r["model"], r["interests"], r["seed"], r["figures"], u, r["tuning"], r["chosen"])
            for r, u in zip(rows, per_user)]


def user_groups(data: Data, which: str = "test", head: float = 0.2) -> pd.DataFrame:
    """One row per user: ``history`` (short or long, split at the median length), ``motives``
    (one or several hidden motives; the bundled shop only) and ``target`` (a popular item, the
    top ``head`` of the catalogue by training purchases, a long-tail item, or a new arrival)."""
    split = data.split
    length = np.array([len(h) for h in split.histories(which)])
    cut = int(np.median(length))
    counts = split.train_counts
    popular = counts >= np.quantile(counts[counts > 0], 1 - head)
    target = split.targets(which)
    short, long_ = f"short (≤ {cut} items)", f"long (> {cut} items)"
    top, tail, new = f"popular (top {head:.0%})", "long tail", "new arrival"
    out = pd.DataFrame({
        "history": pd.Categorical(np.where(length <= cut, short, long_), [short, long_]),
        "target": pd.Categorical(np.select([split.target_is_new(which), popular[target]],
                                           [new, top], tail), [top, tail, new])})
    if data.shop is not None:
        n = np.array([len(m) for m in data.shop.user_motives])
        out.insert(1, "motives", pd.Categorical(np.where(n > 1, "several motives", "one motive"),
                                                ["one motive", "several motives"]))
    return out.rename_axis("user")


def per_user_frame(scored: Sequence[Scored], groups: pd.DataFrame) -> pd.DataFrame:
    """Long form for breakdowns and error bars: one row per (row, seed, user) with the user's
    NDCG@10 and the columns of ``groups`` (:func:`user_groups`)."""
    return pd.concat([groups.reset_index().assign(model=s.model, interests=s.interests,
                                                  seed=s.seed, **{"NDCG@10": s.per_user})
                      for s in scored], ignore_index=True)


def plot_bars(frame: pd.DataFrame, x: str, y: str, hue: str | None = None, ax=None,
              errorbar=("ci", 95), n_boot: int = 1000, seed: int = 0, title: str = "",
              legend_title: str | None = None):
    """A seaborn bar plot with error bars (95 % bootstrap by default; ``"sd"`` over seeds),
    categories in their categorical order or else the order they first appear, the legend
    beside the axes; returns the axes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    ax = ax or plt.subplots(figsize=(9, 3.5))[1]
    def order(column: str) -> list:
        values = frame[column]
        return list(values.cat.categories) if hasattr(values, "cat") else list(dict.fromkeys(values))

    sns.barplot(data=frame, x=x, y=y, hue=hue, order=order(x),
                hue_order=None if hue is None else order(hue),
                errorbar=errorbar, n_boot=n_boot, seed=seed, ax=ax)
    ax.set(title=title, xlabel="", ylabel=y)
    if hue is not None:
        ax.legend(title=legend_title or hue, fontsize=8, title_fontsize=8,
                  bbox_to_anchor=(1.01, 1), loc="upper left")
    return ax
