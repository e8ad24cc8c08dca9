"""How fast SASRec trains and recommends here, on random data sized like the tutorial shop.

    python benchmarks/sasrec_speed.py [--users 4000 --items 800 --length 10 --epochs 3 --threads 1]

Prints training sequences per second (end to end, each epoch's validation pass included, and
without it) and users per second for ``recommend``; the last line is the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from digr_utils.baselines.sasrec import SASRec
from digr_utils.data.dataset import Split


def random_split(n_users: int, n_items: int, mean_length: int, seed: int = 0) -> Split:
    """Leave-one-out over random sequences of ``mean_length`` items on average (at least 5)."""
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, n_items, size=5 + rng.poisson(max(mean_length - 5, 0)))
            for _ in range(n_users)]
    return Split(
        train=[s[:-2] for s in seqs],
        valid_history=[s[:-2][-20:] for s in seqs],
        valid_target=np.array([s[-2] for s in seqs]),
        test_history=[s[:-1][-20:] for s in seqs],
        test_target=np.array([s[-1] for s in seqs]),
        n_items=n_items,
        max_history=20,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=4000)
    parser.add_argument("--items", type=int, default=800)
    parser.add_argument("--length", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    split = random_split(args.users, args.items, args.length)
    model = SASRec(args.items, max_len=split.max_history)
    start = time.perf_counter()
    # patience = epochs: random data must not stop the clock early
    model.fit(split, epochs=args.epochs, batch_size=args.batch_size, patience=args.epochs,
              verbose=False)
    fit_s = time.perf_counter() - start

    start = time.perf_counter()
    model.recommend(split.test_history, k=10)
    recommend_s = time.perf_counter() - start

    trained = args.users * args.epochs
    result = {
        "device": str(model.device), "threads": args.threads,
        "users": args.users, "items": args.items, "epochs": args.epochs,
        "fit_s": round(fit_s, 2),
        "train_sequences_per_s": round(trained / fit_s),
        "train_sequences_per_s_without_validation": round(
            trained / max(fit_s - args.epochs * recommend_s, 1e-9)),
        "recommend_users_per_s": round(args.users / recommend_s),
    }
    print(f"training: {result['train_sequences_per_s']} sequences/s end to end "
          f"({result['train_sequences_per_s_without_validation']} without validation), "
          f"{fit_s:.1f} s for {args.epochs} epochs on {result['device']}")
    print(f"recommend: {result['recommend_users_per_s']} users/s "
          f"({recommend_s:.2f} s for {args.users})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
