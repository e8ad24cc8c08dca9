"""GRPO rollouts: G candidate SIDs per history from the policy, all users at once.

Three ways to draw them. ``beam`` takes the G best distinct items of constrained beam search,
as MiniOneRec does: every candidate is a real item and none repeats. ``sample`` draws G SIDs
token by token at a temperature, masked by the catalog trie: candidates may repeat, each is a
real item. ``unconstrained`` samples the same way without the trie, so some SIDs name no item
(item -1): the only rollout in which the validity reward has something to tell apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from digr_utils.gen.decode import CatalogTrie, constrained_beam_search, step_decoder

ROLLOUTS = ("beam", "sample", "unconstrained")


@dataclass
class Rollouts:
    """``items`` ``(B, G)`` catalog rows (-1: the SID is no item), ``tokens`` ``(B, G, D)``."""

    items: torch.Tensor
    tokens: torch.Tensor


def rollout(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: CatalogTrie,
            group_size: int, mode: str = "beam", temperature: float = 1.0,
            beams: int | None = None, generator: torch.Generator | None = None) -> Rollouts:
    """``group_size`` candidates per history by ``mode`` (one of :data:`ROLLOUTS`), on the inputs'
    device; ``beams`` widens the beam search (default ``group_size``), ``temperature`` and
    ``generator`` drive the sampling modes."""
    if mode not in ROLLOUTS:
        raise ValueError(f"rollout: mode={mode!r}; choose one of {', '.join(ROLLOUTS)}")
    if group_size < 1:
        raise ValueError(f"rollout: group_size={group_size}; draw at least 1 candidate per history")
    if mode != "beam":
        return sample_sids(model, input_ids, attention_mask, trie, group_size, temperature,
                           constrained=mode == "sample", generator=generator)
    if group_size > trie.n_items:
        raise ValueError(f"rollout: group_size={group_size} distinct beams but the catalog has "
                         f"{trie.n_items} items; lower group_size or sample with mode='sample'")
    items, _ = constrained_beam_search(model, input_ids, attention_mask, trie,
                                       beams or group_size, group_size)
    # a copy outside inference mode, so autograd may later index embeddings with it
    items = items.clone()
    return Rollouts(items, trie.to(items.device).tokens[items])


def sample_sids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: CatalogTrie,
                group_size: int, temperature: float = 1.0, constrained: bool = True,
                generator: torch.Generator | None = None) -> Rollouts:
    """``group_size`` SIDs per history sampled token by token from ``softmax(logits /
    temperature)``, restricted to the trie's continuations when ``constrained``.

    Temperature 0 is greedy decoding. The encoder runs once per history and the G samples of a
    history share its cross-attention (the beam search's decoder step, one row per sample).
    """
    if temperature < 0:
        raise ValueError(f"sample_sids: temperature={temperature}; use 0 (greedy) or more")
    device, n_users = input_ids.device, len(input_ids)
    trie = trie.to(device)
    start = model.config.decoder_start_token_id
    model.eval()
    with torch.inference_mode():
        hidden = model.get_encoder()(input_ids=input_ids,
                                     attention_mask=attention_mask).last_hidden_state
        decoder = step_decoder(model, hidden, attention_mask, trie.depth, group_size)
        tokens = torch.full((n_users, 1), start, dtype=torch.long, device=device)
        parent = None
        nodes = torch.zeros((n_users, group_size), dtype=torch.long, device=device)
        picked = []
        for lo, table in zip(trie.token_lo, trie.next_node):
            logits = decoder(tokens, parent).float().expand(-1, group_size, -1)
            if constrained:
                children = table[nodes]
                allowed = logits[..., lo:lo + table.shape[1]].masked_fill(children < 0,
                                                                          float("-inf"))
                column = _draw(allowed, temperature, generator)
                nodes = children.gather(2, column[..., None])[..., 0].long()
                tokens = column + lo
            else:
                tokens = _draw(logits, temperature, generator)
            picked.append(tokens)
            # the first call had one row per user, which every sample continues
            parent = (torch.arange(group_size, device=device) if parent is not None
                      else torch.zeros(group_size, dtype=torch.long, device=device)
                      ).expand(n_users, -1)
        sequences = torch.stack(picked, dim=2)
        items = trie.item_of_leaf[nodes] if constrained else trie.items_of(sequences)
    return Rollouts(items.clone(), sequences.clone())


def _draw(logits: torch.Tensor, temperature: float,
          generator: torch.Generator | None) -> torch.Tensor:
    """One index per row of ``logits`` ``(..., n)`` from ``softmax(logits / temperature)``.

    The Gumbel-max trick, ``argmax(logits + temperature * Gumbel noise)``: one vectorised
    argmax for every row, and exactly greedy at temperature 0.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)
    # an exponential draw of exactly 0 would add +inf, and -inf + inf (a masked token) is NaN
    exponential = torch.empty_like(logits).exponential_(generator=generator)
    noise = exponential.clamp_min_(torch.finfo(logits.dtype).tiny).log_().neg_()
    return (logits + temperature * noise).argmax(dim=-1)
