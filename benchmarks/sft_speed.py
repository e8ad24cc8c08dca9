"""How fast SFT trains here: sequences per second of the ci- and tutorial-sized T5 on the
tutorial shop's split, with random semantic IDs and item titles standing in for interests.

    python benchmarks/sft_speed.py [--epochs 2 --threads 2 --codebook 64]

Prints, per model size, the examples per task, the throughput (first epoch left out: it pays
for warm-up) and the estimated wall time of an SFT run of the preset's epochs, without the
validation beam searches; the last line is the same as JSON.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from digr_utils.config import get_preset
from digr_utils.data.dataset import leave_one_out
from digr_utils.data.world import load_shop
from digr_utils.gen.data import build_examples
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.sft import SFTConfig, train_sft
from digr_utils.gen.vocab import SidVocab


def random_sids(n_items: int, codebook: int, levels: int = 3, seed: int = 0):
    """``levels`` random codes per item plus a suffix that numbers the items sharing them."""
    codes = np.random.default_rng(seed).integers(0, codebook, size=(n_items, levels))
    _, group = np.unique(codes, axis=0, return_inverse=True)
    suffix = np.zeros(n_items, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, g in enumerate(group.ravel()):
        suffix[i] = seen.get(g, 0)
        seen[g] = suffix[i] + 1
    return np.column_stack([codes, suffix]), (codebook,) * levels + (int(suffix.max()) + 1,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--codebook", type=int, default=64)
    parser.add_argument("--sizes", nargs="+", default=["ci", "tutorial"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    preset = get_preset("tutorial", use_env=False)
    shop = load_shop(preset)
    split = leave_one_out(shop.dataset, preset.max_history)
    codes, sizes = random_sids(split.n_items, args.codebook)
    interests = [[title] for title in shop.dataset.items["title"]]
    vocab = SidVocab.build(codes, sizes, interests)
    examples = build_examples(split, vocab, interests)
    cfg = SFTConfig.for_preset(preset, epochs=args.epochs)
    result = {"threads": args.threads, "examples": examples.counts(), "batch_size": cfg.batch_size,
              "preset_epochs": preset.sft_epochs or preset.epochs}
    for size in args.sizes:
        model = build_model(ModelConfig.for_preset(size), vocab)
        history = train_sft(model, examples, cfg, device="cpu", progress=False).history
        speed = float(history["sequences_per_second"].iloc[1:].mean())
        run_s = (preset.sft_epochs or preset.epochs) * len(examples) / speed
        result[size] = {"parameters": sum(p.numel() for p in model.parameters()),
                        "sequences_per_s": round(speed),
                        "epoch_s": round(len(examples) / speed, 1),
                        "tutorial_run_s": round(run_s)}
        print(f"{size}: {result[size]['parameters']:,} parameters, {speed:.0f} sequences/s, "
              f"{len(examples) / speed:.1f} s per epoch of {len(examples)} examples, "
              f"{preset.sft_epochs or preset.epochs} epochs ~ {run_s / 60:.1f} min ({args.threads} threads)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
