"""How each stage's cost grows with the shop: time and peak memory against users and items.

    python benchmarks/cost_growth.py                        # ci, tutorial, a 4x tutorial shop
    python benchmarks/cost_growth.py --sizes 500:240 2000:1000 8000:4000 16000:8000

Shops of ``users:items`` are generated in memory by :mod:`digr_utils.data.world` (the ci and
tutorial sizes are the bundled shops' sizes). Per shop it times one unit of each stage with the
package's own code: the MiniLM embedding, 10 RQ-VAE epochs, one SFT epoch of the tutorial-size
T5 on the next-item task (random semantic IDs), constrained beam search per 1000 users, and one
SASRec epoch with its validation. Work whose cost is per row by construction is timed on a
sample and scaled: 256 item texts, 1024 SFT examples, 250 users' beam searches. Then it fits
time = a * size^b per stage on a log-log scale and projects Amazon Beauty (22,363 users, 12,101
items) and a large category (200,000 users, 100,000 items). The fit uses CPU seconds (one
thread: run it with OMP_NUM_THREADS=1), which a machine shared with other jobs inflates far less
than wall time. Extra MB is the peak resident memory above the stage's start. The last line is
everything as JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from digr_utils.baselines.sasrec import SASRec
from digr_utils.config import get_preset
from digr_utils.data.dataset import leave_one_out
from digr_utils.data.world import ShopConfig, generate_shop
from digr_utils.embed import encode
from digr_utils.gen.data import TaskMix, build_examples
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.recommender import GenerativeRecommender
from digr_utils.gen.sft import SFTConfig, train_sft
from digr_utils.gen.vocab import SidVocab
from digr_utils.sid.rqvae import RQVAEConfig, train_rqvae
from gpu_full import PeakMemory
from sft_speed import random_sids

TARGETS = {"Amazon Beauty": (22_363, 12_101), "large category": (200_000, 100_000)}
#: which size drives each stage: the catalogue (items) or the histories (users)
DRIVER = {"embedding": "items", "RQ-VAE (10 epochs)": "items", "SFT epoch": "users",
          "beam search / 1000 users": "items", "SASRec epoch": "users"}
_EMBED_SAMPLE, _SFT_SAMPLE, _DECODE_USERS, _RQVAE_EPOCHS = 256, 1024, 250, 10


def measure(n_users: int, n_items: int, seed: int = 0) -> list[dict]:
    """One row per stage on a generated shop of ``n_users`` and ``n_items``."""
    preset = get_preset("tutorial", use_env=False)
    shop = generate_shop(ShopConfig(n_users=n_users, n_items=n_items, seed=seed))
    split = leave_one_out(shop.dataset, preset.max_history)
    texts = (shop.dataset.items["title"] + ". " + shop.dataset.items["description"]).tolist()
    rows = []

    def timed(stage: str, work, scale: float = 1.0) -> object:
        with PeakMemory(torch.device("cpu")) as memory:
            start, cpu = time.perf_counter(), time.process_time()
            out = work()
            seconds = (time.perf_counter() - start) * scale
            cpu_seconds = (time.process_time() - cpu) * scale
        rows.append({"stage": stage, "users": n_users, "items": split.n_items,
                     "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
                     "extra_mb": round(memory.extra_mb)})
        print(f"{n_users:>7,} users {split.n_items:>7,} items  {stage:<26} {seconds:8.1f} s "
              f"{cpu_seconds:8.1f} cpu-s {memory.extra_mb:7.0f} MB", flush=True)
        return out

    sample = texts[:_EMBED_SAMPLE]
    encode(texts[-8:], cache_dir=None)  # load the encoder before the clock starts
    vectors = timed("embedding", lambda: encode(sample, cache_dir=None),
                    scale=len(texts) / len(sample))
    fake = np.resize(vectors, (split.n_items, vectors.shape[1]))  # stand-in rows for the RQ-VAE
    fake = fake + np.random.default_rng(seed).normal(0, 0.05, fake.shape).astype(np.float32)
    cfg = RQVAEConfig.for_items(fake.shape[1], len(fake), epochs=_RQVAE_EPOCHS)
    timed("RQ-VAE (10 epochs)", lambda: train_rqvae(fake, cfg, device="cpu", progress=False))
    codes, sizes = random_sids(split.n_items, 64)
    vocab = SidVocab.build(codes, sizes)
    examples = build_examples(split, vocab, mix=TaskMix(True, False, False))
    part = examples.subset(torch.randperm(len(examples))[:_SFT_SAMPLE])
    model = build_model(ModelConfig.for_preset("tutorial"), vocab)
    sft = SFTConfig.for_preset(preset, epochs=1)
    timed("SFT epoch", lambda: train_sft(model, part, sft, device="cpu", progress=False),
          scale=len(examples) / len(part))
    recommender = GenerativeRecommender(model, vocab, max_history=preset.max_history,
                                        device="cpu")
    users = split.test_history[:_DECODE_USERS]
    timed("beam search / 1000 users", lambda: recommender.recommend(users, 10),
          scale=1000 / len(users))
    sasrec = SASRec(split.n_items, max_len=preset.max_history, seed=seed)
    timed("SASRec epoch", lambda: sasrec.fit(split, epochs=1, patience=1, verbose=False))
    return rows


def project(rows: list[dict]) -> list[dict]:
    """Per stage, the log-log slopes b of CPU time = a * size^b and of extra memory over the
    measured shops (size: the stage's driver, :data:`DRIVER`), and what they project for each
    of :data:`TARGETS`."""
    out = []
    for stage, driver in DRIVER.items():
        mine = [r for r in rows if r["stage"] == stage]
        size = np.log([r[driver] for r in mine])
        target = {name: np.log(sizes[{"users": 0, "items": 1}[driver]])
                  for name, sizes in TARGETS.items()}
        row = {"stage": stage, "driver": driver}
        for key, floor, tag in (("cpu_seconds", 1e-3, ""), ("extra_mb", 1, " MB")):
            value = np.log([max(r[key], floor) for r in mine])
            slope, intercept = (np.polyfit(size, value, 1) if len(mine) > 1
                                else (1.0, value[0] - size[0]))
            row["slope" + tag] = round(float(slope), 2)
            row.update({name + tag: round(float(np.exp(intercept + slope * t)), 1)
                        for name, t in target.items()})
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["500:240", "2000:1000", "8000:4000"],
                        help="shops as users:items")
    args = parser.parse_args(argv)
    rows = []
    for size in args.sizes:
        users, items = (int(x) for x in size.split(":"))
        rows += measure(users, items)
    projection = project(rows)
    print(f"\n{'stage':<26} {'cpu-s grow as':>15} {'MB grow as':>15} "
          + " ".join(f"{name + ' (cpu-s, MB)':>30}" for name in TARGETS))
    for p in projection:
        print(f"{p['stage']:<26} {p['driver'] + '^' + str(p['slope']):>15} "
              f"{p['driver'] + '^' + str(p['slope MB']):>15} "
              + " ".join(f"{p[name]:>20,.0f} {p[name + ' MB']:>9,.0f}" for name in TARGETS))
    result = {"threads": torch.get_num_threads(), "rows": rows, "projection": projection}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
