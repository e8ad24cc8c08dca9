"""How fast the RQ-VAE trains and how good its codes are, next to residual k-means.

    python benchmarks/rqvae_speed.py [--datasets ci tutorial industrial] [--epochs 200]
                                     [--codebook-size K] [--seed 0] [--device cpu]

On the bundled ci and tutorial shops and, when ``shared_benchmarks()`` holds it, Amazon
Industrial_and_Scientific: MiniLM embeddings of title + description (cached under
``artifacts/``), then ``RQVAEConfig.for_items`` (or ``--codebook-size``). Prints per dataset the
training time, per-level code use and perplexity, the share of items colliding before the
suffix, and, on the shops, how often items sharing a level-1 code share a hidden motive; the
last line is all of it as JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from digr_utils.config import get_preset, pick_device
from digr_utils.runs import cache_dir
from digr_utils.data.amazon import load, shared_benchmarks
from digr_utils.data.world import load_shop
from digr_utils.embed import encode
from digr_utils.sid import (
    RQVAEConfig,
    SemanticIds,
    codebook_usage,
    residual_kmeans,
    shared_code_purity,
    train_rqvae,
)

INDUSTRIAL = ("industrial_and_scientific", "minionerec", "Industrial_and_Scientific")


def embeddings(name: str) -> tuple[np.ndarray, list | None] | None:
    """Item embeddings of a dataset and its hidden motive sets (None off the shops)."""
    if name in ("ci", "tutorial"):
        preset = get_preset(name, use_env=False)
        shop = load_shop(preset)
        vectors = encode(shop.dataset.text(), cache_dir=cache_dir())
        return vectors, shop.motive_sets()
    folder = shared_benchmarks() / INDUSTRIAL[0]
    if not folder.is_dir():
        return None
    ds = load(folder, INDUSTRIAL[1], INDUSTRIAL[2])
    return encode(ds.text(), cache_dir=cache_dir()), None


def describe(codes: np.ndarray, k: int, seconds: float, motives: list | None) -> dict:
    usage = codebook_usage(codes, k)
    ids = SemanticIds.from_codes(codes, np.arange(len(codes)).astype(str), k)
    out = {"seconds": round(seconds, 2),
           "used": [round(u, 3) for u in usage["used"]],
           "perplexity": [round(p, 1) for p in usage["perplexity"]],
           "collision_rate": round(ids.collision_rate(), 4),
           "max_suffix": ids.sizes[-1] - 1}
    if motives is not None:
        purity = shared_code_purity(codes, motives, depth=1)
        out["l1_motive_share"] = round(purity["share"], 3)
        out["motive_floor"] = round(purity["floor"], 3)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["ci", "tutorial", "industrial"],
                        choices=["ci", "tutorial", "industrial"])
    parser.add_argument("--epochs", type=int, default=None, help="default: RQVAEConfig's")
    parser.add_argument("--codebook-size", type=int, default=None,
                        help="default: RQVAEConfig.for_items")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    device = args.device or pick_device()

    results = {}
    for name in args.datasets:
        loaded = embeddings(name)
        if loaded is None:
            print(f"{name}: skipped, no folder {shared_benchmarks() / INDUSTRIAL[0]}")
            continue
        x, motives = loaded
        overrides = {k: v for k, v in (("epochs", args.epochs),
                                       ("codebook_size", args.codebook_size)) if v is not None}
        cfg = RQVAEConfig.for_items(x.shape[1], len(x), seed=args.seed, **overrides)
        start = time.perf_counter()
        model, history = train_rqvae(x, cfg, device=device, progress=False)
        trained = time.perf_counter() - start
        rq = describe(model.encode_codes(x).cpu().numpy(), cfg.codebook_size, trained, motives)
        rq["final_recon"] = round(float(history["recon"].iloc[-1]), 4)
        start = time.perf_counter()
        km_codes, _ = residual_kmeans(x, cfg.levels, cfg.codebook_size, seed=args.seed)
        km = describe(km_codes, cfg.codebook_size, time.perf_counter() - start, motives)
        results[name] = {"items": len(x), "levels": cfg.levels, "codebook_size": cfg.codebook_size,
                         "epochs": cfg.epochs, "device": str(device), "rqvae": rq, "kmeans": km}
        print(f"{name}: {len(x)} items, {cfg.levels} x {cfg.codebook_size} codes, "
              f"{cfg.epochs} epochs on {device}")
        for label, r in (("RQ-VAE", rq), ("residual k-means", km)):
            purity = (f", items sharing code 1 share a motive {r['l1_motive_share']:.0%} "
                      f"(random pairs {r['motive_floor']:.0%})" if motives is not None else "")
            print(f"  {label:<17} {r['seconds']:6.1f} s, used per level "
                  f"{'/'.join(f'{u:.0%}' for u in r['used'])}, collisions "
                  f"{r['collision_rate']:.1%} (largest suffix {r['max_suffix']}){purity}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
