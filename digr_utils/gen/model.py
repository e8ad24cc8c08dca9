"""The generative recommender's network: a small T5 built from scratch over the SID vocabulary.

Why T5: it is the encoder-decoder TIGER and the paper's recommender use. The encoder reads the
whole history at once (no causal mask, relative position buckets that suit "k items ago"), and
the decoder writes the D tokens of one SID, each step conditioned on the codes before it, which
is exactly what prefix-trie beam search needs. Tied input/output embeddings halve the parameters
of the largest matrix, which matters when the vocabulary is a few thousand SID tokens.

Starting from a pretrained T5 (a GPU and a local checkpoint, e.g. ``t5-small``) instead of from
scratch: load it with ``T5ForConditionalGeneration.from_pretrained(path)``, tokenise the interest
texts with its own tokenizer, add one token per SID code and the three task tokens with
``tokenizer.add_tokens([...])``, grow the embedding with
``model.resize_token_embeddings(len(tokenizer))`` and map each (position, code) to its new id.
The new rows start random, so SFT needs more epochs at a lower learning rate (about 3e-4) than
here. This course trains from scratch because a 60M-parameter model is too slow on a laptop CPU
and the SID tokens, not the words, carry most of the signal.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

import torch
from transformers import T5Config, T5ForConditionalGeneration

from digr_utils.config import Preset
from digr_utils.gen.causal import CausalConfig, CausalSidLM, build_causal
from digr_utils.gen.vocab import EOS, PAD, SidVocab
from digr_utils.io import ArtifactError, load_torch, write_atomic


@dataclass
class ModelConfig:
    """Sizes of the T5: width, encoder and decoder depth, heads, feed-forward width, dropout."""

    d_model: int = 128
    num_layers: int = 2
    num_decoder_layers: int = 2
    num_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.1

    @classmethod
    def for_preset(cls, preset: str | Preset) -> ModelConfig:
        """The model size of a preset: ``ci`` tiny, ``tutorial`` small (CPU), ``full`` (GPU)."""
        name = preset.name if isinstance(preset, Preset) else preset
        if name not in _PRESET_SIZES:
            raise ValueError(f"ModelConfig.for_preset: unknown preset {name!r}; "
                             f"choose one of {', '.join(_PRESET_SIZES)}")
        return cls(**_PRESET_SIZES[name])


_PRESET_SIZES = {
    "ci": {"d_model": 64, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4, "d_ff": 128},
    # 20 epochs on the tutorial shop: 3-5 minutes on 2 CPU cores (benchmarks/sft_speed.py)
    "tutorial": {"d_model": 128, "num_layers": 2, "num_decoder_layers": 2, "num_heads": 4,
                 "d_ff": 256},
    "full": {"d_model": 256, "num_layers": 4, "num_decoder_layers": 4, "num_heads": 8,
             "d_ff": 1024},
}


def build_model(cfg: ModelConfig, vocab: SidVocab, seed: int = 0) -> T5ForConditionalGeneration:
    """A randomly initialised T5 over ``vocab`` (nothing downloaded); the same ``seed`` gives the
    same weights, without touching the global random state."""
    if cfg.d_model % cfg.num_heads:
        raise ValueError(f"build_model: d_model={cfg.d_model} is not divisible by "
                         f"num_heads={cfg.num_heads}; pick sizes where each head gets "
                         "d_model / num_heads dimensions")
    config = T5Config(
        vocab_size=vocab.vocab_size, d_model=cfg.d_model, d_kv=cfg.d_model // cfg.num_heads,
        d_ff=cfg.d_ff, num_layers=cfg.num_layers, num_decoder_layers=cfg.num_decoder_layers,
        num_heads=cfg.num_heads, dropout_rate=cfg.dropout, feed_forward_proj="relu",
        pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD, tie_word_embeddings=True,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return T5ForConditionalGeneration(config)


def model_config_of(model: T5ForConditionalGeneration | CausalSidLM) -> dict:
    """The sizes of a built model as a plain dict (vocabulary size included): what a checkpoint
    records to refuse weights of another shape (a causal LM: its base, LoRA and vocabulary)."""
    if isinstance(model, CausalSidLM):
        return model.describe()
    c = model.config
    return {"vocab_size": c.vocab_size, "d_model": c.d_model, "num_layers": c.num_layers,
            "num_decoder_layers": c.num_decoder_layers, "num_heads": c.num_heads,
            "d_ff": c.d_ff, "dropout": c.dropout_rate}


def save_model(model: T5ForConditionalGeneration | CausalSidLM, path: str | os.PathLike) -> None:
    """Write the weights and sizes of ``model`` to ``path`` atomically (see :func:`load_model`)."""
    payload = {"config": model_config_of(model), "state": model.state_dict()}
    write_atomic(path, lambda f: torch.save(payload, f))


def load_model(path: str | os.PathLike,
               vocab: SidVocab) -> T5ForConditionalGeneration | CausalSidLM:
    """Rebuild the model saved by :func:`save_model` (or ``best.pt`` of an SFT run) over ``vocab``;
    a causal LM reloads its base from the path it names, then its LoRA and token weights."""
    fix = "train a model with train_sft(..., checkpoint_dir=...) or save one with save_model"
    saved = load_torch(path, fix=fix)
    if not isinstance(saved, dict) or not {"config", "state"} <= saved.keys():
        raise ArtifactError(f"load_model: {path} holds no model (no config and state); {fix}")
    sizes = saved["config"]
    if sizes["vocab_size"] != vocab.vocab_size:
        raise ValueError(f"load_model: {path} was trained with a vocabulary of "
                         f"{sizes['vocab_size']} tokens but this vocab has {vocab.vocab_size}; "
                         "load the SidVocab saved with that model")
    if sizes.get("backbone") == "causal":
        model = build_causal(CausalConfig(**{f.name: sizes[f.name] for f in fields(CausalConfig)}),
                             vocab.vocab_size)
    else:
        model = build_model(ModelConfig(**{f.name: sizes[f.name] for f in fields(ModelConfig)}),
                            vocab)
    model.load_state_dict(saved["state"])
    return model
