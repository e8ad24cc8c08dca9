"""A decoder-only LLM as the generative recommender: new SID tokens, LoRA, the T5's interface.

The paper and MiniOneRec fine-tune a causal LM rather than a T5: the prompt is the history's SID
tokens, the answer the next item's. :class:`CausalSidLM` wraps any Hugging Face causal LM so the
course's SFT, GRPO and constrained beam search drive it unchanged: ``forward(input_ids,
attention_mask, labels)`` gives ``.loss``/``.logits`` over the course vocabulary, ``get_encoder()``
passes the prompt through (a causal LM has no encoder: its decoder re-reads the prompt), and
:mod:`digr_utils.gen.decode` runs a cached causal path beside the T5 one.

Why one new table of token embeddings instead of resizing the base vocabulary: prompts and
answers are made only of course tokens (one per (level, code), the task tokens, interest words),
so the base vocabulary (49,152 rows in SmolLM2) is never read. A trainable ``(vocab, hidden)``
table tied to the output head is what resize + trainable new rows + a head restricted to them
would be, without peft's version-specific wrappers, and the softmax spans the course's few
thousand tokens instead of 49k. The base weights stay frozen; LoRA on the attention projections
and the new table are all that trains, and all that a checkpoint holds.
"""
from __future__ import annotations

import inspect
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import BaseModelOutput, CausalLMOutput

from digr_utils.gen.data import IGNORE
from digr_utils.gen.vocab import PAD


@dataclass
class CausalConfig:
    """The base LM (``path`` a local Hugging Face folder; ``None`` the bundled SmolLM2 GGUF,
    dequantised) and its LoRA adapters (rank, scale, dropout, which projections)."""

    path: str | None = None
    gguf_file: str | None = None
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self) -> None:
        self.target_modules = tuple(self.target_modules)  # a list once read back from JSON


class CausalSidLM(nn.Module):
    """A frozen causal LM with LoRA adapters, reading and writing the SID vocabulary's tokens.

    ``config.vocab_size`` is the course vocabulary's size and ``config.decoder_start_token_id``
    (PAD, as in T5) opens every answer, so the trie, the losses and the rewards see the same
    token ids as with the T5. ``state_dict`` holds only what trains (LoRA and the token table).
    """

    def __init__(self, lm: nn.Module, vocab_size: int, cfg: CausalConfig, seed: int = 0) -> None:
        super().__init__()
        from peft import LoraConfig, inject_adapter_in_model

        self.spec = cfg
        decoder = lm.get_decoder()
        decoder.requires_grad_(False)
        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.target_modules))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.decoder = inject_adapter_in_model(lora, decoder)
            # new rows drawn around the base embeddings, so their first logits are of base scale
            base = lm.get_input_embeddings().weight.detach().float()
            rows = base.mean(0) + base.std() * torch.randn(vocab_size, base.shape[1])
        self.tokens = nn.Embedding.from_pretrained(rows.to(base.dtype), freeze=False)
        self.config = SimpleNamespace(vocab_size=vocab_size, decoder_start_token_id=PAD,
                                      backbone="causal")
        self._trained = {n for n, p in self.named_parameters()
                         if p.requires_grad or "lora_" in n}
        for name, p in self.named_parameters():
            p.requires_grad_(name in self._trained)
        # transformers 5 renamed `past_key_values` to `cache`
        self._cache_kwarg = ("cache" if "cache" in inspect.signature(decoder.forward).parameters
                             else "past_key_values")

    def describe(self) -> dict:
        """What rebuilds this model: the base LM, LoRA settings and vocabulary size."""
        return {"backbone": "causal", "vocab_size": self.config.vocab_size,
                **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.spec).items()}}

    def state_dict(self, *args, **kwargs) -> dict:
        """Only the trained tensors (LoRA, token table): the frozen base comes from its path."""
        prefix = kwargs.get("prefix", "")
        full = super().state_dict(*args, **kwargs)
        return {k: v for k, v in full.items() if k[len(prefix):] in self._trained}

    def load_state_dict(self, state: dict, strict: bool = True, assign: bool = False):
        """Load what :meth:`state_dict` wrote; refuses a state that misses a trained tensor."""
        missing = self._trained - state.keys()
        extra = state.keys() - self._trained
        if strict and (missing or extra):
            raise ValueError(f"CausalSidLM.load_state_dict: missing {sorted(missing)[:3]}, "
                             f"unexpected {sorted(extra)[:3]}; load a state saved by a model with "
                             "the same base LM, LoRA settings and vocabulary")
        return super().load_state_dict(state, strict=False, assign=assign)

    def get_encoder(self):
        """The prompt itself as "encoder states": decode.py and GRPO pass it back unchanged."""
        return _PassPrompt()

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor) -> CausalLMOutput:
        """Teacher-forced SFT: prompt ``input_ids`` then the start token and ``labels`` shifted;
        cross-entropy on the label tokens only (``-100`` skipped), as T5's loss."""
        shifted = labels[:, :-1]
        start = torch.full_like(labels[:, :1], PAD)
        answer = torch.cat([start, shifted.masked_fill(shifted == IGNORE, PAD)], dim=1)
        answer_mask = torch.cat([torch.ones_like(start), (shifted != IGNORE).long()], dim=1)
        logits = self.answer_logits(input_ids, attention_mask, answer, answer_mask)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(),
                               ignore_index=IGNORE)
        return CausalLMOutput(loss=loss, logits=logits)

    def answer_logits(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                      answer: torch.Tensor, answer_mask: torch.Tensor | None = None
                      ) -> torch.Tensor:
        """``(B, L, vocab)`` logits after each of the ``answer`` tokens ``(B, L)`` that follow
        right-padded prompts, in one differentiable pass."""
        ids, mask = left_align(prompt_ids, prompt_mask)
        answer_mask = torch.ones_like(answer) if answer_mask is None else answer_mask
        return self.logits(torch.cat([ids, answer], dim=1),
                           torch.cat([mask, answer_mask.to(mask.dtype)], dim=1),
                           last=answer.shape[1])

    def logits(self, ids: torch.Tensor, mask: torch.Tensor, cache=None,
               last: int | None = None) -> torch.Tensor:
        """Logits over the course vocabulary at the ``last`` positions of ``ids``; ``mask``
        covers the cached positions and ``ids``, positions count real tokens only."""
        positions = (mask.cumsum(1) - 1).clamp_min(0)[:, -ids.shape[1]:]
        kwargs = {self._cache_kwarg: cache} if cache is not None else {}
        hidden = self.decoder(inputs_embeds=self.tokens(ids), attention_mask=mask,
                              position_ids=positions, use_cache=cache is not None,
                              **kwargs).last_hidden_state
        hidden = hidden[:, -last:] if last else hidden
        return F.linear(hidden, self.tokens.weight.to(hidden.dtype))


class _PassPrompt:
    """The "encoder" of a causal LM: hands the prompt ids on as its states."""

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> BaseModelOutput:
        return BaseModelOutput(last_hidden_state=input_ids)


def left_align(ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``(B, W)`` rows moved to the right end, so an answer appended after them
    follows every prompt's last token directly."""
    width = ids.shape[1]
    lengths = mask.sum(1, keepdim=True)
    index = (torch.arange(width, device=ids.device) + lengths) % width
    return ids.gather(1, index), mask.gather(1, index)


def load_base_lm(cfg: CausalConfig) -> nn.Module:
    """The base causal LM of ``cfg`` in float32 with eager attention (fast on CPU); the bundled
    SmolLM2 is read from its dequantised copy in the model cache (:func:`smollm2_plain`)."""
    from digr_utils.interests.backends import smollm2_plain

    if cfg.path is not None:
        if not Path(cfg.path).exists():
            raise FileNotFoundError(f"CausalConfig.path={cfg.path} does not exist; pass a folder "
                                    "holding a transformers causal LM, or path=None for the "
                                    "bundled SmolLM2")
        return _from_pretrained(cfg.path, cfg.gguf_file)
    return _from_pretrained(smollm2_plain(), None)


def _from_pretrained(path: str | os.PathLike, gguf_file: str | None) -> nn.Module:
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    return AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="eager",
                                                dtype=torch.float32,
                                                **({"gguf_file": gguf_file} if gguf_file else {}))


def build_causal(cfg: CausalConfig, vocab_size: int, seed: int = 0,
                 lm: nn.Module | None = None) -> CausalSidLM:
    """A :class:`CausalSidLM` over ``cfg``'s base LM (or a given ``lm``, e.g. a tiny test model)
    with LoRA and ``vocab_size`` new tokens; the same ``seed`` gives the same new weights."""
    return CausalSidLM(lm if lm is not None else load_base_lm(cfg), vocab_size, cfg, seed)
