"""SASRec (Kang & McAuley, 2018): a small causal transformer over item-ID sequences.

The strongest ID-only baseline of the paper's table. ``encoder="gru"`` swaps the transformer for
a GRU — GRU4Rec (Hidasi et al., 2016) trained the same way (full cross-entropy, the same windows,
early stopping), so the two sequence encoders are compared on equal terms. With
``item_features`` (for example the shop's true motives, one-hot) each item's vector becomes ID
embedding + Linear(features), so a new arrival that no training sequence contains can still be
reached through what it shares.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from digr_utils import distributed
from digr_utils.config import pick_device, seed_everything
from digr_utils.data.dataset import Split
from digr_utils.metrics import evaluate
from digr_utils.progress import progress_bar
from digr_utils.training import (EarlyStopping, capture_rng, cpu_state, deterministic,
                                 load_checkpoint, restore_rng, save_checkpoint)

_IGNORE = -100  # cross-entropy's ignore_index: padded positions have no target

#: Largest (positions x items) float32 logit block a training step builds at once; past it the
#: softmax over the catalogue is computed in row chunks, each recomputed in backward. At the
#: full preset one batch's logits (41k positions x 20k items) would take 3.3 GB.
LOGIT_BUDGET_BYTES = 256 * 2**20

#: The sequence encoders and the models they make.
ENCODERS = {"transformer": "SASRec", "gru": "GRU4Rec"}


class SASRec:
    """Next-item model: item + position embeddings, causal self-attention, tied output scoring.

    Items never seen in training are handled as items that arrive *after* training: they are left
    out of the training softmax (which would only learn to push them down), and with
    ``zero_unseen_ids`` their ID embedding (small at init, normal std 0.02) is set to zero, so
    their score comes from ``item_features`` alone; without features such an item has no vector
    at all and is ranked last. With ``zero_unseen_ids=False`` they keep their untrained initial
    vector, as in a plain ID model, and land wherever that random vector puts them.
    """

    def __init__(
        self,
        n_items: int,
        max_len: int = 20,
        hidden: int = 64,
        n_layers: int = 2,
        n_heads: int = 2,
        dropout: float = 0.2,
        item_features: np.ndarray | None = None,
        seed: int = 0,
        zero_unseen_ids: bool = True,
        encoder: str = "transformer",
    ):
        features = None
        if item_features is not None:
            features = np.asarray(item_features, dtype=np.float32)
            if features.ndim != 2 or features.shape[0] != n_items:
                raise ValueError(
                    f"SASRec: `item_features` must be (n_items, n_features) = ({n_items}, F), got "
                    f"shape {features.shape}; give one row per item, in item-id order."
                )
        if encoder not in ENCODERS:
            raise ValueError(f"SASRec: encoder={encoder!r}; use one of {sorted(ENCODERS)}")
        self.n_items, self.max_len, self.seed = n_items, max_len, seed
        self.name = ENCODERS[encoder]
        self.zero_unseen_ids = zero_unseen_ids
        # what save() records and load() rebuilds from (features travel in the weights)
        self._sizes = {"n_items": n_items, "max_len": max_len, "hidden": hidden,
                       "n_layers": n_layers, "n_heads": n_heads, "dropout": dropout,
                       "seed": seed, "zero_unseen_ids": zero_unseen_ids,
                       # named only when not the default, so SASRec checkpoints keep their sizes
                       **({} if encoder == "transformer" else {"encoder": encoder})}
        distributed.setup()  # under torchrun: join the group, so each rank takes its own GPU
        self.device = distributed.device() or torch.device(pick_device())
        self.history: list[dict] = []
        seed_everything(seed)
        self._net = _Net(n_items, max_len, hidden, n_layers, n_heads, dropout, features, encoder)
        self._net.to(self.device)

    @deterministic()
    def fit(
        self,
        split: Split,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 1e-3,
        patience: int = 3,
        verbose: bool = True,
        checkpoint_dir: str | os.PathLike | None = None,
        loss: str = "ce",
    ) -> SASRec:
        """Train on every prefix of ``split.train``; keep the weights with the best valid NDCG@10.

        Stops after ``patience`` epochs without improvement. ``history`` gets one dict per epoch
        (``epoch``, ``loss``, ``valid_NDCG@10``), for a training-curve plot. With
        ``checkpoint_dir``, ``last.pt`` (everything needed to resume) is written after every
        epoch and ``best.pt`` (:meth:`load`) on every improvement; a later ``fit`` of a model of
        the same sizes on the same data continues from ``last.pt`` and ends exactly where an
        uninterrupted run would (more ``epochs`` extend a finished run).

        Under ``torchrun`` each rank trains its share of every ``batch_size`` batch, gradients
        are averaged, validation users are split across ranks, and rank 0 alone writes.
        ``loss`` is ``ce`` (softmax over every item) or ``bce``, the original paper's: the
        target against one uniformly sampled training item per position.
        """
        if loss not in ("ce", "bce"):
            raise ValueError(f"SASRec.fit: loss={loss!r}; use 'ce' (full softmax) or 'bce' "
                             "(one sampled negative, as in the original SASRec)")
        if split.n_items != self.n_items:
            raise ValueError(
                f"SASRec: built for {self.n_items} items but the split has {split.n_items}; "
                "construct SASRec(n_items=split.n_items, ...)."
            )
        inputs, targets = _training_windows(split.train, self.max_len, pad=self.n_items)
        if epochs < 1 or patience < 1 or not len(inputs):
            raise ValueError(
                f"SASRec.fit: need epochs >= 1, patience >= 1 and a training sequence of 2+ "
                f"items; got epochs={epochs}, patience={patience} and {len(inputs)} such "
                "sequences. Check `epochs`, `patience` and `split.train`."
            )
        seed_everything(self.seed)
        seen = torch.as_tensor(split.train_counts > 0, device=self.device)
        self._net.set_seen(seen, zero_unseen_ids=self.zero_unseen_ids)
        optimiser = torch.optim.AdamW(self._net.parameters(), lr=lr)
        rng = np.random.default_rng(self.seed)
        state = EarlyStopping(patience, best_weights=cpu_state(self._net))
        run = {"sizes": self._sizes, "n_windows": len(inputs), "batch_size": batch_size, "lr": lr,
               "loss": loss}
        last = Path(checkpoint_dir) / "last.pt" if checkpoint_dir is not None else None
        if last is not None and last.exists():
            self._resume(last, run, optimiser, rng, state)
        self.history = state.history  # the same list, so save() writes the epochs so far

        main = distributed.is_main()
        bar = progress_bar(total=epochs, initial=state.epoch, desc=self.name, leave=False,
                           enabled=verbose and main)
        while state.running(epochs):
            state.epoch += 1
            mean = self._train_epoch(inputs, targets, rng, batch_size, optimiser, ~seen, loss)
            score = evaluate(self, split, "valid", ks=(10,))["all"]["NDCG@10"]
            state.history.append({"epoch": state.epoch, "loss": mean, "valid_NDCG@10": score})
            state.update(self._net, score)
            if last is not None and main:
                self._checkpoint(last, run, optimiser, rng, state)
            bar.update(1)
            bar.set_postfix(loss=f"{mean:.3f}", valid_ndcg10=f"{score:.4f}")
        bar.close()
        state.restore_best(self._net)
        if verbose and main:
            print(f"{self.name}: {len(self.history)} epochs, best valid NDCG@10 "
                  f"{state.best_score:.4f} at epoch {state.best_epoch}, final loss "
                  f"{self.history[-1]['loss']:.3f}")
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write sizes, weights and training history to ``path`` atomically (see :meth:`load`)."""
        return save_checkpoint(path, {"sizes": self._sizes, "net": self._net.state_dict(),
                                      "history": self.history})

    @classmethod
    def load(cls, path: str | os.PathLike) -> SASRec:
        """The model :meth:`save` wrote (or ``best.pt`` of a ``fit`` with ``checkpoint_dir``),
        rebuilt from its saved sizes; it recommends exactly what the saved model did."""
        fix = "save a model there with SASRec.save or fit(checkpoint_dir=...)"
        saved = load_checkpoint(path, {}, "SASRec.load", fix=fix)
        features = saved["net"].get("features")  # the buffer ends with the padding item's row
        model = cls(**saved["sizes"],
                    item_features=None if features is None else features[:-1].numpy())
        model._net.load_state_dict(saved["net"])
        model.history = saved.get("history", [])
        return model

    def recommend(
        self, histories: Sequence[np.ndarray], k: int, batch_size: int = 1024
    ) -> np.ndarray:
        """Top-``k`` item ids per history, an ``(n, k)`` int array, best first.

        Under ``torchrun`` every rank must call it with the same histories: each ranks its
        share and all get the whole array (:func:`~digr_utils.distributed.gather_rows`).
        """
        return distributed.gather_rows(lambda part: self._rank(part, k, batch_size), histories)

    def _rank(self, histories: Sequence[np.ndarray], k: int, batch_size: int) -> np.ndarray:
        seqs, lengths = _right_padded(histories, self.max_len, pad=self.n_items)
        self._net.eval()
        out = []
        with torch.inference_mode():
            table = self._net.item_table()
            for start in range(0, len(seqs), batch_size):
                seq = torch.as_tensor(seqs[start:start + batch_size], device=self.device)
                last = torch.as_tensor(np.maximum(lengths[start:start + batch_size] - 1, 0),
                                       device=self.device)
                with self._autocast():
                    states = self._net.encode(seq, table)
                final = states[torch.arange(len(seq), device=self.device), last].float()
                scores = final @ table[: self.n_items].T  # float32 even on CUDA: exact ranking
                scores = scores.masked_fill(self._net.no_vector, float("-inf"))
                out.append(scores.topk(min(k, self.n_items), dim=1).indices.cpu().numpy())
        return np.concatenate(out) if out else np.empty((0, k), dtype=np.int64)

    def _resume(self, last: Path, run: dict, optimiser, rng, state: EarlyStopping) -> None:
        """Load ``last.pt`` (written by the same ``run``) into net, optimiser, RNGs and ``state``."""
        saved = load_checkpoint(last, run, "SASRec.fit",
                                fix="pass another checkpoint_dir or delete it to start over")
        self._net.load_state_dict(saved["net"])
        optimiser.load_state_dict(saved["optimiser"])
        restore_rng(saved["rng"], self.device, numpy_rng=rng)
        state.load_state_dict(saved["state"])

    def _checkpoint(self, last: Path, run: dict, optimiser, rng, state: EarlyStopping) -> None:
        """``best.pt`` if this epoch is the best so far, then ``last.pt``."""
        if state.best_epoch == state.epoch:
            self.save(last.with_name("best.pt"))
        save_checkpoint(last, {**run, "net": self._net.state_dict(),
                               "optimiser": optimiser.state_dict(),
                               "rng": capture_rng(self.device, numpy_rng=rng),
                               "state": state.state_dict()})

    def _train_epoch(self, inputs, targets, rng, batch_size, optimiser, unseen,
                     loss_kind: str = "ce") -> float:
        """One pass over the training windows in a shuffled order; returns the mean loss.

        Which positions have a target is read from the NumPy arrays, batches go to a GPU by
        asynchronous copies from pinned memory, and the loss is summed on the device, so the
        GPU never waits for the host mid-epoch: one read per epoch. Under torchrun each rank
        trains its :func:`~digr_utils.distributed.shard` of every batch.
        """
        self._net.train()
        order = rng.permutation(len(inputs))
        total = torch.zeros((), device=self.device)
        seen_ids = np.flatnonzero(~unseen.cpu().numpy())
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            idx, weight = _my_share(batch, targets)
            keep = targets[idx] != _IGNORE
            width = int(keep.sum(1).max())  # right padding: columns past the longest are all pad
            keep = keep[:, :width]
            seq = self._to_device(inputs[idx, :width])
            tgt = self._to_device(targets[idx, :width][keep])
            rows = self._to_device(np.flatnonzero(keep))
            with self._autocast():
                table = self._net.item_table()
                states = self._net.encode(seq, table).flatten(0, 1)[rows]
                if loss_kind == "bce":
                    loss = sampled_bce(states, table, tgt,
                                       self._to_device(rng.choice(seen_ids, len(tgt))))
                else:
                    loss = catalogue_cross_entropy(states, table[: self.n_items], tgt, unseen)
            optimiser.zero_grad(set_to_none=True)
            (loss * weight if distributed.active() else loss).backward()
            distributed.sync_gradients(self._net)
            optimiser.step()
            total += loss.detach().float() * len(tgt) * (weight > 0)
        return distributed.all_sum(total).item() / max(int((targets != _IGNORE).sum()), 1)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """A host array on the model's device; to a GPU through pinned memory, without a wait."""
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type != "cuda":
            return tensor.to(self.device)
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.device.type == "cuda")


def catalogue_cross_entropy(states: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                            excluded: torch.Tensor,
                            budget_bytes: int = LOGIT_BUDGET_BYTES) -> torch.Tensor:
    """Mean cross-entropy of ``states`` (N, H) scored against every row of ``items`` (n, H),
    with ``excluded`` items (n,) left out of the softmax, and ``targets`` (N,) the true items.

    Within ``budget_bytes`` of float32 logits this is one full softmax; past it, the rows go in
    chunks whose logits are recomputed in backward (activation checkpointing), so only one
    chunk's logits exist at a time and the loss is the same up to float rounding.
    """
    per_chunk = max(1, budget_bytes // (4 * max(len(items), 1)))
    if len(states) <= per_chunk:
        return nn.functional.cross_entropy(_logits(states, items, excluded), targets)
    total = sum(checkpoint(_summed_loss, s, items, t, excluded,
                                                  use_reentrant=False)
                for s, t in zip(states.split(per_chunk), targets.split(per_chunk)))
    return total / len(states)


def sampled_bce(states: torch.Tensor, table: torch.Tensor, targets: torch.Tensor,
                negatives: torch.Tensor) -> torch.Tensor:
    """The original SASRec loss: -log σ(s·e_target) - log(1 - σ(s·e_negative)), one negative
    per position, averaged over positions."""
    pos = (states * table[targets]).sum(-1)
    neg = (states * table[negatives]).sum(-1)
    return (nn.functional.softplus(-pos) + nn.functional.softplus(neg)).mean()


def _logits(states: torch.Tensor, items: torch.Tensor, excluded: torch.Tensor) -> torch.Tensor:
    return (states @ items.T).masked_fill(excluded, float("-inf"))


def _summed_loss(states, items, targets, excluded) -> torch.Tensor:
    return nn.functional.cross_entropy(_logits(states, items, excluded), targets, reduction="sum")


def _my_share(batch: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, float]:
    """This rank's windows of a global batch and the weight that turns DDP-style gradient
    averaging into the gradient of the global batch's mean loss (each rank's loss is a mean
    over its own targets). A rank left without windows runs one at weight 0."""
    mine = distributed.shard(batch)
    if not len(mine):
        return batch[:1], 0.0
    share = int((targets[mine] != _IGNORE).sum()) / int((targets[batch] != _IGNORE).sum())
    return mine, share * distributed.world_size()


class _Net(nn.Module):
    """The network; item ``n_items`` is the padding item (a zero vector)."""

    def __init__(self, n_items, max_len, hidden, n_layers, n_heads, dropout, features,
                 encoder="transformer"):
        super().__init__()
        self.n_items = n_items
        self.recurrent = encoder == "gru"
        self.item_emb = nn.Parameter(torch.randn(n_items + 1, hidden) * 0.02)
        # a GRU needs no positions: its state is the order
        self.pos_emb = (None if self.recurrent
                        else nn.Parameter(torch.randn(max_len, hidden) * 0.02))
        self.register_buffer("id_mask", torch.ones(n_items + 1, 1))
        self.id_mask[n_items] = 0.0
        self.register_buffer("no_vector", torch.zeros(n_items, dtype=torch.bool))
        if features is not None:
            padded = np.vstack([features, np.zeros((1, features.shape[1]), dtype=np.float32)])
            self.register_buffer("features", torch.as_tensor(padded))
            self.feature_proj = nn.Linear(features.shape[1], hidden, bias=False)
            nn.init.normal_(self.feature_proj.weight, std=0.02)
        else:
            self.features, self.feature_proj = None, None
        if self.recurrent:  # reads left to right: right padding never reaches a real position
            self.encoder = nn.GRU(hidden, hidden, n_layers, batch_first=True,
                                  dropout=dropout if n_layers > 1 else 0.0)
        else:
            layer = nn.TransformerEncoderLayer(
                hidden, n_heads, dim_feedforward=hidden, dropout=dropout, activation="gelu",
                batch_first=True, norm_first=True,
            )
            # nested tensors do not apply to norm_first layers; saying so avoids a warning
            self.encoder = nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(hidden),
                                                 enable_nested_tensor=False)
        self.dropout = nn.Dropout(dropout)
        self.scale = math.sqrt(hidden)

    def set_seen(self, seen: torch.Tensor, zero_unseen_ids: bool) -> None:
        """Zero the ID part of items absent from training (if asked); mark vectorless items."""
        self.id_mask[: self.n_items, 0] = seen.float() if zero_unseen_ids else 1.0
        self.no_vector[:] = ~seen if zero_unseen_ids and self.feature_proj is None else False

    def item_table(self) -> torch.Tensor:
        """Every item's vector, ``(n_items + 1, hidden)``: ID embedding (+ projected features)."""
        table = self.item_emb * self.id_mask
        if self.feature_proj is not None:
            table = table + self.feature_proj(self.features)
        return table

    def encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """Hidden state after each position of right-padded ``seq`` (B, L); later pads never leak.

        Positions count back from each sequence's last item, as SASRec's left padding does, so the
        most recent item always has position 0, which every training window trains. A GRU needs
        no positions: its state is the order.
        """
        if self.recurrent:
            return self.encoder(self.dropout(table[seq] * self.scale))[0]
        length = seq.shape[1]
        n_real = (seq != self.n_items).sum(dim=1, keepdim=True)
        back = (n_real - 1 - torch.arange(length, device=seq.device)).clamp(min=0)
        x = self.dropout(table[seq] * self.scale + self.pos_emb[back])
        causal = nn.Transformer.generate_square_subsequent_mask(length, device=seq.device)
        return self.encoder(x, mask=causal, is_causal=True)


def _training_windows(train: Sequence[np.ndarray], max_len: int, pad: int):
    """Right-padded (inputs, targets) windows; every training item after the first is a target once.

    A sequence longer than ``max_len + 1`` is cut into windows from its end, overlapping by one
    item, so each target keeps as much context as the window allows.
    """
    rows_in, rows_tgt = [], []
    for seq in train:
        seq = np.asarray(seq, dtype=np.int64)
        for end in range(len(seq), 1, -max_len):
            window = seq[max(0, end - max_len - 1):end]
            rows_in.append(window[:-1])
            rows_tgt.append(window[1:])
    inputs = np.full((len(rows_in), max_len), pad, dtype=np.int64)
    targets = np.full((len(rows_in), max_len), _IGNORE, dtype=np.int64)
    for r, (a, b) in enumerate(zip(rows_in, rows_tgt)):
        inputs[r, : len(a)] = a
        targets[r, : len(b)] = b
    return inputs, targets


def _right_padded(histories: Sequence[np.ndarray], max_len: int, pad: int):
    """The last ``max_len`` items of each history, left-aligned in an (n, max_len) array.

    Also returns how many items each row holds. Vectorised: no Python loop over users.
    """
    full = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
    flat = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]
                          + [np.empty(0, np.int64)])
    lengths = np.minimum(full, max_len)
    starts = np.cumsum(full) - lengths  # index in ``flat`` of each kept window's first item
    cols = np.arange(max_len)
    valid = cols[None, :] < lengths[:, None]
    index = np.where(valid, starts[:, None] + cols[None, :], 0)
    seqs = np.where(valid, flat[index] if len(flat) else pad, pad)
    return seqs, lengths
