"""GRPO step time on the tutorial-size recommender: rollouts, then the clipped update.

    python benchmarks/grpo_speed.py [--items 1000 --users 64 --groups 8 16 --threads 2]

A random T5 the size of the tutorial's (d_model 128, 2 + 2 layers) over ``--items`` items with
three code levels of 128 and a collision suffix, and ``--users`` random 20-item histories (81
encoder tokens). For each rollout mode and group size G it times the rollouts alone (no
gradients) and a whole ``grpo_step`` (rollouts, reference scoring, rewards, one update); the
update is the difference. Timings keep the fastest of ``--repeats``, since other jobs on a
shared machine only add time. Prints one line per setting, then all of them as JSON.

On the course's shared 2-core CPU (1 thread, 64 users): 0.74-0.84 s per step at G = 8 (76-86
users/s), 1.1-1.2 s at G = 16 (54-60 users/s); the update (reference and policy scoring,
backward, AdamW) is about four fifths of it, the encoder's backward the largest part.
"""
from __future__ import annotations

import argparse
import copy
import json
import time

import numpy as np
import torch

from digr_utils.gen.decode import CatalogTrie
from digr_utils.gen.grpo import GRPOBatch, GRPOConfig, grpo_step
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.rollout import rollout
from digr_utils.gen.vocab import SidVocab

LEVELS, CODES, HISTORY = 3, 128, 20


def random_codes(n_items: int, seed: int = 0) -> np.ndarray:
    """``(n_items, 4)`` codes: three random levels of 128, then a suffix counting collisions."""
    codes = np.random.default_rng(seed).integers(0, CODES, size=(n_items, LEVELS))
    _, group = np.unique(codes, axis=0, return_inverse=True)
    suffix = np.zeros(n_items, dtype=np.int64)
    for g in np.unique(group):
        members = np.flatnonzero(group.reshape(-1) == g)
        suffix[members] = np.arange(len(members))
    return np.column_stack([codes, suffix])


def best_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(policy, reference, trie, batch: GRPOBatch, config: GRPOConfig,
            repeats: int) -> dict:
    """Seconds of the rollouts and of a whole GRPO step for one setting, and users/s."""
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5)
    grpo_step(policy, reference, optimizer, batch, trie, config)  # warm-up

    def roll():
        with torch.no_grad():
            rollout(policy, batch.input_ids, batch.attention_mask, trie, config.group_size,
                    config.rollout, config.temperature)

    rollout_s = best_seconds(roll, repeats)
    step_s = best_seconds(lambda: grpo_step(policy, reference, optimizer, batch, trie, config),
                          repeats)
    return {"rollout": config.rollout, "group_size": config.group_size,
            "rollout_s": round(rollout_s, 3), "update_s": round(step_s - rollout_s, 3),
            "step_s": round(step_s, 3),
            "users_per_s": round(len(batch.input_ids) / step_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--users", type=int, default=64, help="histories per GRPO step")
    parser.add_argument("--groups", type=int, nargs="+", default=[8, 16], help="values of G")
    parser.add_argument("--modes", nargs="+", default=["beam", "sample"],
                        help="rollout modes: beam, sample, unconstrained")
    parser.add_argument("--words", type=int, default=1000,
                        help="interest words in the vocabulary (the output layer's width)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timings keep the fastest")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    codes = random_codes(args.items)
    vocab = SidVocab(codes, (CODES,) * LEVELS + (int(codes[:, -1].max()) + 1,),
                     [f"w{k}" for k in range(args.words)])
    policy = build_model(ModelConfig.for_preset("tutorial"), vocab)
    reference = copy.deepcopy(policy)
    trie = CatalogTrie(vocab.item_tokens(), vocab.vocab_size, "cpu")
    rng = np.random.default_rng(1)
    ids = torch.tensor([vocab.encode_history(rng.integers(0, args.items, HISTORY))
                        for _ in range(args.users)])
    batch = GRPOBatch(ids, torch.ones_like(ids), torch.as_tensor(rng.integers(0, args.items,
                                                                              args.users)),
                      torch.as_tensor(rng.random(args.items), dtype=torch.float32))
    results = []
    for mode in args.modes:
        for group in args.groups:
            r = measure(policy, reference, trie, batch, GRPOConfig(group_size=group,
                                                                   rollout=mode), args.repeats)
            print(f"{mode:>13} G={group:<3} rollout {r['rollout_s']:.3f} s + update "
                  f"{r['update_s']:.3f} s = {r['step_s']:.3f} s per step of {args.users} "
                  f"users: {r['users_per_s']} users/s")
            results.append(r)
    print(json.dumps({"items": args.items, "users": args.users, "threads": args.threads,
                      "vocab_size": vocab.vocab_size, "results": results}))


if __name__ == "__main__":
    main()
