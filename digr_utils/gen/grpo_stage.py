"""The GRPO stage: the SFT bundle refined by GRPO on the training windows, saved as a bundle.

The policy starts from the SFT model (reused, never retrained) and a frozen copy of it is the
KL reference. Steps draw batches of the next-item windows SFT trained on; validation NDCG@10
(constrained beam search on a fixed set of validation users) picks the best weights, and the
SFT model itself is the step-0 candidate, so GRPO is kept only where it beats SFT on
validation. The run's folder loads with :func:`~digr_utils.gen.stage.load_recommender`.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from digr_utils import distributed
from digr_utils.config import Preset, pick_device, seed_everything
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.gen.causal import CausalConfig
from digr_utils.gen.decode import CatalogTrie
from digr_utils.gen.grpo import (GRPOBatch, GRPOConfig, RewardConfig, grpo_update, rewards,
                                 sequence_logprobs)
from digr_utils.gen.rollout import rollout
from digr_utils.interests.stage import InterestSource
from digr_utils.labeling.stage import LabelRecipe
from digr_utils.progress import progress_bar
from digr_utils.runs import Run, open_run
from digr_utils.sid.stage import VectorRecipe, recipe_tag
from digr_utils.training import (EarlyStopping, capture_rng, cpu_state, deterministic,
                                 load_checkpoint, restore_rng, save_checkpoint, warmup_decay)

Validate = Callable[[torch.nn.Module], dict]


@dataclass
class GRPOTraining:
    """The loop around :func:`~digr_utils.gen.grpo.grpo_step`: ``batch_size`` histories per step,
    ``histories`` training windows (a fixed random subset; None: all), validation every
    ``eval_every`` steps (0: once per epoch), ``patience`` validations without a better NDCG@10."""

    # chosen on validation on the tutorial shop (benchmarks/grpo_tuning.py): 1e-4 and more
    # lowered validation NDCG@10 below SFT's within an epoch; 1e-5 (the paper's) barely moves
    lr: float = 1e-5
    epochs: int = 2  # the paper's
    batch_size: int = 64
    histories: int | None = 2048
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0  # the KL term, not decay towards zero, holds the policy in place
    eval_every: int = 0
    patience: int = 2
    valid_users: int = 500
    seed: int = 0

    @classmethod
    def for_preset(cls, preset: Preset, **overrides) -> GRPOTraining:
        """The ci preset trains on a few hundred windows; others use the defaults."""
        small = {"histories": 256, "batch_size": 32, "valid_users": 100} if preset.name == "ci" else {}
        return cls(**{"seed": preset.seed, **small, **overrides})


@dataclass
class GRPOResult:
    """The policy with its best weights, one history row per validation, the best step/score."""

    model: torch.nn.Module
    history: pd.DataFrame
    best_step: int
    best_score: float


@dataclass
class GRPORun:
    """A refined model ready to rank (``recommender``), its history, figures, run and SFT run."""

    recommender: object
    history: pd.DataFrame
    figures: dict
    run: Run | None
    sft: object


def run_grpo(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
             method: str = "rqvae", reward: RewardConfig = RewardConfig(),
             config: GRPOConfig = GRPOConfig(), seed: int | None = None,
             spec: DataSpec | None = None, labels: LabelRecipe = LabelRecipe(),
             progress: bool = True, save: bool = True, backbone: CausalConfig | None = None,
             vectors: VectorRecipe = VectorRecipe(), sft_settings: dict | None = None,
             **overrides) -> GRPORun:
    """Stage 2: GRPO on ``source``'s SFT bundle with ``reward``; reuses a finished run.
    ``backbone`` picks the SFT model it starts from (the T5 by default, or an LLM with LoRA),
    ``labels`` and ``vectors`` the item vectors of its IDs (named in the run as in SFT's),
    ``sft_settings`` that model's SFTConfig overrides (a tuned trial's, e.g. ``{"lr": 1e-3}``).

    Mined sources get the quality bonus from RLDI's q_i; ``none`` has no q, so its reward has no
    bonus. ``overrides`` set :class:`GRPOTraining` fields (lr, epochs, histories...).
    """
    from digr_utils.gen.data import history_tensors
    from digr_utils.gen.stage import load_recommender, run_sft, save_bundle, score_figures
    from digr_utils.labeling.stage import kept_interests
    from digr_utils.sid import SemanticIds

    p = as_preset(preset)
    seed = p.seed if seed is None else seed
    data = load_data(p, spec)
    sft = run_sft(p, source, method, seed=seed, spec=spec, labels=labels, progress=progress,
                  backbone=backbone, vectors=vectors, **(sft_settings or {}))
    config = replace(config, reward=reward)
    train = GRPOTraining.for_preset(p, seed=seed, **overrides)
    run = None
    if save:
        fields = {"sft": sft.run.key, "reward": asdict(reward), "grpo": asdict(config),
                  "train": asdict(train)}
        run = open_run(data.key, "grpo", fields, f"{source.label}-{reward.kind}"
                       f"{'' if reward.gated else '-ungated'}{recipe_tag(source, vectors, labels)}")
        if run.finished:
            return GRPORun(load_recommender(run.folder, data), _read_history(run), run.metrics(),
                           run, sft)
    quality = (torch.as_tensor(kept_interests(data, source, seed, labels)[1], dtype=torch.float32)
               if source.mined else None)
    policy = load_recommender(sft.run.folder, data)
    reference = sft.recommender.model
    split, cap = data.split, p.max_history
    windows = training_windows(split.train, cap, train.histories, seed)
    batch = GRPOBatch(*history_tensors([h for h, _ in windows], policy.vocab, cap),
                      torch.tensor([t for _, t in windows]), quality)
    watch = np.sort(np.random.default_rng(seed).permutation(len(split.valid_target))[:train.valid_users])
    watched = GRPOBatch(*history_tensors([split.valid_history[u] for u in watch], policy.vocab, cap),
                        torch.as_tensor(split.valid_target[watch]), quality)

    def validate(model) -> dict:
        from digr_utils.metrics import ranking_metrics

        topk = distributed.gather_rows(lambda part: policy.recommend(part, 10),
                                       [split.valid_history[u] for u in watch])
        return {**ranking_metrics(topk, split.valid_target[watch], (10,)),
                **rollout_scores(model, reference, watched, policy.trie, config, train.batch_size)}

    result = train_grpo(policy.model, reference, batch, policy.trie, config, train, validate,
                        checkpoint_dir=run.folder if run else None, progress=progress)
    first, best = result.history.iloc[0], result.history.set_index("step").loc[result.best_step]
    before, after = _Memo(sft.recommender), _Memo(policy)
    figures = {"interests": source.label, "reward": reward.kind, "gated": reward.gated,
               "quality_bonus": "q_i of RLDI" if quality is not None else "none (no interests)",
               "seed": seed, "dataset": data.key, "histories": len(windows),
               "steps_run": int(result.history["step"].iloc[-1]), "best_step": result.best_step,
               "train_seconds": float(result.history["seconds"].sum()),
               "valid reward before": float(first["valid_reward"]),
               "valid reward after": float(best["valid_reward"]),
               "valid KL after": float(best["valid_kl"]),
               **{f"sft {k}": v for k, v in sft.figures.items() if k.startswith(("valid all", "test all"))},
               **score_figures(after, data),
               **list_figures(before, data, quality, "sft "), **list_figures(after, data, quality)}
    figures = {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
    if run is not None and distributed.is_main():
        save_bundle(run, policy, SemanticIds.load(sft.run.path("sids.npz")), data)
        result.history.to_csv(run.path("history.csv"), index=False)
        # each test user's top 10 before and after, for paired comparisons without re-ranking
        np.savez_compressed(run.path("test_top10.npz"), sft=before.recommend(split.test_history, 10),
                            grpo=after.recommend(split.test_history, 10))
        run.save_metrics(figures)
    distributed.barrier()  # the other ranks return once rank 0 has written the bundle
    return GRPORun(policy, result.history, figures, run, sft)


def training_windows(train: list[np.ndarray], cap: int, limit: int | None,
                     seed: int) -> list[tuple[np.ndarray, int]]:
    """(history, next item) for every position t >= 1 of every training sequence (SFT's
    next-item windows), or a fixed random ``limit`` of them, in their original order."""
    windows = [(seq[max(0, t - cap):t], int(seq[t])) for seq in train for t in range(1, len(seq))]
    if limit is None or limit >= len(windows):
        return windows
    keep = np.sort(np.random.default_rng(seed).permutation(len(windows))[:limit])
    return [windows[i] for i in keep]


def rollout_scores(policy, reference, batch: GRPOBatch, trie: CatalogTrie, config: GRPOConfig,
                   chunk: int) -> dict:
    """Mean reward, hit share and k3 KL to the reference of ``policy``'s rollouts on ``batch``
    (no update): the training signal, measured on held-out histories (split across ranks
    under torchrun, and summed)."""
    device = next(policy.parameters()).device
    totals = torch.zeros(3, device=device)
    with torch.no_grad():
        for rows in distributed.shard(torch.arange(len(batch.targets))).split(chunk):
            ids, mask = _trimmed(batch, rows, device)
            targets = batch.targets[rows].to(device)
            rolled = rollout(policy, ids, mask, trie.to(device), config.group_size,
                             config.rollout, config.temperature, config.beams)
            r = rewards(config.reward, rolled.tokens, rolled.items, targets,
                        trie.to(device).tokens[targets], batch.quality)
            log_ref = (sequence_logprobs(reference, ids, mask, rolled.tokens)
                       - sequence_logprobs(policy, ids, mask, rolled.tokens))
            kl = torch.exp(log_ref) - log_ref - 1
            hit = (rolled.items == targets[:, None]).float()
            totals += torch.stack([r.mean(1).sum(), kl.mean(1).sum(), hit.sum(1).clamp_max(1).sum()])
    reward, kl, group_hit = (distributed.all_sum(totals) / len(batch.targets)).tolist()
    return {"valid_reward": reward, "valid_kl": kl, "valid_group_hit": group_hit}


@deterministic()
def train_grpo(policy, reference, batch: GRPOBatch, trie: CatalogTrie, config: GRPOConfig,
               train: GRPOTraining, validate: Validate, device: str | torch.device | None = None,
               checkpoint_dir=None, progress: bool = True) -> GRPOResult:
    """GRPO steps over ``batch``'s histories in shuffled epochs; keep the best ``validate``
    NDCG@10, the unchanged policy (step 0) included.

    With ``checkpoint_dir``, ``last.pt`` after every validation lets an interrupted call resume
    to the same result as an unbroken one (same data and settings). Under ``torchrun`` each
    rank rolls out and trains its share of every ``train.batch_size`` batch, gradients are
    averaged, rank 0's validation counts, and rank 0 alone writes checkpoints.
    """
    distributed.setup()
    device = distributed.device() or torch.device(device or pick_device())
    seed_everything(train.seed)
    policy.to(device)
    reference.to(device).eval().requires_grad_(False)
    n = len(batch.targets)
    per_epoch = math.ceil(n / train.batch_size)
    total = train.epochs * per_epoch
    every = train.eval_every or per_epoch
    optimizer = torch.optim.AdamW(policy.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_decay(total, train.warmup_ratio))
    order = torch.Generator().manual_seed(train.seed)
    # the loop's "epoch" is a step here, so patience counts steps
    state = EarlyStopping(train.patience * every, best_weights=cpu_state(policy))
    last = None if checkpoint_dir is None else Path(checkpoint_dir) / "last.pt"
    loop = {"perm": None}
    if last is not None and last.exists():
        saved = load_checkpoint(last, {"n": n, "grpo": asdict(config), "train": asdict(train)},
                                "train_grpo", fix="delete it to start this GRPO run over")
        policy.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        restore_rng(saved["rng"], device, order)
        state.load_state_dict(saved["state"])
        loop["perm"] = saved["perm"]
    else:
        _record(state, policy, validate, {"step": 0, "epoch": 0.0, "seconds": 0.0})
    sums, steps, start = torch.zeros(4, device=device), 0, time.perf_counter()
    bar = progress_bar(total=total, initial=state.epoch, desc="GRPO",
                       enabled=progress and distributed.is_main())
    while state.running(total):
        at = state.epoch % per_epoch
        if at == 0:
            loop["perm"] = torch.randperm(n, generator=order)
        rows, weight = _my_share(loop["perm"][at * train.batch_size:(at + 1) * train.batch_size])
        stats = grpo_update(policy, reference, optimizer, _sub(batch, rows), trie, config, weight)
        scheduler.step()
        sums += torch.stack([stats[k].float() for k in ("reward", "kl", "loss", "group_hit")]) * weight
        steps += 1
        state.epoch += 1
        bar.update(1)
        if state.epoch % every == 0 or state.epoch % per_epoch == 0 or state.epoch == total:
            # the one read of the device's sums (ranks' shares weighted back to the global batch)
            means = (distributed.all_sum(sums) / (steps * distributed.world_size())).tolist()
            row = {"step": state.epoch, "epoch": state.epoch / per_epoch,
                   **dict(zip(("train_reward", "train_kl", "train_loss", "train_group_hit"), means)),
                   "seconds": time.perf_counter() - start}
            _record(state, policy, validate, row)
            bar.set_postfix(reward=f"{means[0]:.3f}", kl=f"{means[1]:.4f}",
                            ndcg10=f"{row['NDCG@10']:.4f}")
            sums, steps, start = torch.zeros(4, device=device), 0, time.perf_counter()
            if last is not None and distributed.is_main():
                save_checkpoint(last, {
                    "n": n, "grpo": asdict(config), "train": asdict(train),
                    "model": policy.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": capture_rng(device, order),
                    "state": state.state_dict(), "perm": loop["perm"]})
    bar.close()
    state.restore_best(policy)
    policy.eval()
    return GRPOResult(policy, pd.DataFrame(state.history), state.best_epoch, state.best_score)


def _my_share(rows: torch.Tensor) -> tuple[torch.Tensor, float]:
    """This rank's histories of a global batch and the weight that turns gradient averaging
    over ranks into the gradient of the global batch's mean loss. A rank left without
    histories runs one at weight 0: every rank must join the gradient average."""
    mine = distributed.shard(rows)
    if not len(mine):
        return rows[:1], 0.0
    return mine, len(mine) / len(rows) * distributed.world_size()


def _record(state: EarlyStopping, policy, validate: Validate, row: dict) -> None:
    """Validate (rank 0's numbers under torchrun), keep the weights if NDCG@10 improved, and
    append the history row."""
    policy.eval()
    row.update({k: float(v) for k, v in distributed.from_main(validate(policy)).items()})
    state.update(policy, row["NDCG@10"])
    state.history.append(row)


def _sub(batch: GRPOBatch, rows: torch.Tensor) -> GRPOBatch:
    """The histories ``rows`` of ``batch``, trimmed to their longest."""
    ids, mask = _trimmed(batch, rows, batch.input_ids.device)
    return GRPOBatch(ids, mask, batch.targets[rows], batch.quality)


def _trimmed(batch: GRPOBatch, rows: torch.Tensor, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = int(batch.attention_mask[rows].sum(1).max())
    return (batch.input_ids[rows, :width].to(device), batch.attention_mask[rows, :width].to(device))


def list_figures(recommender, data: Data, quality: torch.Tensor | None, prefix: str = "") -> dict:
    """What the test top-10 is made of: mean RLDI q (mined sources), share of items sharing a
    hidden motive with the user's history (the shop only), mean training count (popularity)."""
    split = data.split
    top = np.asarray(recommender.recommend(split.test_history, 10))
    real = top >= 0
    out = {f"{prefix}top10 popularity": float(split.train_counts[top[real]].mean())}
    if quality is not None:
        out[f"{prefix}top10 mean q"] = float(quality.numpy()[top[real]].mean())
    if data.shop is not None:
        motives = data.shop.motive_sets()
        shared = [bool(motives[i] & set().union(*(motives[h] for h in hist)))
                  for hist, row in zip(split.test_history, top) for i in row if i >= 0]
        out[f"{prefix}top10 motive share"] = float(np.mean(shared))
    return out


class _Memo:
    """A recommender that ranks each list of histories once: the test figures, the list views
    and the saved top 10 share one beam search per model."""

    def __init__(self, recommender) -> None:
        self.recommender, self.seen = recommender, {}

    def recommend(self, histories, k: int) -> np.ndarray:
        key = (id(histories), k)
        if key not in self.seen:
            self.seen[key] = self.recommender.recommend(histories, k)
        return self.seen[key]


def _read_history(run: Run) -> pd.DataFrame:
    path = run.path("history.csv")
    return pd.read_csv(path) if path.exists() else pd.DataFrame()


def grpo_stage(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
               method: str = "rqvae", reward: RewardConfig = RewardConfig(),
               config: GRPOConfig = GRPOConfig(), seed: int | None = None,
               spec: DataSpec | None = None, labels: LabelRecipe = LabelRecipe(),
               progress: bool = True, vectors: VectorRecipe = VectorRecipe(), **overrides) -> dict:
    """``digr grpo``: :func:`run_grpo`'s figures, with the bundle's folder."""
    result = run_grpo(preset, source, method, reward, config, seed, spec, labels, progress,
                      vectors=vectors, **overrides)
    return {**result.figures, "run": str(result.run.folder)}
