"""Shallow IDs (TIGER) vs deep IDs (DeepInterestGR SFT) vs popularity, over several seeds.

Trains (or reuses) one SFT model per interest source and seed through
``digr_utils.gen.stage.run_sft``, each seed a whole pipeline (panel, labels, RQ-VAE, model), and
prints test HR/NDCG@10 on all users, warm targets and new arrivals as mean ± std, plus the
training time and throughput of each run. Usage:

    python benchmarks/sft_compare.py --preset tutorial --seeds 0 1 2
"""
import argparse

import pandas as pd

from digr_utils.baselines.popularity import Popularity
from digr_utils.config import get_preset
from digr_utils.metrics import evaluate
from digr_utils.data.stage import load_data
from digr_utils.gen.stage import run_sft
from digr_utils.interests.stage import InterestSource

COLUMNS = ["test all HR@10", "test all NDCG@10", "test warm HR@10", "test warm NDCG@10",
           "test new HR@10", "test new NDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    preset = get_preset(args.preset, use_env=False)
    split = load_data(preset).split
    pop = evaluate(Popularity().fit(split), split, "test")
    rows = [{"model": "popularity", "seed": "-",
             **{f"test {g} {m}@10": pop[g][f"{m}@10"] for g in ("all", "warm", "new") for m in ("HR", "NDCG")}}]
    for source, name in (("none", "TIGER (shallow IDs)"),
                         ("panel", "DeepInterestGR SFT (deep IDs, simulated-panel interests)")):
        for seed in args.seeds:
            f = run_sft(preset, InterestSource(source), seed=seed, progress=False).figures
            rows.append({"model": name, "seed": seed, **{c: f[c] for c in COLUMNS},
                         "train_seconds": f["train_seconds"], "sequences_per_second": f["sequences_per_second"]})
            print(pd.Series(rows[-1]).to_string(), "\n", flush=True)
    frame = pd.DataFrame(rows)
    summary = frame.groupby("model", sort=False)[COLUMNS].agg(["mean", "std"]).round(4)
    print(f"{args.preset}, seeds {args.seeds}, test split, full ranking, beam 20")
    print(summary.to_string())


if __name__ == "__main__":
    main()
