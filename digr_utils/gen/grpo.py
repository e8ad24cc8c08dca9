"""Stage 2 of the generative recommender: GRPO with the interest-aware reward.

For each history the policy proposes G candidate SIDs (:mod:`digr_utils.gen.rollout`); each is
rewarded against the true next item, rewards are normalised within the history's group (no
value network), and the policy moves towards the better candidates through a clipped ratio
against the rollout policy, held near the SFT model by a KL penalty.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from digr_utils import distributed
from digr_utils.gen.decode import CatalogTrie, teacher_forced_logits
from digr_utils.gen.rollout import ROLLOUTS, rollout

REWARD_KINDS = ("interest-aware", "rule", "rank")


@dataclass
class RewardConfig:
    """Weights of the reward of a candidate SID s against the target t (L code levels):

    ``interest-aware``: exact*1[s = t] + valid*1[s is an item] + prefix*LCP_L(s, t)/L
    + quality_bonus*q*1[s = t] (``gated``; ungated: q of the candidate on every valid one);
    ``rule``: exact*1[s = t]; ``rank``: MiniOneRec's ranking reward (see :func:`rewards`).
    ``levels`` is L; ``None`` takes every SID token but the last, the collision suffix.
    """

    exact: float = 1.0
    # 0.1: under constrained rollouts every candidate is valid and the term cancels in the
    # group; with unconstrained ones it should teach "name a real item" without making a
    # valid miss look anywhere near a hit
    valid: float = 0.1
    # 0.5: a miss sharing all L levels (a suffix sibling) earns half a hit at most, so a hit
    # always wins, while each shared level (1/6 at L = 3) still ranks the many hitless groups
    prefix: float = 0.5
    quality_bonus: float = 0.5  # alpha in the paper's released settings
    gated: bool = True
    kind: str = "interest-aware"
    levels: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in REWARD_KINDS:
            raise ValueError(f"RewardConfig: kind={self.kind!r}; choose one of "
                             f"{', '.join(REWARD_KINDS)}")


@dataclass
class GRPOConfig:
    """One GRPO step: G rollouts by ``rollout`` (see :data:`~digr_utils.gen.rollout.ROLLOUTS`),
    ``inner_steps`` clipped updates on them, KL weight ``beta`` (the paper's G = 8, 1e-3)."""

    group_size: int = 8
    rollout: str = "beam"
    beams: int | None = None  # beam width of "beam" rollouts; None: group_size
    temperature: float = 1.0
    clip_eps: float = 0.2
    beta: float = 1e-3
    inner_steps: int = 1
    grad_clip: float = 1.0
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        if self.rollout not in ROLLOUTS:
            raise ValueError(f"GRPOConfig: rollout={self.rollout!r}; choose one of "
                             f"{', '.join(ROLLOUTS)}")
        if self.group_size < 2:
            raise ValueError(f"GRPOConfig: group_size={self.group_size}; group-normalised "
                             "advantages need at least 2 rollouts per history")
        if self.inner_steps < 1:
            raise ValueError(f"GRPOConfig: inner_steps={self.inner_steps}; use at least 1")


@dataclass
class GRPOBatch:
    """Histories (encoder inputs), each one's ``targets`` item row ``(B,)``, and the RLDI
    ``quality`` of every catalog item ``(n_items,)`` (``None``: no quality bonus)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: torch.Tensor
    quality: torch.Tensor | None = None


def sequence_logprobs(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      sequences: torch.Tensor) -> torch.Tensor:
    """``(B, G)`` log-probability of each history's G SIDs ``sequences`` ``(B, G, D)`` by
    teacher forcing: the encoder runs once per history, and on T5 the G sequences share its
    cross-attention (:func:`~digr_utils.gen.decode.teacher_forced_logits`).

    Differentiable: call it with gradients for the policy, under ``torch.no_grad`` for the
    reference. Dropout follows the model's mode, except in T5's shared decoder pass, which has
    none; :func:`grpo_step` keeps it off everywhere.
    """
    hidden = model.get_encoder()(input_ids=input_ids,
                                 attention_mask=attention_mask).last_hidden_state
    starts = sequences.new_full((*sequences.shape[:2], 1), model.config.decoder_start_token_id)
    logits = teacher_forced_logits(model, hidden, attention_mask,
                                   torch.cat([starts, sequences[..., :-1]], dim=2))
    picked = torch.log_softmax(logits.float(), dim=-1).gather(3, sequences[..., None])
    return picked.sum(dim=(2, 3))


def rewards(config: RewardConfig, cand_tokens: torch.Tensor, cand_items: torch.Tensor,
            target_items: torch.Tensor, target_tokens: torch.Tensor,
            quality: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, G)`` reward of each candidate (``cand_tokens`` ``(B, G, D)``, ``cand_items``
    ``(B, G)``, -1 = no item) against its history's target (``(B,)`` rows, ``(B, D)`` tokens).

    ``quality`` is every item's RLDI quality ``(n_items,)``. The ``rank`` kind is MiniOneRec's:
    a hit earns ``exact``; in a group that holds the hit, a miss at beam rank j (0-based) loses
    d_j / sum_k d_k with d_j = 1 / log2(j + 2), so misses the policy ranked high cost most; a
    group without a hit gets 0 everywhere. Candidates must come in beam order for it.
    """
    hit = (cand_items == target_items[:, None]) & (cand_items >= 0)
    exact = config.exact * hit.float()
    if config.kind == "rule":
        return exact
    if config.kind == "rank":
        return exact + _rank_penalty(hit)
    levels = config.levels or cand_tokens.shape[2] - 1
    if not 1 <= levels <= cand_tokens.shape[2]:
        raise ValueError(f"rewards: RewardConfig.levels={levels} but SIDs have "
                         f"{cand_tokens.shape[2]} tokens; use 1..{cand_tokens.shape[2]} levels")
    same = cand_tokens[..., :levels] == target_tokens[:, None, :levels]
    shared = same.long().cumprod(dim=2).sum(dim=2)  # the longest common prefix, in levels
    valid = cand_items >= 0
    reward = exact + config.valid * valid.float() + config.prefix * shared.float() / levels
    if quality is not None and config.quality_bonus:
        # gated, the candidate's quality is the target's; ungated it pays any fluent wrong item
        earned = hit if config.gated else valid
        q = quality.to(cand_items.device)[cand_items.clamp_min(0)]
        reward = reward + config.quality_bonus * q.float() * earned.float()
    return reward


def _rank_penalty(hit: torch.Tensor) -> torch.Tensor:
    """MiniOneRec's NDCG-shaped penalty of the misses in groups that contain a hit."""
    discount = 1.0 / torch.log2(torch.arange(hit.shape[1], device=hit.device) + 2.0)
    penalty = (-discount / discount.sum()).expand_as(hit)
    return torch.where(hit, 0.0, penalty) * hit.any(dim=1, keepdim=True)


def group_advantages(rewards: torch.Tensor) -> torch.Tensor:
    """``(R - mean) / (std + 1e-6)`` within each history's row of G rewards (the sample std, as
    TRL's GRPO and MiniOneRec use): a group of equal rewards teaches nothing."""
    mean = rewards.mean(dim=1, keepdim=True)
    return (rewards - mean) / (rewards.std(dim=1, keepdim=True) + 1e-6)


def grpo_loss(logp_new: torch.Tensor, logp_old: torch.Tensor, logp_ref: torch.Tensor,
              advantages: torch.Tensor, clip_eps: float, beta: float
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The clipped GRPO objective, negated, plus ``beta`` x KL(policy || reference).

    All inputs ``(B, G)`` sequence log-probabilities. Ratio rho = exp(new - old) against the
    rollout policy; loss = -mean min(rho A, clip(rho, 1 - eps, 1 + eps) A) + beta mean KL, the KL
    by Schulman's k3 estimator per sequence, exp(ref - new) - (ref - new) - 1: unbiased,
    never negative, and zero where the policy equals the reference. Stats come back detached.
    """
    ratio = torch.exp(logp_new - logp_old)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip_eps, 1 + clip_eps) * advantages
    surrogate = torch.minimum(unclipped, clipped)
    log_ref = logp_ref - logp_new
    kl = torch.exp(log_ref) - log_ref - 1
    loss = (beta * kl - surrogate).mean()
    stats = {"loss": loss.detach(), "kl": kl.detach().mean(), "ratio": ratio.detach().mean(),
             "clip_fraction": (clipped < unclipped).float().mean()}
    return loss, stats


def grpo_step(policy, reference, optimizer: torch.optim.Optimizer, batch: GRPOBatch,
              trie: CatalogTrie, config: GRPOConfig) -> dict[str, float]:
    """Roll out with the policy (no gradients), reward, then ``inner_steps`` clipped updates.

    Runs where the policy is (bf16 autocast on CUDA only). Dropout stays off in both models, as
    in TRL's GRPO, so the first update's ratio is exactly 1. Returns the last update's loss,
    KL, ratio and clip share with the rollouts' mean reward, hit and valid shares.
    """
    stats = grpo_update(policy, reference, optimizer, batch, trie, config)
    return {name: float(value) for name, value in stats.items()}


def grpo_update(policy, reference, optimizer: torch.optim.Optimizer, batch: GRPOBatch,
                trie: CatalogTrie, config: GRPOConfig, loss_weight: float = 1.0
                ) -> dict[str, torch.Tensor]:
    """:func:`grpo_step` with its stats left as 0-d tensors on the policy's device, so a
    training loop can add them up there and read them once, not wait for the device each step.

    Under torchrun ``batch`` is this rank's share of a global batch: the gradient of
    ``loss_weight`` x its loss is averaged over ranks before clipping, so every rank takes
    the step one process would take on the whole batch."""
    device = next(policy.parameters()).device
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    targets, trie = batch.targets.to(device), trie.to(device)
    policy.eval()
    reference.eval()
    with _autocast(device), torch.no_grad():
        rolled = rollout(policy, ids, mask, trie, config.group_size, config.rollout,
                         config.temperature, config.beams)
        logp_ref = sequence_logprobs(reference, ids, mask, rolled.tokens)
    reward = rewards(config.reward, rolled.tokens, rolled.items, targets, trie.tokens[targets],
                     batch.quality)
    advantages = group_advantages(reward)
    logp_old = None
    for _ in range(config.inner_steps):
        with _autocast(device):
            logp_new = sequence_logprobs(policy, ids, mask, rolled.tokens)
        # the rollout policy is the policy before its first update: same weights, same numbers
        logp_old = logp_new.detach() if logp_old is None else logp_old
        loss, stats = grpo_loss(logp_new, logp_old, logp_ref, advantages, config.clip_eps,
                                config.beta)
        optimizer.zero_grad(set_to_none=True)
        (loss * loss_weight).backward()
        distributed.sync_gradients(policy)
        torch.nn.utils.clip_grad_norm_(policy.parameters(), config.grad_clip)
        optimizer.step()
    hit = rolled.items == targets[:, None]
    stats.update(reward=reward.mean(), hit=hit.float().mean(),
                 group_hit=hit.any(dim=1).float().mean(), valid=(rolled.items >= 0).float().mean())
    return stats


def _autocast(device: torch.device):
    return (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
            else contextlib.nullcontext())
