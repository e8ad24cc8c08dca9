"""The whole pipeline on one machine, stage by stage: throughput, peak memory and wall time.

    python benchmarks/gpu_full.py                 # the full preset: meant for a GPU
    python benchmarks/gpu_full.py --small         # the ci preset: a correctness run on a CPU
    python benchmarks/gpu_full.py --small --llm 4 # + 4 SFT steps of SmolLM2-135M with LoRA

Every stage is the package's own stage function (load_data, item_vectors, build_sids, run_sft,
the trained recommender's beam search, run_grpo, train_sasrec) run in a fresh artifacts folder,
so nothing is reused from an earlier run. Peak memory is ``torch.cuda.max_memory_allocated`` on
a GPU and the process's peak resident memory (sampled) on a CPU. The last line is the table as
JSON; docs/gpu.md says how to read it.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from digr_utils.baselines.stage import SASRecConfig, train_sasrec
from digr_utils.config import get_preset, pick_device
from digr_utils.data.stage import load_data
from digr_utils.gen.grpo_stage import GRPOTraining, run_grpo
from digr_utils.gen.stage import run_sft
from digr_utils.interests.stage import InterestSource
from digr_utils.sid.stage import VectorRecipe, build_sids, item_vectors

#: What --small shortens so the ci run stays a test: GRPO windows, validation users and epochs,
#: SASRec epochs (and SFT runs one epoch: the preset's, so GRPO starts from that same model)
_SMALL = {"grpo": {"histories": 64, "valid_users": 50, "epochs": 1}, "sasrec_epochs": 2}


class PeakMemory:
    """Peak memory of a block in MB (``mb``) and above its start (``extra_mb``): CUDA's
    allocator peak, or the resident set sampled every 10 ms (a CPU has no resettable peak)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.peak, self.start, self._stop = device, 0, 0, threading.Event()

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            _return_freed_memory()
            self.start = self.peak = _resident()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()

    @property
    def mb(self) -> float:
        return self.peak / 2**20

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.start) / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _resident())
        self.peak = max(self.peak, _resident())


def _return_freed_memory() -> None:
    """Hand memory freed by earlier work back to the OS (glibc keeps it otherwise), so a
    block's resident peak above its start is its own."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure includes earlier work's memory
        pass


def _resident() -> int:
    """This process's resident memory in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def fresh_artifacts(folder: str, warm_cache: bool = False) -> Iterator[None]:
    """Runs (and, unless ``warm_cache``, the embedding cache) under ``folder`` inside the
    block; the caller's settings after."""
    saved = {k: os.environ.get(k) for k in ("DIGR_ARTIFACTS", "DIGR_CACHE")}
    os.environ["DIGR_ARTIFACTS"] = os.path.join(folder, "artifacts")
    if not warm_cache:
        os.environ["DIGR_CACHE"] = os.path.join(folder, "cache")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_stages(preset: str, small: bool, llm_steps: int = 0) -> list[dict]:
    """Every stage once on ``preset``; one row per stage (units done, seconds, peak MB)."""
    p = get_preset(preset, use_env=False, **({"epochs": 1} if small else {}))  # SFT epochs
    device = torch.device(pick_device())
    source = InterestSource()
    rows: list[dict] = []

    def stage(name: str, unit: str, work) -> object:
        with PeakMemory(device) as memory:
            start, cpu = time.perf_counter(), time.process_time()
            result, units = work()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        rows.append({"stage": name, "units": units, "unit": unit, "seconds": round(seconds, 2),
                     "cpu_seconds": round(cpu, 2), "per_second": round(units / seconds, 1),
                     "peak_mb": round(memory.mb)})
        print(f"{name:<22} {units:>9,} {unit:<16} {seconds:8.1f} s {cpu:8.1f} cpu-s "
              f"{units / seconds:10.1f}/s {memory.mb:8.0f} MB", flush=True)
        return result

    data = stage("data", "users", lambda: (load_data(p), p.n_users))
    n_items = data.dataset.n_items
    stage("interests + embedding", "items",
          lambda: (item_vectors(data, source, VectorRecipe()), n_items))
    stage("RQ-VAE", "item-epochs",
          lambda: _with(build_sids(p, source, progress=False), lambda r: n_items * len(r.history)))
    sft = stage("SFT (+ validation)", "example-epochs",
                lambda: _with(run_sft(p, source, progress=False),
                              lambda r: int(r.figures["examples"] * r.figures["epochs_run"])))
    split = data.split
    stage("beam search", "users",
          lambda: (sft.recommender.recommend(split.test_history, 10), len(split.test_history)))
    grpo_overrides = _SMALL["grpo"] if small else {}
    train = GRPOTraining.for_preset(p, **grpo_overrides)
    stage("GRPO (+ validation)", "histories",
          lambda: _with(run_grpo(p, source, progress=False, **grpo_overrides),
                        lambda r: int(r.figures["steps_run"]) * train.batch_size))
    sasrec = SASRecConfig(epochs=_SMALL["sasrec_epochs"]) if small else SASRecConfig()
    stage("SASRec (+ validation)", "sequence-epochs",
          lambda: _with(train_sasrec(data, sasrec, seed=p.seed),
                        lambda r: len(split.train) * len(r[0].history)))
    if llm_steps:
        stage("LLM SFT (SmolLM2+LoRA)", "examples",
              lambda: llm_sft_smoke(p, sft, llm_steps, rows))
    return rows


def llm_sft_smoke(p, sft, steps: int, rows: list[dict], batch: int = 8,
                  users: int = 20) -> tuple[dict, int]:
    """``steps`` SFT steps of ``batch`` examples of SmolLM2 + LoRA on the T5 run's next-item
    examples, then NDCG@10 of its beam search on ``users`` validation users: the cost per step
    and per user, not a trained model."""
    from digr_utils.gen.causal import CausalConfig, build_causal
    from digr_utils.gen.data import TaskMix, build_examples
    from digr_utils.gen.recommender import GenerativeRecommender
    from digr_utils.gen.sft import SFTConfig, train_sft
    from digr_utils.metrics import ranking_metrics

    data, vocab = load_data(p), sft.recommender.vocab
    examples = build_examples(data.split, vocab, mix=TaskMix(True, False, False),
                              max_history=p.max_history)
    rows_used = torch.randperm(len(examples), generator=torch.Generator().manual_seed(0))
    part = examples.subset(rows_used[:steps * batch])
    model = build_causal(CausalConfig(), vocab.vocab_size, seed=p.seed)
    start, cpu = time.perf_counter(), time.process_time()
    train_sft(model, part, SFTConfig(epochs=1, batch_size=batch, lr=1e-3, seed=p.seed),
              progress=False)
    per_step = (time.perf_counter() - start) / steps
    cpu_per_step = (time.process_time() - cpu) / steps
    watch = np.arange(min(users, len(data.split.valid_target)))
    recommender = GenerativeRecommender(model, vocab, max_history=p.max_history)
    start, cpu = time.perf_counter(), time.process_time()
    topk = recommender.recommend([data.split.valid_history[u] for u in watch], 10)
    decode_s, decode_cpu = time.perf_counter() - start, time.process_time() - cpu
    scores = ranking_metrics(topk, data.split.valid_target[watch], (10,))
    figures = {"seconds_per_step": round(per_step, 2),
               "cpu_seconds_per_step": round(cpu_per_step, 2), "batch": batch,
               "decode_seconds_per_user": round(decode_s / len(watch), 2),
               "decode_cpu_seconds_per_user": round(decode_cpu / len(watch), 2),
               **{k: round(float(v), 4) for k, v in scores.items()},
               "all_real_items": bool(((topk >= 0) & (topk < vocab.n_items)).all())}
    print("LLM smoke:", json.dumps(figures), flush=True)
    rows.append({"stage": "LLM smoke figures", **figures})
    return figures, len(part)


def _with(result, units) -> tuple[object, int]:
    return result, units(result)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true",
                        help="the ci preset with short GRPO and SASRec: runs on a CPU in minutes")
    parser.add_argument("--llm", type=int, default=0, metavar="STEPS",
                        help="also time STEPS SFT steps of the bundled SmolLM2 with LoRA")
    parser.add_argument("--artifacts", default=None,
                        help="where the fresh runs go (default: a temporary folder)")
    parser.add_argument("--warm-cache", action="store_true",
                        help="keep $DIGR_CACHE: texts embedded before are not embedded again")
    args = parser.parse_args(argv)
    preset = "ci" if args.small else "full"
    device = pick_device()
    print(f"preset {preset} on {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else
             f" ({torch.get_num_threads()} threads)"), flush=True)
    with (tempfile.TemporaryDirectory() as scratch,
          fresh_artifacts(args.artifacts or scratch, args.warm_cache)):
        start = time.perf_counter()
        rows = run_stages(preset, args.small, args.llm)
        total = time.perf_counter() - start
    print(f"total {total:.0f} s")
    print(json.dumps({"preset": preset, "device": device, "total_seconds": round(total),
                      "stages": rows}))
    return rows


if __name__ == "__main__":
    main()
