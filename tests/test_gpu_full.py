"""benchmarks/gpu_full.py on the ci preset: every stage runs and reports its figures, the CPU
peak-memory probe sees an allocation, and the caller's artifacts settings come back after."""
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import gpu_full  # noqa: E402

STAGES = ["data", "interests + embedding", "RQ-VAE", "SFT (+ validation)", "beam search",
          "GRPO (+ validation)", "SASRec (+ validation)"]


def test_peak_memory_sees_a_256_mb_tensor():
    with gpu_full.PeakMemory(torch.device("cpu")) as memory:
        block = torch.ones(64, 2**20)  # 256 MB of float32, touched
        del block
    assert 200 < memory.extra_mb < 400 and memory.mb >= memory.extra_mb


def test_fresh_artifacts_restores_the_callers_folders(tmp_path):
    before = {k: os.environ.get(k) for k in ("DIGR_ARTIFACTS", "DIGR_CACHE")}
    with gpu_full.fresh_artifacts(str(tmp_path)):
        assert os.environ["DIGR_ARTIFACTS"] == str(tmp_path / "artifacts")
        assert os.environ["DIGR_CACHE"] == str(tmp_path / "cache")
    assert {k: os.environ.get(k) for k in before} == before


def test_small_run_times_every_stage(tmp_path, capsys):
    """The ci preset end to end (a few minutes on 2 busy cores; the session's embedding cache
    spares the encoder texts other tests embedded)."""
    rows = gpu_full.main(["--small", "--warm-cache", "--artifacts", str(tmp_path)])
    assert [r["stage"] for r in rows] == STAGES
    assert all(r["units"] > 0 and r["seconds"] > 0 and r["peak_mb"] > 0 for r in rows)
    assert '"preset": "ci"' in capsys.readouterr().out.splitlines()[-1]
