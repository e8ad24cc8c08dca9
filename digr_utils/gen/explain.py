"""Beam search, one step at a time, for reading rather than speed (notebook 05's picture).

The same search as :func:`digr_utils.gen.decode.constrained_beam_search`, written plainly:
at each step every live prefix is scored by a full teacher-forced forward pass, the trie lists
the tokens that keep it a real item's prefix, and the best ``beams`` continuations survive.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from digr_utils.gen.vocab import SidVocab
from digr_utils.sid.ids import PrefixTrie


@torch.inference_mode()
def beam_steps(model, vocab: SidVocab, input_ids: torch.Tensor, beams: int = 5) -> list[pd.DataFrame]:
    """For one encoder input ``(1, T)``: per step, the surviving prefixes (as ID labels), their
    summed log-probability, and how many tokens the trie allowed after each parent prefix."""
    tokens = vocab.item_tokens()
    trie = PrefixTrie(tokens)
    device = next(model.parameters()).device
    start = model.config.decoder_start_token_id
    encoder = model.get_encoder()(input_ids=input_ids.to(device)).last_hidden_state
    live: list[tuple[tuple[int, ...], float]] = [((), 0.0)]
    steps = []
    for _ in range(tokens.shape[1]):
        decoder_inputs = torch.tensor([[start, *prefix] for prefix, _ in live], device=device)
        logits = model(encoder_outputs=(encoder.expand(len(live), -1, -1),),
                       decoder_input_ids=decoder_inputs).logits[:, -1].float()
        log_probs = torch.log_softmax(logits, dim=-1).cpu().numpy()
        candidates = [(prefix + (int(t),), score + float(log_probs[row, t]), len(trie.allowed(prefix)))
                      for row, (prefix, score) in enumerate(live) for t in trie.allowed(prefix)]
        candidates.sort(key=lambda c: -c[1])
        kept = candidates[:beams]
        steps.append(pd.DataFrame({"prefix": [vocab.decode(p) for p, _, _ in kept],
                                   "log_prob": [s for _, s, _ in kept],
                                   "allowed_after_parent": [n for _, _, n in kept]}))
        live = [(p, s) for p, s, _ in kept]
    items = [int(np.flatnonzero((tokens == np.array(p)).all(axis=1))[0]) for p, _ in live]
    steps[-1]["item"] = items
    return steps
