"""Baselines as runs: a trained SASRec is kept in a run folder named by its settings and reused.

Training SASRec takes a minute on the tutorial shop; every notebook that compares against it
(01, 05, 07) loads the same run instead of retraining it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from digr_utils import distributed
from digr_utils.data.stage import Data
from digr_utils.runs import Run, digest, open_run

if TYPE_CHECKING:
    from digr_utils.baselines.sasrec import SASRec


@dataclass(frozen=True)
class SASRecConfig:
    """SASRec's sizes and training budget (early stopping on validation NDCG@10); with
    ``encoder="gru"`` the same model with a GRU, GRU4Rec (``n_heads`` unused)."""

    hidden: int = 64
    n_layers: int = 2
    n_heads: int = 2
    dropout: float = 0.2
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    patience: int = 3
    loss: str = "ce"  # "ce": softmax over every item; "bce": one sampled negative (the original)
    encoder: str = "transformer"  # or "gru" (GRU4Rec)

    def __post_init__(self) -> None:
        if self.encoder not in ("transformer", "gru"):
            raise ValueError(f"SASRecConfig: encoder={self.encoder!r}; use 'transformer' "
                             "(SASRec) or 'gru' (GRU4Rec)")


def train_sasrec(data: Data, config: SASRecConfig = SASRecConfig(), seed: int = 0,
                 item_features: np.ndarray | None = None, features_name: str = "ids",
                 max_len: int = 20, progress: bool = False) -> tuple["SASRec", Run]:
    """SASRec on ``data`` with ``config`` and ``seed``, trained once and then loaded from its run.

    ``item_features`` (one row per item) add Linear(features) to each item's vector;
    ``features_name`` names them in the run's folder (their digest is in the recipe). Under
    torchrun every rank trains and evaluates its share; rank 0 writes the run's figures.
    """
    from digr_utils.baselines.sasrec import ENCODERS, SASRec
    from digr_utils.metrics import evaluate

    settings = asdict(config)
    name = ENCODERS[settings.pop("encoder")]  # the model's name stands for its encoder in the recipe
    # GRU4Rec has no position embeddings (its first runs carried an unused table, and are not
    # loaded into this network); named only there, so SASRec's recipe hashes as before
    fields = {"model": name.lower(), **({"positions": False} if config.encoder == "gru" else {}),
              **settings, "seed": seed, "max_len": max_len,
              "features": None if item_features is None else
              digest(np.ascontiguousarray(item_features, dtype=np.float32).tobytes())}
    run = open_run(data.key, "baselines", fields, f"{name.lower()}-{features_name}")
    best = run.path("best.pt")
    if run.finished:
        return SASRec.load(best), run
    model = SASRec(data.dataset.n_items, max_len=max_len, hidden=config.hidden,
                   n_layers=config.n_layers, n_heads=config.n_heads, dropout=config.dropout,
                   item_features=item_features, seed=seed, encoder=config.encoder)
    model.fit(data.split, epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
              patience=config.patience, verbose=progress, checkpoint_dir=run.folder,
              loss=config.loss)
    test = evaluate(model, data.split, "test")
    if distributed.is_main():
        run.save_metrics({"model": f"{name} · {features_name}", "dataset": data.key, "seed": seed,
                          "epochs_run": len(model.history),
                          **{f"test {g} {m}": v for g in ("all", "warm", "new")
                             for m, v in test[g].items()}})
    distributed.barrier()  # no rank reads the run as unfinished while rank 0 writes it
    return model, run
