"""SFT on the ci preset in one process and in N torchrun processes (gloo on the CPU) with the
same global batch: loss curves, validation and test figures, and wall times side by side.

    python benchmarks/ddp_vs_single.py [--nproc 2 --threads 2 --epochs 2 --users 200]

The single run uses ``--threads`` threads; each of the N ranks uses threads / N, so both use
the same cores. The model trains on the ci shop's semantic IDs (panel interests, next-item task
only) and is not saved; the stages before SFT are built (or reused) by the single run first.
Rankings are split across ranks and gathered. The last line is the comparison as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(out: str, epochs: int, threads: int, users: int) -> None:
    """One SFT run on ci's panel IDs (this process is one rank under torchrun, or the only one):
    validation NDCG@10 each epoch and the final test figures on ``users`` users, their rankings
    split across ranks and gathered."""
    import numpy as np
    import torch

    from digr_utils import distributed
    from digr_utils.data.stage import load_data
    from digr_utils.gen.data import TaskMix, build_examples
    from digr_utils.gen.model import ModelConfig, build_model
    from digr_utils.gen.recommender import GenerativeRecommender
    from digr_utils.gen.sft import SFTConfig, train_sft
    from digr_utils.gen.vocab import SidVocab
    from digr_utils.metrics import ranking_metrics
    from digr_utils.sid.stage import build_sids

    torch.set_num_threads(threads)
    data, ids = load_data("ci"), build_sids("ci", progress=False).ids
    vocab = SidVocab.build(ids.codes, ids.sizes)
    examples = build_examples(data.split, vocab, mix=TaskMix(interest_to_sid=False,
                                                             sid_to_interest=False))
    model = build_model(ModelConfig.for_preset("ci"), vocab, seed=0)
    recommender = GenerativeRecommender(model, vocab, max_history=data.split.max_history,
                                        device="cpu")
    split = data.split

    def scores(histories, targets) -> dict:
        topk = distributed.gather_rows(lambda part: recommender.recommend(part, 10),
                                       histories[:users])
        return ranking_metrics(topk, targets[:users], (10,))

    start = time.perf_counter()
    result = train_sft(model, examples, SFTConfig.for_preset("ci", epochs=epochs),
                       lambda m: scores(split.valid_history, split.valid_target),
                       device="cpu", progress=False)
    test = scores(split.test_history, np.asarray(split.test_target))
    if distributed.is_main():
        Path(out).write_text(json.dumps({
            "world_size": distributed.world_size(), "examples": len(examples),
            "train_loss": [round(v, 4) for v in result.history["train_loss"]],
            "valid_NDCG@10": [round(v, 4) for v in result.history["NDCG@10"]],
            "epoch_seconds": [round(v, 1) for v in result.history["seconds"]],
            "test_HR@10": round(test["HR@10"], 4), "test_NDCG@10": round(test["NDCG@10"], 4),
            "wall_seconds": round(time.perf_counter() - start, 1)}))
    distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(nproc: int, out: Path, epochs: int, threads: int, users: int) -> dict:
    """Run :func:`worker` plainly (nproc 1) or under torchrun; its rank-0 figures."""
    per_rank = max(1, threads // nproc)
    args = [__file__, "--worker", str(out), "--epochs", str(epochs), "--threads", str(per_rank),
            "--users", str(users)]
    if nproc > 1:
        args = ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
                "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(per_rank)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, env=env)
    return {**json.loads(out.read_text()), "process_seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="cores given to each run")
    parser.add_argument("--epochs", type=int, default=2, help="ci's own is 2")
    parser.add_argument("--users", type=int, default=200,
                        help="validation and test users ranked (constrained beam search)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.epochs, args.threads, args.users)
        return
    with tempfile.TemporaryDirectory() as tmp:
        single = _launch(1, Path(tmp) / "single.json", args.epochs, args.threads, args.users)
        ddp = _launch(args.nproc, Path(tmp) / "ddp.json", args.epochs, args.threads, args.users)
    for name, r in (("1 process", single), (f"{args.nproc} processes (gloo)", ddp)):
        print(f"{name:>22}: train loss {r['train_loss']}, valid NDCG@10 {r['valid_NDCG@10']}, "
              f"epoch seconds {r['epoch_seconds']}, test HR@10 {r['test_HR@10']}, "
              f"NDCG@10 {r['test_NDCG@10']}, wall {r['wall_seconds']} s")
    print(json.dumps({"single": single, "ddp": ddp}))


if __name__ == "__main__":
    main()
