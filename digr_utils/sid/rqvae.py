"""RQ-VAE: an MLP autoencoder whose latent is quantised by L residual codebooks into L codes.

Level 1 picks the codebook entry nearest the latent, level 2 the entry nearest what is left,
and so on; the decoder rebuilds the item embedding from the sum of the picked entries, so the
codes keep what the embedding says about the item. Codebooks learn by the VQ-VAE losses
(codebook term + beta * commitment term, trained by the same optimiser as the networks, as in
TIGER) rather than by EMA updates: one optimiser, one checkpoint, nothing to keep in sync. The
usual failure of that choice, codes nobody picks, is handled by k-means initialisation and by
restarting dead codes on live residuals.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, fields
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from digr_utils.config import pick_device, seed_everything
from digr_utils.io import ArtifactError
from digr_utils.progress import progress_bar
from digr_utils.sid.kmeans import residual_kmeans, validate_embeddings
from digr_utils.training import (capture_rng, deterministic, load_checkpoint, restore_rng,
                                 save_checkpoint)

#: ``RQVAEConfig.for_items(full=True)``: the paper's 3 x 256 codes.
FULL_CODEBOOK_SIZE = 256


@dataclass
class RQVAEConfig:
    """Sizes and training knobs of one RQ-VAE. ``dead_code_every=0`` turns restarts off."""

    in_dim: int
    latent_dim: int = 32
    hidden: tuple[int, ...] = (256, 128)
    levels: int = 3
    codebook_size: int = 256
    beta: float = 0.25
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    dead_code_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        # a checkpoint or JSON gives a list; the tuple keeps configs comparable with ==
        self.hidden = tuple(int(h) for h in self.hidden)

    @classmethod
    def for_items(cls, in_dim: int, n_items: int, full: bool = False, **overrides) -> RQVAEConfig:
        """Defaults scaled to a catalogue of ``n_items``: 3 levels of K codes.

        K is the smallest power of two >= n_items ** (2/3), between 2 and 256 (ci's 225 items
        -> 64, tutorial's 827 -> 128, 20,000 -> 256). Residual codebooks are shared by every
        branch, so K**3 overstates what they can tell apart: on the tutorial shop, whose items
        of one product type and brand are near-duplicates in MiniLM space, K ~ sqrt(n) = 32 left
        about half of the items colliding and K = 128 about 12 %, with every code still used.
        ``full=True`` uses the paper's 256 (capped at ``n_items``). ``overrides`` set fields.
        """
        if n_items < 2:
            raise ValueError(f"RQVAEConfig.for_items: n_items={n_items}; a codebook needs "
                             "at least 2 items to tell apart")
        k = 2 ** math.ceil(math.log2(n_items ** (2 / 3)))
        k = FULL_CODEBOOK_SIZE if full else min(max(k, 2), FULL_CODEBOOK_SIZE)
        return cls(**{"in_dim": in_dim, "codebook_size": min(k, n_items), **overrides})


class RQVAE(nn.Module):
    """Encoder -> residual quantiser (``levels`` codebooks of ``codebook_size``) -> decoder."""

    def __init__(self, config: RQVAEConfig) -> None:
        super().__init__()
        self.config = config
        widths = [config.in_dim, *config.hidden, config.latent_dim]
        self.encoder = _mlp(widths)
        self.decoder = _mlp(widths[::-1])
        # one (L, K, d) tensor, so a dead-code restart of every level is one torch.where
        self.codebooks = nn.Parameter(
            torch.randn(config.levels, config.codebook_size, config.latent_dim) * 0.01)

    def forward(self, x: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """``(recon, codes (n, L), losses)``; losses are per-item squared errors, averaged."""
        z = self.encoder(x)
        quantized, codes, commit, _ = self._quantize(z)
        # straight-through: the decoder sees the codes, the encoder gets the decoder's gradient
        z = z.float()
        recon = self.decoder(z + (quantized - z).detach())
        recon_loss = (recon.float() - x.float()).pow(2).sum(1).mean()
        return recon, codes, {"recon": recon_loss, "commit": commit, "total": recon_loss + commit}

    @torch.no_grad()
    def encode_codes(self, x: torch.Tensor | np.ndarray) -> torch.Tensor:
        """The ``(n, L)`` codes of embeddings ``x`` (tensor or array), on the model's device."""
        x = torch.as_tensor(np.asarray(x, dtype=np.float32) if isinstance(x, np.ndarray) else x,
                            device=self.codebooks.device)
        return self._quantize(self.encoder(x))[1]

    @torch.no_grad()
    def init_codebooks(self, x: torch.Tensor) -> None:
        """Set every codebook to k-means centroids of its level's residuals of ``x``'s latents."""
        z = self.encoder(x).float().cpu().numpy()
        cfg = self.config
        _, centroids = residual_kmeans(z, cfg.levels, cfg.codebook_size, cfg.seed)
        self.codebooks.copy_(torch.from_numpy(np.stack(centroids)))

    def _quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                                  torch.Tensor]:
        """Sum of picked entries, codes ``(n, L)``, codebook + commitment loss, and the
        residual each level quantised, ``(L, n, d)``."""
        # nearest-code search in fp32: under bf16 close distances tie and codes flicker
        with torch.autocast(z.device.type, enabled=False):
            residual = z.float()
            quantized = torch.zeros_like(residual)
            codes, residuals, loss = [], [], residual.new_zeros(())
            for book in self.codebooks:
                dist = (residual.pow(2).sum(1, keepdim=True) - 2 * residual @ book.T
                        + book.pow(2).sum(1))
                idx = dist.argmin(1)
                q = book[idx]
                loss = loss + ((residual.detach() - q).pow(2).sum(1).mean()
                               + self.config.beta * (residual - q.detach()).pow(2).sum(1).mean())
                codes.append(idx)
                residuals.append(residual)
                quantized = quantized + q
                # detached: each codebook learns only from its own term (the RQ-VAE paper's form)
                residual = residual - q.detach()
        return quantized, torch.stack(codes, 1), loss, torch.stack(residuals)

    def save(self, path: str | os.PathLike) -> None:
        """Write config and weights atomically to ``path`` (a ``.pt`` file)."""
        save_checkpoint(path, {"config": asdict(self.config), "state": self.state_dict()})

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None,
             config: RQVAEConfig | None = None) -> RQVAE:
        """A model from ``path`` (written by :meth:`save` or ``train_rqvae``); ``config``, when
        given, must equal the checkpoint's, else ValueError naming both."""
        device = device or pick_device()
        saved = _read_checkpoint(Path(path), "RQVAE.load")
        if config is not None and saved["config"] != config:
            raise ValueError(f"RQVAE.load: checkpoint {path} was trained with "
                             f"{_differences(saved['config'], config)}; train a model with this "
                             "config, or load without config= to use the checkpoint's")
        model = cls(saved["config"])
        model.load_state_dict(saved["state"])
        return model.to(device)


@deterministic()
def train_rqvae(embeddings: np.ndarray, cfg: RQVAEConfig, device: str | None = None,
                progress: bool = True, checkpoint: str | os.PathLike | None = None,
                checkpoint_every: int = 10, compile_model: bool | None = None
                ) -> tuple[RQVAE, pd.DataFrame]:
    """Train an RQ-VAE on item ``embeddings`` ``(n, cfg.in_dim)``: the model and one history row
    per epoch (recon, commit, total, used_l1..used_lL, restarted, seconds).

    The data stay on the device as one tensor, shuffled per epoch; bf16 autocast on CUDA only.
    With ``checkpoint``, state is saved there every ``checkpoint_every`` epochs and at the end,
    and a run resumes from it when its config matches in every field but ``epochs`` (so raising
    ``epochs`` continues a finished run). ``compile_model`` (default: ``$DIGR_COMPILE=1``)
    runs the forward pass through ``torch.compile``: on a GPU the small MLPs and the code
    search fuse into a few kernels; the weights and results are the same model's.
    """
    x_np = validate_embeddings(embeddings, cfg.codebook_size, "train_rqvae", cfg.in_dim)
    device = torch.device(device or pick_device())
    x = torch.from_numpy(x_np).to(device)
    seed_everything(cfg.seed)
    model = RQVAE(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator(device=device)
    generator.manual_seed(cfg.seed)
    history: list[dict] = []
    path = Path(checkpoint) if checkpoint is not None else None
    if path is not None and path.exists():
        history = _resume(path, cfg, model, optimizer, generator, device)
    else:
        model.init_codebooks(x)

    def save() -> None:
        save_checkpoint(path, {"config": asdict(cfg), "state": model.state_dict(),
                               "optimizer": optimizer.state_dict(),
                               "rng": capture_rng(device, generator), "history": history})

    if compile_model is None:
        compile_model = os.environ.get("DIGR_COMPILE", "0") == "1"
    forward = torch.compile(model) if compile_model else model
    counts = torch.zeros(cfg.levels, cfg.codebook_size, dtype=torch.long, device=device)
    bar = progress_bar(range(len(history), cfg.epochs), desc="RQ-VAE", enabled=progress,
                       initial=len(history), total=cfg.epochs)
    for epoch in bar:
        start = time.perf_counter()
        sums = _train_epoch(model, forward, optimizer, x, cfg.batch_size, generator, counts)
        restarted = torch.zeros(cfg.levels, device=device)
        if cfg.dead_code_every and (epoch + 1) % cfg.dead_code_every == 0 \
                and epoch + 1 < cfg.epochs:
            restarted = _restart_dead_codes(model, optimizer, x, counts, generator)
        # the one host sync of the epoch
        values = torch.cat([sums / len(x), (counts > 0).float().mean(1), restarted.sum()[None]]
                           ).tolist()
        history.append(_history_row(epoch, values, cfg.levels, time.perf_counter() - start))
        bar.set_postfix(recon=f"{values[0]:.4f}", used=f"{min(values[3:3 + cfg.levels]):.0%}")
        if path is not None and (epoch + 1) % checkpoint_every == 0:
            save()
    if path is not None:
        save()
    model.eval()
    return model, pd.DataFrame(history, columns=_history_columns(cfg.levels))


def _train_epoch(model: RQVAE, forward, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                 batch_size: int, generator: torch.Generator, counts: torch.Tensor) -> torch.Tensor:
    """One pass in random order through ``forward`` (``model`` or it compiled); returns the
    summed (recon, commit, total) on the device, fills code ``counts``: no host sync."""
    model.train()
    counts.zero_()
    sums = torch.zeros(3, device=x.device)
    perm = torch.randperm(len(x), generator=generator, device=x.device)
    for idx in perm.split(batch_size):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            _, codes, losses = forward(x[idx])
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        optimizer.step()
        sums += torch.stack([losses[k].detach() for k in ("recon", "commit", "total")]) * len(idx)
        # one-hot sums, not scatter_add/bincount: those are nondeterministic on CUDA
        counts += nn.functional.one_hot(codes, counts.shape[1]).sum(0)
    return sums


@torch.no_grad()
def _restart_dead_codes(model: RQVAE, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                        counts: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Move codes unused this epoch onto random current residuals of their level; returns how
    many per level. Done with masks, so it needs no host sync."""
    levels, size = counts.shape
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
        residuals = model._quantize(model.encoder(x))[3]
    # distinct rows per level, so two restarted codes never land on the same point
    picks = torch.stack([torch.randperm(len(x), generator=generator, device=x.device)[:size]
                         for _ in range(levels)])
    candidates = residuals[torch.arange(levels, device=x.device)[:, None], picks]
    dead = (counts == 0)[..., None]
    model.codebooks.copy_(torch.where(dead, candidates, model.codebooks))
    # a restarted code starts with fresh Adam moments, not those of its dead past
    state = optimizer.state.get(model.codebooks, {})
    for moment in ("exp_avg", "exp_avg_sq"):
        if moment in state:
            state[moment].masked_fill_(dead, 0.0)
    return dead[..., 0].sum(1).float()


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _history_columns(levels: int) -> list[str]:
    return (["epoch", "recon", "commit", "total"] + [f"used_l{k + 1}" for k in range(levels)]
            + ["restarted", "seconds"])


def _history_row(epoch: int, values: list[float], levels: int, seconds: float) -> dict:
    return dict(zip(_history_columns(levels), [epoch + 1, *values[:3 + levels],
                                               int(values[-1]), seconds], strict=True))


def _differences(saved: RQVAEConfig, wanted: RQVAEConfig, ignore: tuple[str, ...] = ()) -> str:
    diffs = [f"{f.name}={getattr(saved, f.name)!r} but the requested config has "
             f"{f.name}={getattr(wanted, f.name)!r}"
             for f in fields(RQVAEConfig)
             if f.name not in ignore and getattr(saved, f.name) != getattr(wanted, f.name)]
    return "; ".join(diffs)


def _check_resumable(saved: RQVAEConfig, done: int, cfg: RQVAEConfig, path: Path) -> None:
    diffs = _differences(saved, cfg, ignore=("epochs",))
    if diffs:
        raise ValueError(f"train_rqvae: checkpoint {path} was trained with {diffs}; pass "
                         "another checkpoint path, or delete this one to train afresh")
    if done > cfg.epochs:
        raise ValueError(f"train_rqvae: checkpoint {path} has already trained {done} epochs, "
                         f"more than epochs={cfg.epochs}; ask for epochs >= {done} or use "
                         "another checkpoint path")


def _resume(path: Path, cfg: RQVAEConfig, model: RQVAE, optimizer: torch.optim.Optimizer,
            generator: torch.Generator, device: torch.device) -> list[dict]:
    """Load ``path`` into the model, optimiser and RNGs; return the history of the epochs done."""
    saved = _read_checkpoint(path, "train_rqvae",
                             fix="pass another checkpoint path, or delete this one to train afresh")
    _check_resumable(saved["config"], len(saved["history"]), cfg, path)
    model.load_state_dict(saved["state"])
    optimizer.load_state_dict(saved["optimizer"])
    restore_rng(saved["rng"], device, generator)
    return list(saved["history"])


def _read_checkpoint(path: Path, caller: str,
                     fix: str = "train one with train_rqvae or RQVAE.save") -> dict:
    if not path.exists():
        raise FileNotFoundError(f"{caller}: no checkpoint at {path}; {fix}")
    saved = load_checkpoint(path, {}, caller, fix=fix)
    if "config" not in saved or "state" not in saved:
        raise ArtifactError(f"{caller}: {path} is not an RQ-VAE checkpoint (no config/state); "
                            f"{fix}")
    return {**saved, "config": RQVAEConfig(**saved["config"])}
