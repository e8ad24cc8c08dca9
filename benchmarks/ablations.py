"""The ablations that change the semantic IDs, carried through to the recommender: without RLDI
(every mined interest kept), without visual cues, and interests appended to the item's text
instead of fused (the paper's later release's choice).

For each seed, trains (or reuses) the default deep SFT model of one interest source and one per
ablation of ``digr_utils.evaluation.ID_ABLATIONS``: each has its own labels, item vectors,
semantic IDs and SFT bundle, so every run is resumable and a rerun reuses what finished. Prints
one JSON line per run, then a summary line (means over seeds), and keeps the per-seed figures as
an ``ablations`` run. Notebook 07 shows the seed-0 runs of its preset when they exist, and the
figures of ``--seeds 0 1 2`` with their spread once this script has run them.

    python benchmarks/ablations.py --preset tutorial --seeds 0

On tutorial each new run takes a few minutes on 2 CPU cores (IDs, then SFT).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from digr_utils.config import get_preset
from digr_utils.data.stage import load_data
from digr_utils.evaluation import ID_ABLATIONS, save_ablations
from digr_utils.gen.stage import run_sft
from digr_utils.interests.stage import MINED_SOURCES, InterestSource
from digr_utils.labeling.stage import LabelRecipe
from digr_utils.sid.stage import VectorRecipe

#: The default model first, then each ablation: name -> (label recipe, vector recipe).
VARIANTS = {"default": (LabelRecipe(), VectorRecipe()), **ID_ABLATIONS}
FIGURES = ("test all NDCG@10", "test all HR@10", "test warm HR@10", "test new HR@10",
           "valid all NDCG@10")


def main(argv: list[str] | None = None) -> list[dict]:
    """Train or reuse every variant for every seed; returns the printed rows."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--interests", choices=[s for s in MINED_SOURCES if s != "openai"],
                        default="panel", help="the mined interests every variant is made from")
    parser.add_argument("--epochs", type=int, default=None,
                        help="SFT epochs (default: the preset's; other values are other runs, "
                             "which notebook 07 does not show)")
    args = parser.parse_args(argv)
    source = InterestSource(args.interests)
    overrides = {} if args.epochs is None else {"epochs": args.epochs}
    rows = []
    for seed in args.seeds:
        for variant, (labels, vectors) in VARIANTS.items():
            start = time.perf_counter()
            run = run_sft(args.preset, source, seed=seed, labels=labels, vectors=vectors,
                          progress=False, **overrides)
            rows.append({"variant": variant, "interests": source.label, "seed": seed,
                         **{f: run.figures[f] for f in FIGURES},
                         "wall_seconds": round(time.perf_counter() - start, 1),
                         "run": str(run.run.folder)})
            print(json.dumps(rows[-1]), flush=True)
    data = load_data(get_preset(args.preset))
    save_ablations(data, source.name, args.seeds, args.epochs, rows)
    summary = {v: {f: round(float(np.mean([r[f] for r in rows if r["variant"] == v])), 4)
                   for f in FIGURES} for v in VARIANTS}
    print(json.dumps({"summary": summary, "interests": source.label, "seeds": args.seeds,
                      "preset": args.preset}))
    return rows


if __name__ == "__main__":
    main()
