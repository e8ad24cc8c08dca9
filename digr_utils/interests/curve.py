"""How good must the interest miner be? Recommendation quality against mining quality.

Each point is one interest source: its mined interests scored against the hidden motives by the
independent scorer (:mod:`digr_utils.interests.scoring`: precision and recall, the mean over the
source's annotators), and the test NDCG@10 of the deep-SID SFT model trained on it with
:func:`~digr_utils.gen.stage.run_sft` at its defaults — the very call notebooks 05, 06 and 08
make, so they share the models. The simulated panel's quality dial
(:func:`~digr_utils.interests.simulated.dial_panel`) gives points from useless to the oracle's
knowledge; real miners (SmolLM2, the zero-shot taxonomy matcher) are placed on the same axes; the
shallow model (TIGER), SASRec on item IDs and the oracle are reference lines.

``python benchmarks/interest_curve.py --preset tutorial --seeds 0 1 2`` computes the curve and
saves it (:func:`curve_path`); notebook 05 shows a saved curve when one exists.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from digr_utils.config import Preset
from digr_utils.data.stage import as_preset, load_data
from digr_utils.interests.stage import InterestSource

#: The dial's points, from useless (0) to the oracle's knowledge in the panel's words (1).
QUALITIES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Real miners placed on the curve.
REAL_MINERS = ("smollm2", "taxonomy")
#: Reference lines: surface text only (TIGER) and the oracle; SASRec is added beside them.
LINES = ("none", "oracle")


def sources(qualities: Sequence[float] = QUALITIES, real: Sequence[str] = REAL_MINERS,
            default_panel: bool = True) -> list[InterestSource]:
    """The points of the curve: the dial, the default panel, the real miners."""
    out = [InterestSource("panel", quality=float(q)) for q in qualities]
    out += [InterestSource("panel")] if default_panel else []
    return out + [InterestSource(name) for name in real]


def mining_quality(preset: str | Preset | None, source: InterestSource, seed: int = 0) -> dict:
    """The scorer's precision and recall of ``source``'s item interests (mean over annotators)."""
    from digr_utils.interests.scoring import minilm_matcher, score
    from digr_utils.interests.stage import mine
    from digr_utils.runs import cache_dir

    data = load_data(as_preset(preset))
    if not source.mined:
        return {"precision": np.nan, "recall": np.nan}
    mined = mine(data, source, seed, progress=False)
    matcher, truth = minilm_matcher(cache_dir()), data.shop.motive_sets()
    scores = [score(answers, truth, matcher) for answers in mined.items.values()]
    return {k: float(np.mean([s[k] for s in scores])) for k in ("precision", "recall")}


def point(preset: str | Preset | None, source: InterestSource, seed: int = 0) -> dict:
    """One row of the curve: the source, its mining quality and its SFT model's test figures."""
    from digr_utils.gen.stage import run_sft

    p = as_preset(preset)
    run = run_sft(p, source, seed=seed, progress=False)
    return {"source": source.label, "description": source.description, "quality": source.quality,
            "kind": _kind(source), "seed": seed, **mining_quality(p, source, seed),
            "NDCG@10": run.figures["test all NDCG@10"], "HR@10": run.figures["test all HR@10"],
            "warm HR@10": run.figures["test warm HR@10"], "epochs_run": run.figures["epochs_run"],
            "best_epoch": run.figures["best_epoch"]}


def sasrec_point(preset: str | Preset | None, seed: int = 0) -> dict:
    """SASRec on item IDs, trained as notebook 07's evaluation trains it (one trial), as a row."""
    from digr_utils.baselines.stage import train_sasrec
    from digr_utils.evaluation import sasrec_trials
    from digr_utils.metrics import evaluate

    p = as_preset(preset)
    data = load_data(p)
    model, _ = train_sasrec(data, sasrec_trials(1, p)[0], seed, max_len=p.max_history)
    test = evaluate(model, data.split, "test")
    return {"source": "sasrec", "description": "SASRec (item IDs, no interests)", "quality": None,
            "kind": "line", "seed": seed, "precision": np.nan, "recall": np.nan,
            "NDCG@10": test["all"]["NDCG@10"], "HR@10": test["all"]["HR@10"],
            "warm HR@10": test["warm"]["HR@10"], "epochs_run": len(model.history),
            "best_epoch": np.nan}


def interest_curve(preset: str | Preset | None = None, seeds: Sequence[int] = (0,),
                   qualities: Sequence[float] = QUALITIES, real: Sequence[str] = REAL_MINERS,
                   save: bool = True, log=None,
                   dial_seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Every point and line of the curve for every seed (trained runs are reused), one row each;
    saved under :func:`curve_path` when ``save``. ``dial_seeds`` (default: ``seeds``) limits the
    dial's points to those seeds: the real miners, the default panel and the lines are the points
    that matter, and they get every seed."""
    p = as_preset(preset)
    dial_seeds = seeds if dial_seeds is None else dial_seeds
    rows = []
    for seed in seeds:
        dial = qualities if seed in dial_seeds else ()
        for source in [*sources(dial, real), *(InterestSource(n) for n in LINES)]:
            rows.append(point(p, source, seed))
            if log:
                log(rows[-1])
        rows.append(sasrec_point(p, seed))
        if log:
            log(rows[-1])
    frame = pd.DataFrame(rows)
    if save:
        path = curve_path(p, seeds, qualities, real, dial_seeds)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return frame


def curve_path(preset: str | Preset | None, seeds: Sequence[int] = (0,),
               qualities: Sequence[float] = QUALITIES, real: Sequence[str] = REAL_MINERS,
               dial_seeds: Sequence[int] | None = None) -> Path:
    """Where :func:`interest_curve` saves a curve: named by the dataset, SFT settings and points."""
    from dataclasses import asdict

    from digr_utils.gen.sft import SFTConfig
    from digr_utils.interests.scoring import scorer_key
    from digr_utils.runs import artifacts_root, digest

    p = as_preset(preset)
    data = load_data(p)
    key = digest({"sft": asdict(SFTConfig.for_preset(p)), "qualities": [float(q) for q in qualities],
                  "real": list(real), "scorer": scorer_key()}, 8)
    seeds_tag = "-".join(str(s) for s in seeds)
    if dial_seeds is not None and list(dial_seeds) != list(seeds):
        seeds_tag += "-dial" + "-".join(str(s) for s in dial_seeds)
    return artifacts_root() / data.key / "curve" / f"interest-curve-{key}-seeds{seeds_tag}.csv"


def load_curve(preset: str | Preset | None, seeds: Sequence[int] = (0,),
               qualities: Sequence[float] = QUALITIES, real: Sequence[str] = REAL_MINERS,
               dial_seeds: Sequence[int] | None = None) -> pd.DataFrame | None:
    """A curve saved by :func:`interest_curve` with these settings, or None."""
    path = curve_path(preset, seeds, qualities, real, dial_seeds)
    return pd.read_csv(path) if path.exists() else None


def summarise(frame: pd.DataFrame, seeds: Sequence[int] | None = None) -> pd.DataFrame:
    """Mean and spread (std over seeds) per source, in the curve's order; with ``seeds``, over
    those seeds alone (to set a line beside points that have fewer seeds)."""
    if seeds is not None:
        frame = frame[frame["seed"].isin(list(seeds))]
    order = list(dict.fromkeys(frame["source"]))
    stats = frame.groupby("source", sort=False).agg(
        description=("description", "first"), kind=("kind", "first"), quality=("quality", "first"),
        seeds=("seed", "nunique"), precision=("precision", "mean"), recall=("recall", "mean"),
        ndcg=("NDCG@10", "mean"), ndcg_std=("NDCG@10", "std"), warm_hr=("warm HR@10", "mean"))
    return stats.loc[order].rename(columns={"ndcg": "NDCG@10", "ndcg_std": "NDCG@10 std",
                                            "warm_hr": "warm HR@10"})


def _kind(source: InterestSource) -> str:
    if source.name == "panel":
        return "dial" if source.quality is not None else "panel"
    return "line" if source.name in LINES else "real miner"


def plot(frame: pd.DataFrame, x: str = "precision", ax=None, title: str | None = None):
    """The curve on one axis: test NDCG@10 (mean, bar = std over seeds) against the scorer's
    ``x`` (precision or recall) for the dial, the default panel and the real miners; TIGER,
    SASRec and the oracle as horizontal lines."""
    import matplotlib.pyplot as plt

    stats = summarise(frame)
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    dial = stats[stats["kind"] == "dial"].sort_values("quality")
    if len(dial):
        ax.errorbar(dial[x], dial["NDCG@10"], yerr=dial["NDCG@10 std"].fillna(0), marker="o",
                    color="tab:blue", capsize=3, label="simulated panel, quality dial 0 → 1")
        for _, row in dial.iterrows():
            ax.annotate(f"q={row['quality']:g}", (row[x], row["NDCG@10"]), fontsize=8,
                        textcoords="offset points", xytext=(4, -10))
    markers = {"panel": ("s", "tab:purple"), "smollm2": ("D", "tab:red"),
               "taxonomy": ("^", "tab:orange")}
    for source, row in stats[stats["kind"].isin(["panel", "real miner"])].iterrows():
        marker, colour = markers.get(source, ("P", "tab:brown"))
        ax.errorbar(row[x], row["NDCG@10"], yerr=0 if np.isnan(row["NDCG@10 std"]) else row["NDCG@10 std"],
                    marker=marker, color=colour, capsize=3, linestyle="none", markersize=8,
                    label=row["description"])
    lines = {"none": ("TIGER: shallow IDs (no interests)", "tab:gray", "--"),
             "sasrec": ("SASRec on item IDs", "black", ":"),
             "oracle": ("oracle: true motives (cheating)", "tab:green", "-.")}
    for source, (label, colour, style) in lines.items():
        if source in stats.index:
            ax.axhline(stats.loc[source, "NDCG@10"], color=colour, linestyle=style, label=label)
    ax.set(xlabel=f"mined-interest {x} (independent scorer)", ylabel="test NDCG@10 (deep-SID SFT)",
           xlim=(-0.03, 1.03), title=title or f"Recommendation quality vs mining {x}")
    return ax
