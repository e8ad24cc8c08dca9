"""Stage 1 of the generative recommender: supervised fine-tuning on the SFT task data.

Teacher-forced cross-entropy on every example, AdamW with linear warmup and decay, early stopping
on a validation metric the caller computes (beam search lives elsewhere), and a checkpoint after
every epoch so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import torch
from transformers import T5ForConditionalGeneration

from digr_utils import distributed
from digr_utils.config import Preset, get_preset, pick_device, seed_everything
from digr_utils.gen.data import Examples
from digr_utils.gen.model import model_config_of, save_model
from digr_utils.progress import progress_bar
from digr_utils.training import (EarlyStopping, capture_rng, cpu_state, deterministic,
                                 load_checkpoint, restore_rng, save_checkpoint, warmup_decay)

# batches per length-sorted chunk: large enough to group lengths, small enough to stay random
_CHUNK_BATCHES = 50

Validate = Callable[[T5ForConditionalGeneration], dict]


@dataclass
class SFTConfig:
    """Training knobs. ``patience`` counts epochs without a better ``monitor`` value (looked up
    case-insensitively in what ``validate`` returns), and may end a run only once
    ``min_epochs`` are done; ``eval_every`` spaces validations."""

    epochs: int = 10
    batch_size: int = 256
    # from-scratch small T5: on the tutorial shop 3e-3 reached a lower validation loss in 12
    # epochs than 1e-3 or 6e-3 (1.60 vs 1.87, 1.65 nats per token); a pretrained T5 wants ~3e-4
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    patience: int = 3
    # early in a linear-decay schedule the learning rate is high and validation NDCG@10 on 1000
    # users swings by about 0.01 between epochs: with patience alone, tutorial runs stopped at
    # epochs 7-12 three to five epochs after a lucky validation (two oracle seeds and TIGER's
    # seed 2, whose test NDCG@10 fell 0.016-0.027 below their seed 0's); for_preset sets 3/4 of
    # the epochs
    min_epochs: int = 0
    eval_every: int = 1
    seed: int = 0
    grad_clip: float = 1.0
    monitor: str = "NDCG@10"

    @classmethod
    def for_preset(cls, preset: str | Preset, **overrides) -> SFTConfig:
        """Epochs (the preset's ``sft_epochs`` where set), early stopping's floor (3/4 of them:
        by then the learning rate has decayed to a quarter) and batch size of a preset (a name
        or a :class:`Preset`), then ``overrides``."""
        p = preset if isinstance(preset, Preset) else get_preset(preset, use_env=False)
        epochs = overrides.get("epochs", p.sft_epochs or p.epochs)
        return cls(**{"epochs": epochs, "min_epochs": 3 * epochs // 4, "batch_size": p.batch_size,
                      "seed": p.seed, **overrides})


@dataclass
class SFTResult:
    """The model with its best weights, one history row per epoch, and the best epoch/score."""

    model: T5ForConditionalGeneration
    history: pd.DataFrame
    best_epoch: int
    best_score: float


@deterministic()
def train_sft(
    model: T5ForConditionalGeneration,
    examples: Examples,
    cfg: SFTConfig,
    validate: Validate | None = None,
    device: str | torch.device | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> SFTResult:
    """Train ``model`` on ``examples``; keep the weights with the best ``validate(model)`` score.

    Without ``validate`` every epoch counts as the best (no early stopping). With
    ``checkpoint_dir``, ``last.pt`` (everything needed to resume) is written after every epoch
    and ``best.pt`` (weights, :func:`~digr_utils.gen.model.load_model`) on every improvement; a
    later call with the same model sizes and examples continues from ``last.pt``, and gives the
    same result as a run that was never interrupted. Calling again with more ``epochs`` extends a
    finished run; the learning rate then follows the new schedule from the current step.

    Under ``torchrun`` (:mod:`digr_utils.distributed`) each rank trains its share of every batch
    of ``cfg.batch_size`` rows in DistributedDataParallel; rank 0 alone writes checkpoints and
    shows progress, and ``validate``'s metrics are rank 0's.
    """
    _check_inputs(examples, cfg)
    distributed.setup()
    device = distributed.device() or torch.device(device or pick_device())
    seed_everything(cfg.seed)
    model.to(device)
    net = distributed.wrap(model)  # model itself in a single process
    data = examples.to(device)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    optimizer = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_decay(cfg.epochs * steps_per_epoch, cfg.warmup_ratio))
    order = torch.Generator().manual_seed(cfg.seed)  # CPU: the same shuffles on every device
    state = EarlyStopping(cfg.patience, best_weights=cpu_state(model))
    last = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
    if last is not None and last.exists():
        _resume(last, model, len(examples), optimizer, scheduler, order, device, state)

    bar = progress_bar(total=cfg.epochs, initial=state.epoch, desc="SFT",
                       enabled=progress and distributed.is_main())
    while state.running(cfg.epochs, cfg.min_epochs):
        state.epoch += 1
        start = time.perf_counter()
        loss = _train_epoch(net, model, data, cfg, optimizer, scheduler, order, device)
        seconds = time.perf_counter() - start
        row = {"epoch": state.epoch, "train_loss": loss}
        if validate is None:
            state.improve(model)
        elif state.epoch % cfg.eval_every == 0 or state.epoch == cfg.epochs:
            metrics = _run_validation(model, validate, cfg.monitor)
            row.update(metrics)
            state.update(model, _lookup(metrics, cfg.monitor))
        row.update(seconds=seconds, sequences_per_second=len(examples) / seconds)
        state.history.append(row)
        if last is not None and distributed.is_main():
            _save(last, model, len(examples), cfg, optimizer, scheduler, order, device, state)
        bar.update(1)
        best = {"best": f"{state.best_score:.4f}@{state.best_epoch}"} if validate else {}
        bar.set_postfix(loss=f"{loss:.3f}", **best)
    bar.close()
    state.restore_best(model)
    model.eval()
    return SFTResult(model, pd.DataFrame(state.history), state.best_epoch, state.best_score)


def teacher_forced_loss(model: T5ForConditionalGeneration, examples: Examples,
                        batch_size: int = 512, device: str | torch.device | None = None) -> float:
    """Mean cross-entropy per target token over ``examples`` (eval mode, no gradients)."""
    device = torch.device(device or pick_device())
    model.to(device).eval()
    data = examples.to(device)
    total = torch.zeros((), device=device)
    with torch.inference_mode(), _autocast(device):
        for rows in torch.arange(len(data)).split(batch_size):
            total += model(**data.batch(rows)).loss.float() * int(data.label_lengths[rows].sum())
    return total.item() / max(int(data.label_lengths.sum()), 1)


def _train_epoch(net, model, data: Examples, cfg: SFTConfig, optimizer, scheduler, order, device):
    """One shuffled pass of ``net`` (``model``, or it in DDP); the loss is summed on the device
    and read once, at the end."""
    model.train()
    total = torch.zeros((), device=device)
    lengths = data.label_lengths.cpu()  # token counts from the host: no GPU wait per step
    for rows in _length_grouped_batches(data.input_lengths, lengths, cfg.batch_size, order):
        mine, weight = _my_share(rows, lengths)
        with _autocast(device):
            loss = net(**data.batch(mine)).loss
        optimizer.zero_grad(set_to_none=True)
        (loss * weight if distributed.active() else loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        # token-weighted, so the epoch loss is the mean over target tokens, not over batches
        total += loss.detach().float() * int(lengths[mine].sum()) * (weight > 0)
    return distributed.all_sum(total).item() / int(lengths.sum())


def _my_share(rows: torch.Tensor, label_lengths: torch.Tensor) -> tuple[torch.Tensor, float]:
    """This rank's rows of a global batch and the weight that makes DDP's gradient average
    the gradient of the global batch's mean token loss (each rank's loss is a mean over its
    own tokens). A rank left without rows runs one row at weight 0: DDP needs every rank."""
    mine = distributed.shard(rows)
    if not len(mine):
        return rows[:1], 0.0
    share = int(label_lengths[mine].sum()) / int(label_lengths[rows].sum())
    return mine, share * distributed.world_size()


def _length_grouped_batches(input_lengths: torch.Tensor, label_lengths: torch.Tensor,
                            batch_size: int, order: torch.Generator) -> list[torch.Tensor]:
    """Shuffled batches of rows of similar answer length, then similar input length.

    A batch is padded to its longest input and its longest answer. Most histories are short and
    a few are long, and most answers are an ID of a few tokens while the interest-text answers
    of ``<sid2int>`` run to 30; so each shuffled chunk of :data:`_CHUNK_BATCHES` batches is
    sorted by (answer length, input length) before it is cut, and the batches are shuffled.
    Sorting by input length halved the epoch time; sorting by answer length first as well cut
    the decoder's padded tokens about 2x and a deep-ID epoch on the tutorial shop a further
    quarter (24.2 -> 17.9 s on one thread). Every epoch still mixes the rows anew.
    """
    key = label_lengths.long() * (int(input_lengths.max()) + 1) + input_lengths.long()
    chunks = torch.randperm(len(key), generator=order).split(batch_size * _CHUNK_BATCHES)
    batches = [b for c in chunks for b in c[torch.argsort(key[c], stable=True)].split(batch_size)]
    return [batches[i] for i in torch.randperm(len(batches), generator=order)]


def _run_validation(model, validate: Validate, monitor: str) -> dict:
    """``validate(model)`` in eval mode; under torchrun every rank runs it (it may split its
    users with :func:`~digr_utils.distributed.gather_rows`) and rank 0's numbers count."""
    model.eval()
    try:
        metrics = distributed.from_main(validate(model))
    finally:
        model.train()
    try:
        return {k: float(v) for k, v in metrics.items()}
    except (AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"train_sft: validate(model) must return a dict of numbers such as "
                         f"{{{monitor!r}: 0.05}}, got {metrics!r}") from err


def _lookup(metrics: dict, monitor: str) -> float:
    lowered = {k.lower(): v for k, v in metrics.items()}
    if monitor.lower() not in lowered:
        raise ValueError(f"train_sft: validate(model) returned {sorted(metrics)} without "
                         f"{monitor!r}; return it or set SFTConfig.monitor to one of those keys")
    return lowered[monitor.lower()]


def _param_groups(model, weight_decay: float) -> list[dict]:
    """Decay matrices only; layer-norm scales (vectors) stay undecayed, as is usual for T5."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]


def _save(path: Path, model, n_examples: int, cfg: SFTConfig, optimizer, scheduler, order,
          device: torch.device, state: EarlyStopping) -> None:
    if state.best_epoch == state.epoch:
        save_model(model, path.with_name("best.pt"))
    save_checkpoint(path, {
        "model_config": model_config_of(model), "n_examples": n_examples, "sft_config": asdict(cfg),
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "rng": capture_rng(device, order),
        "state": state.state_dict(),
    })


def _resume(path: Path, model, n_examples: int, optimizer, scheduler, order,
            device: torch.device, state: EarlyStopping) -> None:
    """Load ``last.pt`` into the model, optimiser, scheduler, RNGs and loop ``state``."""
    run = {"model_config": model_config_of(model), "n_examples": n_examples}
    saved = load_checkpoint(path, run, "train_sft",
                            fix="pass another checkpoint_dir or delete it to start over")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    restore_rng(saved["rng"], device, order)
    state.load_state_dict(saved["state"])


def _check_inputs(examples: Examples, cfg: SFTConfig) -> None:
    if not len(examples):
        raise ValueError("train_sft: no examples; build them with build_examples(split, vocab, ...)")
    for name in ("epochs", "batch_size", "patience", "eval_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"train_sft: SFTConfig.{name}={getattr(cfg, name)}; it must be >= 1")
    if not 0 <= cfg.min_epochs <= cfg.epochs:
        raise ValueError(f"train_sft: SFTConfig.min_epochs={cfg.min_epochs}; it must be between 0 "
                         f"and epochs={cfg.epochs}")


def _autocast(device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
