"""How good must the interest miner be? The curve notebook 05 leads its results with.

Trains (or reuses) the deep-SID SFT model for every point of the simulated panel's quality dial,
the default panel and the real miners (SmolLM2, the zero-shot taxonomy matcher), plus the
reference lines (shallow IDs = TIGER, the oracle, SASRec on item IDs), for each seed, and saves
the table where notebook 05 looks for it (digr_utils.interests.curve.curve_path).

    python benchmarks/interest_curve.py --preset tutorial --seeds 0 1 2
    python benchmarks/interest_curve.py --preset tutorial --seeds 0 1 2 --dial-seeds 0

(the second trains the dial's points for seed 0 only: the real miners, the default panel and the
lines get all three seeds).

Each SFT model takes a few minutes on 2 CPU cores on tutorial (about ten per seed); finished runs
are reused, so an interrupted run continues, and seed 0's models are the ones notebooks 05, 06
and 08 train.
"""
import argparse
import time

from digr_utils.interests.curve import QUALITIES, REAL_MINERS, curve_path, interest_curve, summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tutorial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--qualities", type=float, nargs="+", default=list(QUALITIES))
    parser.add_argument("--dial-seeds", type=int, nargs="+", default=None,
                        help="train the dial's points for these seeds only (default: --seeds)")
    args = parser.parse_args()
    start = time.perf_counter()

    def log(row: dict) -> None:
        print(f"[{time.perf_counter() - start:6.0f}s] seed {row['seed']} {row['description']:<62} "
              f"P={row['precision']:.3f} R={row['recall']:.3f} NDCG@10={row['NDCG@10']:.4f}",
              flush=True)

    frame = interest_curve(args.preset, args.seeds, args.qualities, REAL_MINERS, log=log,
                           dial_seeds=args.dial_seeds)
    print(summarise(frame).round(4).to_string())
    print("saved", curve_path(args.preset, args.seeds, args.qualities, REAL_MINERS, args.dial_seeds))


if __name__ == "__main__":
    main()
