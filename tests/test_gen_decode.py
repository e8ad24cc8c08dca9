"""Constrained beam search on a tiny random T5: trie tables by hand, exact scores, padding,
and the T5 decoder step against transformers' own forward."""
import itertools

import numpy as np
import pytest
import torch
from transformers import (
    BartConfig,
    BartForConditionalGeneration,
    T5Config,
    T5ForConditionalGeneration,
)

from digr_utils.gen.decode import (
    BeamSettings,
    CatalogTrie,
    _CachedDecoder,
    _T5Decoder,
    constrained_beam_search,
    recommend,
    sequence_log_prob,
    teacher_forced_logits,
)
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.vocab import SidVocab

VOCAB = 40  # the vocabulary of the tiny T5 in conftest.py (`model`, `catalog`, `users`)
# Three items of D=3 tokens, listed out of lexicographic order so leaf ids differ from rows.
HAND = np.array([[5, 6, 10], [4, 6, 9], [4, 7, 9]])


def test_trie_tables_worked_out_by_hand():
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    assert (trie.depth, trie.n_items, trie.token_lo) == (3, 3, [4, 6, 9])
    # root -> [4] is node 0, [5] node 1 (children numbered in token order)
    assert trie.next_node[0].tolist() == [[0, 1]]
    # [4] -> 6: [4,6] node 0, 7: [4,7] node 1; [5] -> 6: [5,6] node 2, 7: none
    assert trie.next_node[1].tolist() == [[0, 1], [2, -1]]
    # leaves in lexicographic order: [4,6,9] 0, [4,7,9] 1, [5,6,10] 2
    assert trie.next_node[2].tolist() == [[0, -1], [1, -1], [-1, 2]]
    # ... which are catalog rows 1, 2 and 0
    assert trie.item_of_leaf.tolist() == [1, 2, 0]


def test_allowed_mask_by_hand():
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    mask = trie.allowed_mask(1, torch.tensor([0, 1]))  # after [4] and after [5]
    assert mask.shape == (2, VOCAB)
    assert torch.nonzero(mask[0]).ravel().tolist() == [6, 7]
    assert torch.nonzero(mask[1]).ravel().tolist() == [6]
    assert torch.nonzero(trie.allowed_mask(0, torch.tensor([0]))[0]).ravel().tolist() == [4, 5]
    assert torch.nonzero(trie.allowed_mask(2, torch.tensor([2]))[0]).ravel().tolist() == [10]


def test_items_of_maps_sids_to_rows_and_the_rest_to_minus_one():
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    # two catalog SIDs, a branch no item takes ([5, 7]), a token past position 2's range
    sids = torch.tensor([[[4, 6, 9], [5, 6, 10]], [[5, 7, 10], [4, 6, 39]]])
    assert trie.items_of(sids).tolist() == [[1, 0], [-1, -1]]
    with pytest.raises(ValueError, match=r"items_of: tokens end in 2 positions .* 3 tokens"):
        trie.items_of(sids[..., :2])


def test_sequence_log_prob_sums_to_one_over_every_sequence(model, users):
    # every 2-token sequence of the vocabulary: their probabilities add up to 1 per user
    everything = np.array(list(itertools.product(range(VOCAB), repeat=2)))
    scores = sequence_log_prob(model, *users, everything)
    assert scores.shape == (4, VOCAB * VOCAB)
    torch.testing.assert_close(scores.logsumexp(dim=1), torch.zeros(4), atol=1e-5, rtol=0)


def test_exhaustive_beams_equal_full_ranking(model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    items, scores = constrained_beam_search(model, *users, trie, beams=len(catalog), top_k=10)
    exact = sequence_log_prob(model, *users, catalog).topk(10, dim=1)
    assert torch.equal(items, exact.indices)
    torch.testing.assert_close(scores, exact.values, atol=1e-5, rtol=0)


def test_narrow_beams_return_distinct_real_items_with_exact_scores(model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    items, scores = constrained_beam_search(model, *users, trie, beams=5, top_k=5)
    assert items.shape == scores.shape == (4, 5)
    assert ((items >= 0) & (items < len(catalog))).all()
    assert all(len(set(row)) == 5 for row in items.tolist())
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    exact = sequence_log_prob(model, *users, catalog)
    torch.testing.assert_close(scores, exact.gather(1, items), atol=1e-5, rtol=0)


def _greedy(model, ids, mask, catalog):
    """Reference greedy decoding: re-run the prefix, take the best token any item continues with."""
    picks = []
    for u in range(len(ids)):
        prefix = []
        for step in range(catalog.shape[1]):
            fits = (catalog[:, :step] == prefix).all(axis=1)
            allowed = sorted(set(catalog[fits, step].tolist()))
            logits = model(input_ids=ids[u:u + 1], attention_mask=mask[u:u + 1],
                           decoder_input_ids=torch.tensor([[0, *prefix]])).logits[0, -1]
            prefix.append(max(allowed, key=lambda t: logits[t].item()))
        picks.append(int(np.flatnonzero((catalog == prefix).all(axis=1))[0]))
    return picks


def test_one_beam_is_greedy_and_wider_beams_fix_it(model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    with torch.inference_mode():
        greedy = _greedy(model, *users, catalog)
    one, _ = constrained_beam_search(model, *users, trie, beams=1, top_k=1)
    assert one[:, 0].tolist() == greedy
    best = sequence_log_prob(model, *users, catalog).argmax(dim=1)
    # this seeded model sends greedy off the best item for some user (else the test shows nothing)
    assert (torch.tensor(greedy) != best).any()
    wide, _ = constrained_beam_search(model, *users, trie, beams=len(catalog), top_k=1)
    assert torch.equal(wide[:, 0], best)


def test_fewer_items_than_beams_pads_with_minus_one(model, users):
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    items, scores = constrained_beam_search(model, *users, trie, beams=5, top_k=5)
    assert all(sorted(row[:3]) == [0, 1, 2] and row[3:] == [-1, -1] for row in items.tolist())
    assert torch.isfinite(scores[:, :3]).all() and (scores[:, 3:] == float("-inf")).all()


def test_recommend_batches_users(model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    top = recommend(model, *users, trie, BeamSettings(beams=6, top_k=3, batch_size=3))
    expected, _ = constrained_beam_search(model, *users, trie, beams=6, top_k=3)
    assert top.dtype == np.int64 and top.shape == (4, 3)
    np.testing.assert_array_equal(top, expected.numpy())


def test_recommend_sorts_users_by_length_and_keeps_their_order(model, catalog):
    """Batches of length-sorted users cut to their longest history rank as one padded batch
    does, in the callers' order; a left-padded mask keeps every column."""
    rng = np.random.default_rng(3)
    ids = torch.as_tensor(rng.integers(2, VOCAB, size=(7, 10)))
    lengths = torch.tensor([10, 3, 7, 1, 10, 5, 2])
    right = (torch.arange(10) < lengths[:, None]).long()
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    expected, _ = constrained_beam_search(model, ids, right, trie, beams=6, top_k=3)
    top = recommend(model, ids, right, trie, BeamSettings(beams=6, top_k=3, batch_size=2))
    np.testing.assert_array_equal(top, expected.numpy())
    left = right.flip(1)
    expected, _ = constrained_beam_search(model, ids, left, trie, beams=6, top_k=3)
    top = recommend(model, ids, left, trie, BeamSettings(beams=6, top_k=3, batch_size=2))
    np.testing.assert_array_equal(top, expected.numpy())


def test_errors_name_the_argument_and_the_fix(model, users):
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    with pytest.raises(ValueError, match=r"BeamSettings: top_k=11 > beams=10.*raise beams"):
        BeamSettings(beams=10, top_k=11)
    with pytest.raises(ValueError, match=r"constrained_beam_search: top_k=3 > beams=2"):
        constrained_beam_search(model, *users, trie, beams=2, top_k=3)
    with pytest.raises(ValueError, match=r"rows \[0, 2\] are the same SID \[4, 6, 9\].*suffix"):
        CatalogTrie(np.array([[4, 6, 9], [5, 6, 10], [4, 6, 9]]), VOCAB, "cpu")
    with pytest.raises(ValueError, match=r"span 4\.\.40 but vocab_size=40.*model.config"):
        CatalogTrie(np.array([[4, 6, 40]]), VOCAB, "cpu")
    ids, mask = users
    with pytest.raises(ValueError, match=r"recommend: input_ids has shape \(4, 9\) and "
                                         r"attention_mask \(4, 8\)"):
        recommend(model, ids, mask[:, :8], trie)
    with pytest.raises(ValueError, match=r"built for vocab_size=50 but the model has 40"):
        constrained_beam_search(model, ids, mask, CatalogTrie(HAND, 50, "cpu"), 2, 1)
    with pytest.raises(ValueError, match=r"allowed_mask: step=3 .* 0 <= step < 3"):
        trie.allowed_mask(3, torch.tensor([0]))


def _course_t5():
    """The course's T5 (relu feed-forward, tied embeddings) at the ci size."""
    codes = np.array(list(itertools.product(range(8), range(8), range(2))))
    words = " ".join(f"w{k}" for k in range(40))  # 6 specials + 18 codes + 40 words >= VOCAB
    vocab = SidVocab.build(codes, (8, 8, 2), [[words] * 2])
    return build_model(ModelConfig.for_preset("ci"), vocab)


def _gated_t5():
    """T5Config's other branches: gated-gelu, untied (unscaled) head, heads x d_kv != d_model,
    two decoder layers sharing the first one's bias, buckets that go logarithmic at distance 2."""
    torch.manual_seed(1)
    config = T5Config(vocab_size=VOCAB, d_model=32, d_kv=6, num_heads=4, d_ff=48, num_layers=1,
                      num_decoder_layers=2, feed_forward_proj="gated-gelu",
                      tie_word_embeddings=False, relative_attention_num_buckets=4,
                      relative_attention_max_distance=8, decoder_start_token_id=0, pad_token_id=0)
    return T5ForConditionalGeneration(config)


@pytest.mark.parametrize("make_model", [_course_t5, _gated_t5])
@pytest.mark.parametrize("fast", [True, False], ids=["t5-step", "generic"])
def test_decoder_steps_equal_teacher_forcing(make_model, fast, users):
    # each step's log-probs equal transformers' full forward over every row's whole prefix,
    # while rows reorder, repeat and drop their parents as beams do
    model, (ids, mask) = make_model().eval(), users
    n_users, rows, depth = len(ids), 5, 4
    gen = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        hidden = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        step = (_T5Decoder(model, hidden, mask, depth, beams=rows) if fast
                else _CachedDecoder(model, hidden, mask))
        prefixes = torch.zeros((n_users, 1, 1), dtype=torch.long)  # the start token
        tokens, parent = prefixes[..., 0], None
        for t in range(depth):
            got = torch.log_softmax(step(tokens, parent), dim=-1)
            k = prefixes.shape[1]
            full = model(encoder_outputs=(hidden.repeat_interleave(k, dim=0),),
                         attention_mask=mask.repeat_interleave(k, dim=0),
                         decoder_input_ids=prefixes.flatten(0, 1)).logits[:, -1]
            want = torch.log_softmax(full, dim=-1).unflatten(0, (n_users, k))
            torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
            # next step: beams continue random parents, some twice, some not at all
            parent = torch.randint(0, k, (n_users, rows), generator=gen)
            tokens = torch.randint(2, VOCAB, (n_users, rows), generator=gen)
            prefixes = torch.cat([prefixes.gather(1, parent[..., None].expand(-1, -1, t + 1)),
                                  tokens[..., None]], dim=2)


def _bart():
    torch.manual_seed(0)
    return BartForConditionalGeneration(BartConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=32))


@pytest.mark.parametrize("make_model", [_course_t5, _gated_t5, _bart])
def test_teacher_forced_logits_equal_the_models_forward_and_carry_gradients(make_model, users):
    # G = 3 sequences of 4 tokens per user, in one pass, against a forward on each one alone
    model, (ids, mask) = make_model().eval(), users
    inputs = torch.randint(2, VOCAB, (len(ids), 3, 4), generator=torch.Generator().manual_seed(0))
    hidden = model.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    got = teacher_forced_logits(model, hidden, mask, inputs)
    assert got.shape[:3] == (len(ids), 3, 4)
    for g in range(3):
        want = model(encoder_outputs=(hidden,), attention_mask=mask,
                     decoder_input_ids=inputs[:, g]).logits
        torch.testing.assert_close(got[:, g], want, atol=1e-5, rtol=0)
    got.sum().backward()
    assert all(p.grad is not None for p in model.get_encoder().parameters() if p.requires_grad)


def test_other_models_take_the_generic_path_and_stay_exact(catalog, users):
    torch.manual_seed(0)
    bart = BartForConditionalGeneration(BartConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=32)).eval()
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    items, scores = constrained_beam_search(bart, *users, trie, beams=len(catalog), top_k=10)
    exact = sequence_log_prob(bart, *users, catalog).topk(10, dim=1)
    assert torch.equal(items, exact.indices)
    torch.testing.assert_close(scores, exact.values, atol=1e-5, rtol=0)


def test_bf16_autocast_runs_and_stays_close(model, catalog, users):
    # recommend autocasts to bf16 on CUDA; the CPU's bf16 autocast runs the same dtype paths
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        items, scores = constrained_beam_search(model, *users, trie, beams=10, top_k=5)
    assert all(len(set(row)) == 5 for row in items.tolist())
    exact = sequence_log_prob(model, *users, catalog).gather(1, items)
    # bf16 keeps 8 bits of mantissa: a few hundredths of a nat over three tokens
    torch.testing.assert_close(scores, exact, atol=0.1, rtol=0)
