"""Data-parallel training under ``torchrun``: a thin layer over ``torch.distributed``.

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT), every
trainer joins one process group (NCCL on GPUs, gloo on CPUs); launched plainly, every function
here is a no-op and a trainer runs exactly as it always did. Each rank trains its share of
every *global* batch (``batch_size`` rows split across ranks), gradients are averaged, and so a
run on N processes follows the single-process run with the same batch size. Only rank 0 writes
checkpoints and shows progress; evaluation splits users across ranks and gathers the rankings.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


def launched() -> bool:
    """True when ``torchrun`` (or another launcher that sets its variables) started us."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def setup() -> bool:
    """Join the process group torchrun describes (once); returns whether training is distributed.

    NCCL when CUDA is available (each rank takes the GPU ``LOCAL_RANK``), gloo otherwise.
    """
    if dist.is_initialized():
        return True
    if not launched():
        return False
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return True


def active() -> bool:
    """True inside an initialised process group of two or more ranks."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or the only process: the one that writes checkpoints, logs and progress bars."""
    return rank() == 0


def device() -> torch.device | None:
    """This rank's GPU under NCCL (``LOCAL_RANK``); None otherwise (the caller picks)."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return None


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when distributed (its forward averages gradients in
    backward), else ``model`` itself. Rank 0's weights are broadcast to every rank."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    on_gpu = next(model.parameters()).device.type == "cuda"
    return DistributedDataParallel(model, device_ids=[torch.cuda.current_device()] if on_gpu else None)


def shard(rows: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """This rank's rows of a global batch: contiguous, near-equal parts, rank 0 first.

    Every rank draws the same global batches from the same seed (as DistributedSampler does
    per epoch), so the union over ranks is exactly what one process would train on.
    """
    if not active():
        return rows
    bounds = np.linspace(0, len(rows), world_size() + 1).round().astype(int)
    return rows[bounds[rank()]:bounds[rank() + 1]]


def sync_gradients(model: torch.nn.Module) -> None:
    """Average gradients over ranks by hand, for losses not computed through ``forward``
    (GRPO's teacher-forced log-probabilities, SASRec's item table), where DDP cannot hook in."""
    if not active():
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def all_sum(value: torch.Tensor) -> torch.Tensor:
    """``value`` summed over ranks (a copy; the input is left alone). Single process: itself."""
    if not active():
        return value
    total = value.clone()
    dist.all_reduce(total)
    return total


def gather_rows(rank_rows: Callable[[Sequence], np.ndarray], items: Sequence) -> np.ndarray:
    """``rank_rows(items)`` computed in parts, one per rank, and put back together in order.

    Every rank calls this with the same ``items`` (e.g. histories to rank); each ranks its
    :func:`shard` and every rank gets the whole result, as if it had ranked them all.
    """
    if not active():
        return rank_rows(items)
    bounds = np.linspace(0, len(items), world_size() + 1).round().astype(int)
    mine = rank_rows(items[bounds[rank()]:bounds[rank() + 1]])
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, np.asarray(mine))
    return np.concatenate(parts)


def barrier() -> None:
    """Wait for every rank (e.g. until rank 0 has written a file the others will read)."""
    if active():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (at the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def from_main(obj: object) -> object:
    """Rank 0's ``obj`` on every rank (e.g. validation metrics, so early stopping agrees)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
