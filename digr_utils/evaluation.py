"""The results table: every model on the same split, the same candidates and the same metric code.

Protocol: leave-one-out after 5-core, full ranking over all items, HR@K and NDCG@K for K = 5, 10,
warm targets and new arrivals apart. Generative models rank by constrained beam search (beam 20)
with TIGER's cold-start slots for unseen items, their share chosen on validation. Every learned
model gets the same number of hyper-parameter trials, each scored on validation. Each row names
where its interests come from; rows whose interests read the hidden motives say so.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from digr_utils.config import Preset
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.interests.stage import InterestSource
from digr_utils.metrics import DEFAULT_KS, ranking_metrics

#: The paper's claimed NDCG@10 gain over the strongest of its 14 baselines (Beauty..Instruments).
PAPER_NDCG10_GAIN = (0.077, 0.099)


@dataclass
class Scored:
    """One model's test figures on one seed, with per-user NDCG@10 for paired tests."""

    model: str
    interests: str
    seed: int
    figures: dict
    per_user: np.ndarray
    tuning: str


def score(model, data: Data, which: str = "test") -> tuple[dict, np.ndarray]:
    """Flat figures (``all/warm/new`` x HR/NDCG@5/10) and per-user NDCG@10 of ``model``."""
    split = data.split
    targets = split.targets(which)
    topk = np.asarray(model.recommend(split.histories(which), max(DEFAULT_KS)))
    is_new = split.target_is_new(which)
    figures = {}
    for group, rows in (("all", slice(None)), ("warm", ~is_new), ("new", is_new)):
        for metric, value in ranking_metrics(topk[rows], targets[rows]).items():
            figures[f"{group} {metric}"] = value
    hits = topk[:, :10] == targets[:, None]
    per_user = (hits / np.log2(np.arange(2, 12))).sum(axis=1)
    return figures, per_user


def sasrec_trials(trials: int, preset: Preset) -> list:
    """The first ``trials`` SASRec settings of a fixed grid (defaults first); each may train
    four times the preset's SFT epochs, stopping after 3 epochs without a better validation."""
    from digr_utils.baselines.stage import SASRecConfig

    base = SASRecConfig(epochs=4 * preset.epochs, patience=3)
    grid = [base, replace(base, dropout=0.5), replace(base, hidden=128), replace(base, lr=3e-3),
            replace(base, hidden=128, dropout=0.5), replace(base, lr=3e-4)]
    return grid[:trials]


def sft_trials(trials: int) -> list[dict]:
    """The first ``trials`` SFT settings of a fixed grid (defaults first), as SFTConfig overrides."""
    grid = [{}, {"lr": 1e-3}, {"lr": 6e-3}, {"weight_decay": 0.1}, {"lr": 1e-3, "epochs": 24},
            {"warmup_ratio": 0.2}]
    return grid[:trials]


def _best(candidates, valid_score):
    """The candidate with the best validation score, and that score."""
    scored = [(valid_score(c), i, c) for i, c in enumerate(candidates)]
    best = max(scored, key=lambda t: (t[0], -t[1]))
    return best[2], best[0]


def _valid_ndcg(model, data: Data) -> float:
    return score(model, data, "valid")[0]["all NDCG@10"]


def evaluate_models(preset: str | Preset | None = None, seeds: Sequence[int] = (0,),
                    sources: Sequence[str] = ("none", "panel"), spec: DataSpec | None = None,
                    method: str = "rqvae", trials: int = 1, cold_start: bool = True,
                    progress: bool = False) -> list[Scored]:
    """Popularity, SASRec and one generative model per interest source (``none`` = TIGER), each
    seed a whole pipeline; every learned model gets ``trials`` settings tried on validation."""
    from digr_utils.baselines.popularity import Popularity
    from digr_utils.baselines.stage import train_sasrec
    from digr_utils.gen.coldstart import ColdStartRecommender, choose_share
    from digr_utils.gen.stage import run_sft

    p = as_preset(preset)
    data = load_data(p, spec)
    out = []
    figures, per_user = score(Popularity().fit(data.split), data)
    for seed in seeds:
        out.append(Scored("Popularity", "—", seed, figures, per_user, "none"))
        sasrec, v = _best([train_sasrec(data, cfg, seed, max_len=p.max_history)[0]
                           for cfg in sasrec_trials(trials, p)], lambda m: _valid_ndcg(m, data))
        out.append(Scored("SASRec (item IDs)", "—", seed, *score(sasrec, data),
                          f"best of {trials} on validation (NDCG@10 {v:.4f})"))
        for name in sources:
            source = InterestSource(name)
            runs = [run_sft(p, source, method, seed=seed, spec=spec, progress=progress, **o)
                    for o in sft_trials(trials)]
            sft, v = _best(runs, lambda r: r.figures["valid all NDCG@10"])
            model, note = sft.recommender, f"best of {trials} on validation (NDCG@10 {v:.4f})"
            if cold_start:
                share, _ = choose_share(model, data.split)
                model = ColdStartRecommender(model, data.split.train_counts == 0, share)
                note += f"; cold-start share {share:g}"
            row = "TIGER (shallow IDs, SFT)" if name == "none" else "DeepInterestGR SFT (deep IDs)"
            out.append(Scored(row, source.description, seed, *score(model, data), note))
    return out


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
    table["tuning"] = [next(s.tuning for s in scored if (s.model, s.interests) == k)
                       for k in table.index]
    baseline = strongest_baseline(scored)
    table[f"p vs {baseline}"] = [paired_p(scored, k, baseline) for k in table.index]
    return table


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`results_table` for reading: ``mean ± std`` cells, 4 decimals."""
    out = table.copy()
    for c in [c for c in table.columns if f"{c} std" in table.columns]:
        out[c] = table[c].map("{:.4f}".format) + " ± " + table[f"{c} std"].map("{:.4f}".format)
        out = out.drop(columns=f"{c} std")
    return out


def strongest_baseline(scored: Sequence[Scored]) -> str:
    """The baseline (no mined interests) with the best mean test NDCG@10."""
    means = {}
    for s in scored:
        if s.model.startswith("DeepInterestGR"):
            continue
        means.setdefault(s.model, []).append(s.figures["all NDCG@10"])
    return max(means, key=lambda m: np.mean(means[m]))


def paired_p(scored: Sequence[Scored], key: tuple[str, str], baseline: str) -> float:
    """Two-sided Wilcoxon signed-rank p-value of per-user NDCG@10 (all seeds pooled, paired by
    seed and user) of row ``key`` against ``baseline``; NaN for the baseline itself."""
    from scipy.stats import wilcoxon

    ours = {s.seed: s.per_user for s in scored if (s.model, s.interests) == key}
    theirs = {s.seed: s.per_user for s in scored if s.model == baseline}
    if key[0] == baseline or not set(ours) & set(theirs):
        return float("nan")
    a = np.concatenate([ours[s] for s in sorted(set(ours) & set(theirs))])
    b = np.concatenate([theirs[s] for s in sorted(set(ours) & set(theirs))])
    if np.allclose(a, b):
        return 1.0
    return float(wilcoxon(a, b).pvalue)


def relative_gain(scored: Sequence[Scored], model: str, baseline: str,
                  metric: str = "all NDCG@10") -> float:
    """Mean ``metric`` of ``model`` over the baseline's, minus one (0.08 = +8 %)."""
    def mean(name):
        return float(np.mean([s.figures[metric] for s in scored if s.model == name]))
    return mean(model) / mean(baseline) - 1.0


def evaluate_stage(preset: str | Preset | None = None, seeds: Sequence[int] = (0,),
                   sources: Sequence[str] = ("none", "panel"), spec: DataSpec | None = None,
                   method: str = "rqvae", trials: int = 1, progress: bool = True) -> dict:
    """``digr evaluate``: the results table as JSON (one row per model, interests named)."""
    scored = evaluate_models(preset, seeds, sources, spec, method, trials, progress=progress)
    table = results_table(scored)
    print(formatted(table).to_string())
    baseline = strongest_baseline(scored)
    gains = {}
    if any(s.model.startswith("DeepInterestGR") for s in scored):
        gains = {"deep_ndcg10_gain_vs_strongest": round(relative_gain(
                     scored, "DeepInterestGR SFT (deep IDs)", baseline), 4),
                 "paper_claimed_ndcg10_gain": list(PAPER_NDCG10_GAIN)}
    return {"dataset": load_data(preset, spec).key, "seeds": list(seeds), "trials": trials,
            "strongest_baseline": baseline, **gains,
            "rows": [{"model": m, "interests": i,
                      **{k: None if isinstance(v, float) and np.isnan(v) else v
                         for k, v in row.items()}}
                     for (m, i), row in table.to_dict(orient="index").items()]}
