"""What every training loop of the course shares: determinism, the learning-rate schedule, random
state, early stopping and resumable checkpoints.

SFT and SASRec (and GRPO, counting steps for epochs) read the same way; the RQ-VAE, which has
no validation score, uses all of it but :class:`EarlyStopping`::

    with deterministic():                     # a no-op unless the run asks (DIGR_DETERMINISTIC=1)
        state = EarlyStopping(patience, best_weights=cpu_state(model))
        if last.exists():                      # resume where an interrupted run stopped
            saved = load_checkpoint(last, expect={...}, caller="train_x")
            ...load model/optimiser; restore_rng(saved["rng"], ...); state.load_state_dict(...)
        while state.running(epochs):
            state.epoch += 1
            ...one epoch; state.update(model, score)
            save_checkpoint(last, {..., "rng": capture_rng(...), "state": state.state_dict()})
        state.restore_best(model)
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from digr_utils.io import ArtifactError, load_torch, write_atomic

# bumped when the layout of what save_checkpoint writes changes: older files are refused by name
_FORMAT = 1


#: Set to 1 to ask every training call for deterministic kernels (bit-exact repeats on a GPU,
#: at some cost in speed); a call can also ask with ``deterministic(True)``.
DETERMINISTIC_ENV = "DIGR_DETERMINISTIC"


@contextmanager
def deterministic(enabled: bool | None = None) -> Iterator[None]:
    """Deterministic torch kernels (warn-only) inside the block when a run asks for them
    (``enabled``, or ``$DIGR_DETERMINISTIC=1`` when None); the caller's setting after.

    Off unless asked: deterministic CUDA kernels are slower (embedding backward, scatter), and
    CPU kernels repeat anyway. The trainers wear this as a decorator, so asking is one place.
    """
    if enabled is None:
        enabled = os.environ.get(DETERMINISTIC_ENV, "0").strip() not in ("", "0")
    if not enabled:
        yield
        return
    # cuBLAS reads this when it first runs; setting it here helps when training is the first
    # CUDA work of the process (and is left set: removing it later would change nothing)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_on = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if not was_on:  # a caller who asked for strict determinism keeps it
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=warn_only)


def warmup_decay(total_steps: int, warmup_ratio: float) -> Callable[[int], float]:
    """Learning-rate factor for ``LambdaLR``: linear up over the warmup steps, then down to zero."""
    warmup = int(total_steps * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)  # never 0: the first step already learns
        return max(0.0, (total_steps - step) / max(total_steps - warmup, 1))

    return factor


def capture_rng(device: torch.device | str = "cpu", generator: torch.Generator | None = None,
                numpy_rng: np.random.Generator | None = None) -> dict:
    """Every random state a run draws from: torch's CPU (and ``device``'s CUDA) state, plus the
    shuffling ``generator`` and ``numpy_rng`` when the trainer has them."""
    device = torch.device(device)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "generator": generator.get_state() if generator is not None else None,
        "numpy": numpy_rng.bit_generator.state if numpy_rng is not None else None,
    }


def restore_rng(saved: dict, device: torch.device | str = "cpu",
                generator: torch.Generator | None = None,
                numpy_rng: np.random.Generator | None = None) -> None:
    """Put back what :func:`capture_rng` took, so the next draws are those of the unbroken run."""
    device = torch.device(device)
    torch.set_rng_state(saved["torch"])
    if saved["cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state(saved["cuda"], device)
    if generator is not None:
        generator.set_state(saved["generator"].cpu())  # a CUDA generator's state is a CPU tensor
    if numpy_rng is not None:
        numpy_rng.bit_generator.state = saved["numpy"]


def cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s weights on the CPU: kept best weights never hold device memory."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


@dataclass
class EarlyStopping:
    """Where an epoch loop stands: epochs done, the best score with its epoch and weights (on
    the CPU), epochs since then, and one history row per epoch. Checkpointed whole."""

    patience: int
    best_weights: dict = field(default_factory=dict, repr=False)
    epoch: int = 0
    best_epoch: int = 0
    best_score: float = float("-inf")
    stale: int = 0  # epochs since the best score
    last_eval: int = 0
    history: list = field(default_factory=list)

    def running(self, epochs: int, min_epochs: int = 0) -> bool:
        """True while epochs remain and either fewer than ``min_epochs`` are done or the last
        ``patience`` epochs brought a better score."""
        return self.epoch < epochs and (self.epoch < min_epochs or self.stale < self.patience)

    def improve(self, model: torch.nn.Module, score: float = float("nan")) -> None:
        """Keep this epoch's weights as the best (without a score: every epoch is the best)."""
        self.best_weights, self.best_epoch, self.best_score, self.stale = (
            cpu_state(model), self.epoch, score, 0)

    def update(self, model: torch.nn.Module, score: float) -> bool:
        """Record a validation ``score`` after this epoch; True if it beat the best so far."""
        better = score > self.best_score
        if better:
            self.improve(model, score)
        else:  # counted in epochs, so validating every other epoch still means epochs
            self.stale += self.epoch - self.last_eval
        self.last_eval = self.epoch
        return better

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the best weights back into ``model`` (if any epoch was kept)."""
        if self.best_weights:
            model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict:
        """Everything but ``patience``, which the resuming call sets (as it sets ``epochs``)."""
        return {k: v for k, v in vars(self).items() if k != "patience"}

    def load_state_dict(self, saved: dict) -> None:
        vars(self).update(saved)


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings and lists/dicts of them) to ``path``
    atomically, so an interrupted run leaves the previous checkpoint, never half of one."""
    stamped = {**payload, "format": _FORMAT}
    return write_atomic(path, lambda f: torch.save(stamped, f))


def load_checkpoint(path: str | os.PathLike, expect: dict[str, Any], caller: str,
                    fix: str = "pass another checkpoint path, or delete it to start over"
                    ) -> dict[str, Any]:
    """A checkpoint written by :func:`save_checkpoint`, on the CPU; every ``expect`` field
    (config, number of examples...) must equal the saved one, else a ValueError naming both.
    ``fix`` ends every error: what the user should do about this file."""
    saved = load_torch(path, fix=f"{fix} ({caller})")
    if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
        raise ArtifactError(f"{caller}: {path} is not a checkpoint this version of digr_utils "
                            f"writes (an older layout, or another kind of file); {fix}")
    for key, wanted in expect.items():
        if saved.get(key) != wanted:
            raise ValueError(f"{caller}: {path} comes from another run: its {key} is "
                             f"{saved.get(key)!r}, this run's is {wanted!r}; {fix}")
    return saved
