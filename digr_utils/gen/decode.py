"""Constrained beam search: the generative recommender writes only semantic IDs of real items.

A prefix trie over the catalog's SID tokens lives on the device as one lookup table per step, so
each decoding step masks, scores and advances every user's beams with a few tensor operations
and no Python callback. The encoder runs once per batch; a beam's score is the sum of its
tokens' log-probabilities under the model. T5 (the course's model) gets its own decoder step,
the same math as transformers' with each user's encoder keys/values shared by all its beams
instead of copied per beam; a decoder-only LLM (:mod:`digr_utils.gen.causal`) reads the prompt
once into its key/value cache and then one token per beam; any other encoder-decoder goes
through its own forward and cache. Users per batch follow the free memory
(:func:`beam_batch_size`).
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from transformers import T5ForConditionalGeneration
from transformers.cache_utils import DynamicCache, EncoderDecoderCache

from digr_utils.config import pick_device
from digr_utils.gen.causal import CausalSidLM, left_align
from digr_utils.progress import progress_bar

_NEG_INF = float("-inf")


class CatalogTrie:
    """The catalog's SID prefix trie as device tensors, one transition table per decoding step.

    ``next_node[t]`` is an int32 ``(n_nodes_t, width_t)`` table: row = a prefix of ``t`` tokens,
    column = token minus ``token_lo[t]`` (the smallest token seen at position ``t``), value = the
    child's node id at depth ``t + 1``, or -1 where no item continues that way. Depth-``D``
    nodes are leaves; ``item_of_leaf`` maps them to rows of ``tokens`` (the catalog). Tables span
    only each position's token range, so at 20,000 items x D=4 x 256 codes they hold at most
    1x256 + 256x256 + 20,000x256 + 20,000x256 int32 entries, 41 MB (18 MB for random codes,
    where the suffix needs two tokens); full-vocabulary tables would be four times that.
    """

    def __init__(self, catalog_tokens: np.ndarray | torch.Tensor, vocab_size: int,
                 device: str | torch.device | None = None) -> None:
        tokens = _check_catalog("CatalogTrie", catalog_tokens, vocab_size)
        self.vocab_size = int(vocab_size)
        self.n_items, self.depth = tokens.shape
        self.token_lo = [int(tokens[:, t].min()) for t in range(self.depth)]
        tables, node = [], np.zeros(self.n_items, dtype=np.int64)
        for t, lo in enumerate(self.token_lo):
            width = int(tokens[:, t].max()) - lo + 1
            edge = node * width + tokens[:, t] - lo
            edges, child = np.unique(edge, return_inverse=True)
            table = np.full((int(node.max()) + 1, width), -1, dtype=np.int32)
            table.flat[edges] = np.arange(len(edges), dtype=np.int32)
            tables.append(table)
            node = child.reshape(-1)
        # rows are distinct (checked), so every item ends at its own leaf
        leaf_item = np.empty(self.n_items, dtype=np.int64)
        leaf_item[node] = np.arange(self.n_items)
        device = torch.device(device or pick_device())
        self.next_node = [torch.as_tensor(t, device=device) for t in tables]
        self.item_of_leaf = torch.as_tensor(leaf_item, device=device)
        self.tokens = torch.as_tensor(tokens, device=device)

    @property
    def device(self) -> torch.device:
        return self.item_of_leaf.device

    def to(self, device: str | torch.device) -> CatalogTrie:
        """This trie with its tables on ``device`` (itself when already there)."""
        device = torch.device(device)
        if device == self.device:
            return self
        moved = copy.copy(self)
        moved.next_node = [t.to(device) for t in self.next_node]
        moved.item_of_leaf, moved.tokens = self.item_of_leaf.to(device), self.tokens.to(device)
        return moved

    def items_of(self, tokens: torch.Tensor) -> torch.Tensor:
        """Catalog row of each SID in ``tokens`` ``(..., depth)``, -1 where no item has that SID."""
        if tokens.shape[-1] != self.depth:
            raise ValueError(f"CatalogTrie.items_of: tokens end in {tokens.shape[-1]} positions "
                             f"but SIDs have {self.depth} tokens; pass whole SIDs")
        tokens = tokens.to(self.device).long()
        node = torch.zeros(tokens.shape[:-1], dtype=torch.long, device=self.device)
        for t, (lo, table) in enumerate(zip(self.token_lo, self.next_node)):
            column = tokens[..., t] - lo
            inside = (node >= 0) & (column >= 0) & (column < table.shape[1])
            child = table[node.clamp_min(0), column.clamp(0, table.shape[1] - 1)].long()
            node = torch.where(inside, child, -1)
        return torch.where(node >= 0, self.item_of_leaf[node.clamp_min(0)], -1)

    def allowed_mask(self, step: int, node_ids: torch.Tensor) -> torch.Tensor:
        """``(n, vocab_size)`` bool: which tokens may follow each prefix node of depth ``step``."""
        if not 0 <= step < self.depth:
            raise ValueError(f"CatalogTrie.allowed_mask: step={step} but SIDs have {self.depth} "
                             f"tokens; choose 0 <= step < {self.depth}")
        children = self.next_node[step][node_ids.to(self.device)]
        mask = torch.zeros((len(node_ids), self.vocab_size), dtype=torch.bool, device=self.device)
        lo = self.token_lo[step]
        mask[:, lo:lo + children.shape[1]] = children >= 0
        return mask


#: Memory one beam-search batch may fill where the device reports no free figure (the CPU).
CPU_BEAM_BYTES = 2 * 2**30
#: The most users per batch: on a CPU 32 to 256 are about as fast; a GPU wants thousands.
MAX_BEAM_USERS = {"cpu": 256, "cuda": 4096}


@dataclass
class BeamSettings:
    """How :func:`recommend` searches: ``beams`` kept per step, ``top_k`` returned per user.

    A batch holds ``batch_size x beams`` decoder rows. On T5 they share their user's
    cross-attention keys and values: about 80 MB in float32 at 256 users, 20 beams, 80 input
    tokens, d_model 128 and 2 decoder layers (other models copy them per beam: 840 MB).
    ``batch_size=None`` sizes batches to the memory free (:func:`beam_batch_size`).
    """

    beams: int = 20
    top_k: int = 10
    batch_size: int | None = None

    def __post_init__(self) -> None:
        _check_beams("BeamSettings", self.beams, self.top_k)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"BeamSettings: batch_size={self.batch_size}; use at least 1 "
                             "(or None to size batches to the free memory)")


def beam_batch_size(model, beams: int, prompt_length: int, depth: int,
                    device: str | torch.device, free_bytes: int | None = None) -> int:
    """Users per beam-search batch whose working memory fits in half of ``free_bytes``
    (default: CUDA's free memory, :data:`CPU_BEAM_BYTES` elsewhere), between 1 and
    :data:`MAX_BEAM_USERS` of the device type."""
    device = torch.device(device)
    if free_bytes is None:
        free_bytes = (torch.cuda.mem_get_info(device)[0] if device.type == "cuda"
                      else CPU_BEAM_BYTES)
    per_user = _beam_bytes_per_user(model, beams, prompt_length, depth,
                                    element=2 if device.type == "cuda" else 4)
    cap = MAX_BEAM_USERS.get(device.type, MAX_BEAM_USERS["cpu"])
    return int(max(1, min(cap, free_bytes // 2 // per_user)))


def _beam_bytes_per_user(model, beams: int, prompt: int, depth: int, element: int) -> int:
    """Peak bytes one user adds to a beam search: keys/values, one layer's activations over
    the prompt, and the float32 scores over the vocabulary (logits, log-softmax, candidates)."""
    scores = 4 * 4 * beams * model.config.vocab_size
    if isinstance(model, CausalSidLM):
        c = model.decoder.config
        heads = c.num_attention_heads
        kv = 2 * c.num_hidden_layers * getattr(c, "num_key_value_heads", heads) * (
            getattr(c, "head_dim", None) or c.hidden_size // heads)
        rows = beams * (prompt + depth)  # every beam holds its own copy of the prompt
        activations = prompt * (c.intermediate_size + 4 * c.hidden_size + heads * prompt)
    else:
        c = model.config
        width = getattr(c, "d_model", None) or c.hidden_size
        layers = getattr(c, "num_decoder_layers", None) or c.decoder_layers
        kv = 2 * layers * width
        shared = isinstance(model, T5ForConditionalGeneration)
        rows = prompt * (1 if shared else beams) + 1 + (depth - 1) * beams
        activations = prompt * (getattr(c, "d_ff", 4 * width) + 4 * width)
    return element * (kv * rows + activations) + scores


def constrained_beam_search(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                            trie: CatalogTrie, beams: int, top_k: int
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``top_k`` catalog items per user and their log-probabilities, best first.

    Returns ``(items, scores)``, both ``(B, top_k)`` on the inputs' device; where fewer than
    ``top_k`` items are reachable the rest are item -1 with score -inf. Runs on the inputs'
    device (the trie follows), so put ``model`` there first; :func:`recommend` batches users.
    """
    _check_beams("constrained_beam_search", beams, top_k)
    input_ids, attention_mask = _check_inputs("constrained_beam_search", input_ids, attention_mask)
    start = _check_model("constrained_beam_search", model, trie)
    device, n_users = input_ids.device, len(input_ids)
    trie = trie.to(device)
    model.eval()
    with torch.inference_mode():
        hidden = model.get_encoder()(input_ids=input_ids,
                                     attention_mask=attention_mask).last_hidden_state
        decoder = step_decoder(model, hidden, attention_mask, trie.depth, beams)
        # one live beam per user at step 0, so the beams that come out of it are distinct
        tokens = torch.full((n_users, 1), start, dtype=torch.long, device=device)
        parent = None
        scores = torch.full((n_users, beams), _NEG_INF, device=device)
        scores[:, 0] = 0.0
        nodes = torch.zeros((n_users, beams), dtype=torch.long, device=device)
        for lo, table in zip(trie.token_lo, trie.next_node):
            log_probs = torch.log_softmax(decoder(tokens, parent).float(), dim=-1)
            scores, parent, column, nodes = _best_continuations(
                scores, nodes, log_probs[..., lo:lo + table.shape[1]], table)
            tokens = column + lo
        items = trie.item_of_leaf[nodes[:, :top_k]]
        scores = scores[:, :top_k]
        return items.masked_fill(scores == _NEG_INF, -1), scores


def step_decoder(model, hidden: torch.Tensor, attention_mask: torch.Tensor, depth: int,
                 rows: int):
    """A decoder that extends up to ``rows`` sequences per user by one token a call.

    Call it with ``(tokens, parent)``: ``tokens`` ``(B, rows)`` the newest tokens (the start
    token alone, ``(B, 1)``, at the first call), ``parent`` which previous row each continues
    (``None`` first); it returns ``(B, rows, vocab)`` logits. T5 gets the fast shared-cache step,
    any other encoder-decoder its own forward and cache. ``depth`` bounds the calls.
    """
    if isinstance(model, T5ForConditionalGeneration):
        return _T5Decoder(model, hidden, attention_mask, depth, rows)
    if isinstance(model, CausalSidLM):
        return _CausalDecoder(model, hidden, attention_mask)
    return _CachedDecoder(model, hidden, attention_mask)


def teacher_forced_logits(model, hidden: torch.Tensor, attention_mask: torch.Tensor,
                          inputs: torch.Tensor) -> torch.Tensor:
    """``(B, G, L, vocab)`` logits of G decoder inputs ``(B, G, L)`` per user over encoder states
    ``hidden``, differentiable. T5 shares each user's cross-attention over its G sequences
    (:meth:`_T5Decoder.teacher_forced`, no dropout); other models run their own forward on G
    copies of the encoder states, in their current train/eval mode."""
    n_users, group, length = inputs.shape
    if isinstance(model, T5ForConditionalGeneration):
        return _T5Decoder(model, hidden, attention_mask, length, 1).teacher_forced(inputs)
    if isinstance(model, CausalSidLM):  # ``hidden`` is the prompt: re-read once per sequence
        return model.answer_logits(hidden.repeat_interleave(group, dim=0),
                                   attention_mask.repeat_interleave(group, dim=0),
                                   inputs.flatten(0, 1)).unflatten(0, (n_users, group))
    logits = model(encoder_outputs=(hidden.repeat_interleave(group, dim=0),),
                   attention_mask=attention_mask.repeat_interleave(group, dim=0),
                   decoder_input_ids=inputs.flatten(0, 1), use_cache=False).logits
    return logits.unflatten(0, (n_users, group))


def recommend(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: CatalogTrie,
              settings: BeamSettings | None = None, device: str | torch.device | None = None,
              progress: bool = False) -> np.ndarray:
    """Top ``settings.top_k`` catalog items per user, an ``(n_users, top_k)`` int64 array.

    Users go in batches of ``settings.batch_size`` (None: sized to the free memory; inputs
    may stay on the CPU), shortest histories first, each batch cut to its longest (rows come
    back in the callers' order); ``device`` is
    where to run, the model moved there if needed (default: where the model is). bf16 autocast
    on CUDA only. -1 pads users with fewer reachable items than ``top_k``. Inputs go to the
    device and results come back in one transfer each, and the batches' widths are read
    before the first, so batches queue up without a host sync.
    """
    settings = settings or BeamSettings()
    input_ids, attention_mask = _check_inputs("recommend", input_ids, attention_mask)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    trie = trie.to(device)
    input_ids, attention_mask = input_ids.to(device), attention_mask.to(device)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else contextlib.nullcontext())
    size = settings.batch_size or beam_batch_size(model, settings.beams, input_ids.shape[1],
                                                  trie.depth, device)
    # users in order of history length, each batch cut to its longest: the same beams (padding
    # is masked; identical top-10s on the tutorial shop's 1,994 test users) in a third less time
    lengths = attention_mask.sum(dim=1)
    order = torch.argsort(lengths, stable=True)
    width = _batch_widths(lengths[order], attention_mask, size)
    out = torch.full((len(input_ids), settings.top_k), -1, dtype=torch.long, device=device)
    for lo, w in progress_bar(zip(range(0, len(input_ids), size), width), total=len(width),
                              enabled=progress, desc="beam search"):
        rows = order[lo:lo + size]
        with autocast:
            items, _ = constrained_beam_search(model, input_ids[rows, :w],
                                               attention_mask[rows, :w],
                                               trie, settings.beams, settings.top_k)
        out[rows] = items
    return out.cpu().numpy()


def _batch_widths(sorted_lengths: torch.Tensor, attention_mask: torch.Tensor,
                  size: int) -> list[int]:
    """Columns each batch of ``size`` length-sorted users needs: its longest history where
    every mask pads on the right, all columns otherwise; read before the first batch, not per
    batch."""
    n, full = attention_mask.shape
    columns = torch.arange(full, device=attention_mask.device)
    right_padded = attention_mask.bool() == (columns < attention_mask.sum(dim=1, keepdim=True))
    if not bool(right_padded.all()):
        return [full] * math.ceil(n / size)
    last = torch.arange(size, n + size, size, device=sorted_lengths.device).clamp_max(n) - 1
    return [max(int(w), 1) for w in sorted_lengths[last].tolist()]


def sequence_log_prob(model, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      catalog_tokens: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``(B, n_items)`` log-probability of every catalog item's SID by teacher forcing.

    The exhaustive ranking beam search approximates (same scores); it decodes B x n_items
    sequences at once, so keep it to small catalogs.
    """
    input_ids, attention_mask = _check_inputs("sequence_log_prob", input_ids, attention_mask)
    tokens = torch.as_tensor(_check_catalog("sequence_log_prob", catalog_tokens,
                                            model.config.vocab_size),
                             device=input_ids.device)
    start = _check_model("sequence_log_prob", model)
    n_users, (n_items, depth) = len(input_ids), tokens.shape
    model.eval()
    with torch.inference_mode():
        hidden = model.get_encoder()(input_ids=input_ids,
                                     attention_mask=attention_mask).last_hidden_state
        starts = torch.full((n_items, 1), start, dtype=torch.long, device=tokens.device)
        decoder_input = torch.cat([starts, tokens[:, :-1]], dim=1).repeat(n_users, 1)
        logits = model(encoder_outputs=(hidden.repeat_interleave(n_items, dim=0),),
                       attention_mask=attention_mask.repeat_interleave(n_items, dim=0),
                       decoder_input_ids=decoder_input, use_cache=False).logits
        picked = torch.log_softmax(logits.float(), dim=-1).gather(
            2, tokens.repeat(n_users, 1)[..., None])
        return picked.reshape(n_users, n_items, depth).sum(dim=2)


def _best_continuations(scores, nodes, log_probs, table):
    """The best ``beams`` (beam, token) continuations per user that stay inside the trie.

    ``scores``/``nodes`` ``(B, beams)``, ``log_probs`` ``(B, rows, width)`` with one row per
    beam, or one row for all at the first step. Returns the new scores, the picks' rows of
    ``log_probs`` (their parents), token columns and child nodes; picks with score -inf (fewer
    valid continuations than beams) point at row 0 and node 0, harmlessly.
    """
    children = table[nodes]
    grown = torch.where(children >= 0, scores[..., None] + log_probs, _NEG_INF)
    scores, flat = grown.reshape(len(scores), -1).topk(scores.shape[1], dim=1)
    nodes = children.reshape(len(scores), -1).gather(1, flat).long().clamp_min(0)
    width = table.shape[1]
    return scores, (flat // width).clamp_max(log_probs.shape[1] - 1), flat % width, nodes


class _T5Decoder:
    """T5's decoder one token at a time, each user's beams as query rows of one attention.

    Cross-attention keys/values are projected once per user and layer and every beam reads
    them, so nothing is copied per beam (the generic path copies them to every beam row and
    reads all copies each step). Self-attention is tree attention: each user's decoded
    positions (at most 1 + (depth - 1) x beams) stay in the slots where they were written, and
    a mask lets each beam see only its own prefix, so nothing moves when beams are reordered.
    The math is T5ForConditionalGeneration's: unscaled dot products, the first layer's relative
    position bias in every self-attention, RMS norms, tied-embedding output scaling.
    """

    def __init__(self, model: T5ForConditionalGeneration, hidden: torch.Tensor,
                 attention_mask: torch.Tensor, depth: int, beams: int) -> None:
        config = model.config
        self.decoder, self.lm_head = model.decoder, model.lm_head
        self.heads = (config.num_heads, config.d_kv)
        # transformers 4 scales by tie_word_embeddings; 5 names it scale_decoder_outputs
        scaled = getattr(config, "scale_decoder_outputs", config.tie_word_embeddings)
        self.out_scale = config.d_model ** -0.5 if scaled else 1.0
        # per layer (B, heads, T, d_kv) keys and values
        self.cross = [tuple(self._split(proj(hidden)).contiguous() for proj in (a.k, a.v))
                      for a in (block.layer[1].EncDecAttention for block in self.decoder.block)]
        like = self.cross[0][0]  # in the projections' dtype (bf16 under CUDA autocast)
        # padding gets the dtype's minimum, as in transformers
        self.cross_mask = torch.where(attention_mask[:, None, None] == 0,
                                      torch.finfo(like.dtype).min, 0.0).to(like.dtype)
        slots = 1 + (depth - 1) * beams
        self.own = [tuple(like.new_empty((len(hidden), config.num_heads, slots, config.d_kv))
                          for _ in range(2)) for _ in self.decoder.block]
        # (heads, query position, key position); every layer uses the first layer's
        self.bias = self.decoder.block[0].layer[0].SelfAttention.compute_bias(
            depth, depth, device=hidden.device)[0].to(like.dtype)
        self.filled = 0
        self.path = torch.empty((len(hidden), 1, 0), dtype=torch.long, device=hidden.device)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, rows, heads x d_kv)`` -> ``(B, heads, rows, d_kv)``."""
        return x.unflatten(-1, self.heads).transpose(1, 2)

    def __call__(self, tokens: torch.Tensor, parent: torch.Tensor | None) -> torch.Tensor:
        """``(B, rows, vocab)`` logits after ``tokens`` ``(B, rows)``; row ``j`` continues the
        previous step's row ``parent[:, j]`` (``None`` at the first step)."""
        n_users, rows = tokens.shape
        start, end, step = self.filled, self.filled + rows, self.path.shape[2]
        path = self.path if parent is None else self.path.gather(
            1, parent[..., None].expand(-1, -1, step))
        # the slots of each row's prefix, itself last: (B, rows, step + 1)
        mine = torch.arange(start, end, device=tokens.device).expand(n_users, rows)
        self.path = path = torch.cat([path, mine[..., None]], dim=2)
        # each prefix position's relative position bias as seen from the new one, in the slot
        # it sits in; -inf on other beams' slots
        heads = len(self.bias)
        mask = torch.full((n_users, heads, rows, end), _NEG_INF, dtype=self.bias.dtype,
                          device=tokens.device)
        mask.scatter_(3, path[:, None].expand(-1, heads, -1, -1),
                      self.bias[None, :, step:step + 1, :step + 1].expand(n_users, -1, rows, -1))
        x = self.decoder.embed_tokens(tokens)
        for (own, cross, feed_forward), (keys, values), (cross_keys, cross_values) in zip(
                (block.layer for block in self.decoder.block), self.own, self.cross):
            a = own.SelfAttention
            h = own.layer_norm(x)
            keys[:, :, start:end] = self._split(a.k(h))
            values[:, :, start:end] = self._split(a.v(h))
            x = x + a.o(self._attend(a.q(h), keys[:, :, :end], values[:, :, :end], mask))
            a = cross.EncDecAttention
            x = x + a.o(self._attend(a.q(cross.layer_norm(x)), cross_keys, cross_values,
                                     self.cross_mask))
            x = feed_forward(x)
        self.filled = end
        return self.lm_head(self.decoder.final_layer_norm(x) * self.out_scale)

    def teacher_forced(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, G, L, vocab)`` logits after each of a user's G decoder inputs ``(B, G, L)``
        (L <= depth), all positions in one differentiable pass, without dropout.

        Self-attention is causal within each sequence; cross-attention runs per user, its
        G x L queries reading the user's keys/values once, where a plain forward would repeat
        the encoder states G times and project each copy.
        """
        n_users, group, length = inputs.shape
        causal = torch.full((length, length), _NEG_INF, device=inputs.device).triu(1)
        own_mask = self.bias[:, :length, :length] + causal.to(self.bias.dtype)
        x = self.decoder.embed_tokens(inputs.flatten(0, 1))
        for (own, cross, feed_forward), (cross_keys, cross_values) in zip(
                (block.layer for block in self.decoder.block), self.cross):
            a = own.SelfAttention
            h = own.layer_norm(x)
            x = x + a.o(self._attend(a.q(h), self._split(a.k(h)), self._split(a.v(h)), own_mask))
            a = cross.EncDecAttention
            q = a.q(cross.layer_norm(x)).reshape(n_users, group * length, -1)
            x = x + a.o(self._attend(q, cross_keys, cross_values, self.cross_mask)
                        ).reshape(x.shape)
            x = feed_forward(x)
        logits = self.lm_head(self.decoder.final_layer_norm(x) * self.out_scale)
        return logits.reshape(n_users, group, length, -1)

    def _attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        """T5's unscaled attention of ``q`` ``(B, rows, heads x d_kv)``, in the same shape."""
        out = F.scaled_dot_product_attention(self._split(q), keys, values, attn_mask=mask,
                                             scale=1.0)
        return out.transpose(1, 2).flatten(2)


class _BeamCache:
    """A model through its own forward and key/value cache, one row per beam: the first
    multi-row call copies each user's cache to its beams, later calls reorder the rows."""

    cache: DynamicCache | EncoderDecoderCache
    rows = 1

    def __call__(self, tokens: torch.Tensor, parent: torch.Tensor | None) -> torch.Tensor:
        """Same contract as :meth:`_T5Decoder.__call__`."""
        n_users, rows = tokens.shape
        if parent is not None and self.rows == 1 and rows > 1:
            self.cache.batch_repeat_interleave(rows)
            self._repeat(n_users, rows)
        elif parent is not None and self.rows > 1:
            self._moving_cache().reorder_cache(
                (parent + torch.arange(n_users, device=parent.device)[:, None] * self.rows)
                .reshape(-1))
        self.rows = rows
        return self._logits(tokens.reshape(-1, 1)).unflatten(0, (n_users, rows))

    def _repeat(self, n_users: int, rows: int) -> None:
        """Copy per-user state other than the cache to each of ``rows`` beams."""

    def _moving_cache(self):
        """The part of the cache that follows the beams when they are reordered."""
        return self.cache

    def _logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(N, vocab)`` logits after one new token per row, ``tokens`` ``(N, 1)``."""
        raise NotImplementedError


class _CachedDecoder(_BeamCache):
    """Any encoder-decoder through its own forward and cache."""

    def __init__(self, model, hidden: torch.Tensor, attention_mask: torch.Tensor) -> None:
        self.model, self.hidden, self.attention_mask = model, hidden, attention_mask
        self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        # transformers 5 renamed `past_key_values` to `cache` (the old name warns, then goes away)
        self.cache_kwarg = ("cache" if "cache" in inspect.signature(model.forward).parameters
                            else "past_key_values")

    def _repeat(self, n_users: int, rows: int) -> None:
        self.attention_mask = self.attention_mask.repeat_interleave(rows, dim=0)
        # cross-attention now reads its keys/values from the cache; the decoder takes the
        # encoder states only for their shape, so a broadcast view (no copy)
        self.hidden = self.hidden[:1].expand(n_users * rows, -1, -1)

    def _moving_cache(self):
        # all beams of a user share cross-attention keys: only self-attention moves
        return self.cache.self_attention_cache

    def _logits(self, tokens: torch.Tensor) -> torch.Tensor:
        out = self.model(encoder_outputs=(self.hidden,), attention_mask=self.attention_mask,
                         decoder_input_ids=tokens, use_cache=True,
                         **{self.cache_kwarg: self.cache})
        return out.logits[:, -1]


class _CausalDecoder(_BeamCache):
    """A :class:`~digr_utils.gen.causal.CausalSidLM`: the first call reads the prompt and the
    start token in one pass (``hidden`` is the prompt), later calls one token per beam.

    Each beam keeps its own copy of the prompt's keys/values (B x beams x prompt rows), which
    is what bounds the user batch; :func:`beam_batch_size` counts it.
    """

    def __init__(self, model: CausalSidLM, prompt: torch.Tensor,
                 attention_mask: torch.Tensor) -> None:
        self.model, self.cache = model, DynamicCache()
        self.pending, self.mask = left_align(prompt, attention_mask)

    def _repeat(self, n_users: int, rows: int) -> None:
        self.mask = self.mask.repeat_interleave(rows, dim=0)

    def _logits(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.pending is not None:
            tokens, self.pending = torch.cat([self.pending, tokens], dim=1), None
        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.mask), 1))], dim=1)
        return self.model.logits(tokens, self.mask, cache=self.cache, last=1)[:, -1]


def _check_beams(where: str, beams: int, top_k: int) -> None:
    if beams < 1 or top_k < 1:
        raise ValueError(f"{where}: beams={beams}, top_k={top_k}; both must be at least 1")
    if top_k > beams:
        raise ValueError(f"{where}: top_k={top_k} > beams={beams}; beam search can return at "
                         f"most one item per beam: raise beams to at least {top_k} or lower top_k")


def _check_inputs(where: str, input_ids, attention_mask) -> tuple[torch.Tensor, torch.Tensor]:
    input_ids, attention_mask = torch.as_tensor(input_ids), torch.as_tensor(attention_mask)
    if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape:
        raise ValueError(f"{where}: input_ids has shape {tuple(input_ids.shape)} and "
                         f"attention_mask {tuple(attention_mask.shape)}; pass two (n_users, "
                         "length) tensors of the same shape (1 = token, 0 = padding)")
    return input_ids.long(), attention_mask.to(input_ids.device)


def _check_catalog(where: str, catalog_tokens, vocab_size: int) -> np.ndarray:
    tokens = np.asarray(catalog_tokens.cpu() if torch.is_tensor(catalog_tokens) else catalog_tokens)
    if tokens.ndim != 2 or tokens.size == 0 or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"{where}: catalog_tokens has shape {tokens.shape} and dtype "
                         f"{tokens.dtype}; pass integer token ids, one row of D tokens per item")
    tokens = tokens.astype(np.int64)
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        raise ValueError(f"{where}: catalog_tokens span {tokens.min()}..{tokens.max()} but "
                         f"vocab_size={vocab_size}; pass the model's vocab_size "
                         "(model.config.vocab_size) and the tokens of that vocabulary")
    _, first, counts = np.unique(tokens, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        row = tokens[first[np.argmax(counts > 1)]]
        same = np.flatnonzero((tokens == row).all(axis=1))
        raise ValueError(f"{where}: catalog_tokens rows {same.tolist()} are the same SID "
                         f"{row.tolist()}; give colliding items distinct suffix tokens")
    return tokens


def _check_model(where: str, model, trie: CatalogTrie | None = None) -> int:
    start = model.config.decoder_start_token_id
    if start is None:
        raise ValueError(f"{where}: model.config.decoder_start_token_id is None; "
                         "set it (T5 uses the pad token, 0)")
    if trie is not None and trie.vocab_size > model.config.vocab_size:
        raise ValueError(f"{where}: the trie was built for vocab_size="
                         f"{trie.vocab_size} but the model has {model.config.vocab_size}; build "
                         "it with CatalogTrie(tokens, model.config.vocab_size)")
    return int(start)
