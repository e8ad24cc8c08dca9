"""GRPO settings chosen on validation: one short run per trial, validation NDCG@10 against SFT's.

    OMP_NUM_THREADS=1 python benchmarks/grpo_tuning.py [--preset tutorial] [--only 0 3]

Every trial refines the same SFT bundle (panel interests, seed 0) with the interest-aware
reward, changing one knob from the defaults of :class:`~digr_utils.gen.grpo_stage.GRPOTraining`
and :class:`~digr_utils.gen.grpo.GRPOConfig`. Trials are runs like any other (``digr runs``
lists them), so a rerun reads them back. Only validation figures are printed: the test split is
never looked at to choose. NDCG@10 of the watched validation users is shown at every validation,
SFT (step 0) first; ``best step`` 0 means no GRPO step beat SFT there and the run kept the SFT
weights, so its "kept" figure is SFT's. ``s/step`` is rollout + update time per step, validation
excluded, on whatever else the machine was running.
"""
from __future__ import annotations

import argparse
import json

import pandas as pd

from digr_utils.gen.grpo import GRPOConfig, RewardConfig
from digr_utils.gen.grpo_stage import run_grpo
from digr_utils.interests.stage import InterestSource

#: (what changes, GRPOConfig fields, GRPOTraining fields); the first is the chosen defaults
TRIALS = [
    ("lr 1e-5", {}, {"lr": 1e-5}),
    ("lr 1e-4", {}, {"lr": 1e-4}),
    ("lr 3e-4", {}, {"lr": 3e-4}),
    ("lr 1e-3", {}, {"lr": 1e-3}),
    # the other knobs at the best learning rate of the four above
    ("lr 3e-5", {}, {"lr": 3e-5}),
    ("lr 1e-5, G 16", {"group_size": 16}, {"lr": 1e-5}),
    ("lr 1e-5, sampled rollouts", {"rollout": "sample"}, {"lr": 1e-5}),
    ("lr 1e-5, beta 1e-2", {"beta": 1e-2}, {"lr": 1e-5}),
    ("lr 1e-5, 4 epochs", {}, {"lr": 1e-5, "epochs": 4}),
]


def trial(preset: str, config: dict, train: dict) -> dict:
    """One run's validation figures (reused when the run exists)."""
    run = run_grpo(preset, InterestSource("panel"), reward=RewardConfig(),
                   config=GRPOConfig(**config), progress=False, **train)
    f, history = run.figures, run.history
    last = history.iloc[-1]
    return {"watched NDCG@10 by epoch (SFT first)": " ".join(f"{v:.4f}" for v in history["NDCG@10"]),
            "valid reward, last step": f"{history['valid_reward'].iloc[0]:.3f} -> {last['valid_reward']:.3f}",
            "KL, last step": round(last["valid_kl"], 4), "best step": f["best_step"],
            "valid NDCG@10 SFT": f["sft valid all NDCG@10"], "valid NDCG@10 kept": f["valid all NDCG@10"],
            "s/step": round(f["train_seconds"] / max(f["steps_run"], 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--only", type=int, nargs="+", default=None, help="trial numbers to run")
    args = parser.parse_args()
    picked = args.only if args.only is not None else range(len(TRIALS))
    rows = {TRIALS[i][0]: trial(args.preset, *TRIALS[i][1:]) for i in picked}
    table = pd.DataFrame(rows).T
    print(table.to_string())
    print(json.dumps({"preset": args.preset, "trials": rows}))


if __name__ == "__main__":
    main()
