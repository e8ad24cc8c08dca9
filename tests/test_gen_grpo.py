"""GRPO on tiny data: rewards, advantages and loss by hand, rollouts against the beam search and
the model's own probabilities, and a few steps on a tiny T5 that move it the right way."""
import copy
import itertools

import numpy as np
import pytest
import torch
from transformers import BartConfig, BartForConditionalGeneration

from digr_utils.gen.decode import CatalogTrie, constrained_beam_search, sequence_log_prob
from digr_utils.gen.grpo import (
    GRPOBatch,
    GRPOConfig,
    RewardConfig,
    group_advantages,
    grpo_loss,
    grpo_step,
    rewards,
    sequence_logprobs,
)
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.rollout import rollout, sample_sids
from digr_utils.gen.vocab import NEXT, SidVocab

VOCAB = 40  # the vocabulary of the tiny T5 in conftest.py (`model`, `catalog`, `users`)
HAND = np.array([[5, 6, 10], [4, 6, 9], [4, 7, 9]])  # three items, D = 3


pytestmark = pytest.mark.usefixtures("one_thread")


# --- rewards ---------------------------------------------------------------------------------

# target: item 5, SID (10, 20 | 30), two code levels then the suffix
TARGET_ITEMS, TARGET_TOKENS = torch.tensor([5]), torch.tensor([[10, 20, 30]])
CANDIDATES = torch.tensor([[[10, 20, 30],    # the hit
                            [11, 21, 30],    # a real item sharing no level (same suffix code)
                            [12, 22, 31],    # no item
                            [10, 21, 30],    # a real item sharing one level
                            [10, 20, 31],    # the hit's suffix sibling: both levels shared
                            [10, 25, 30]]])  # no item, one level shared
CANDIDATE_ITEMS = torch.tensor([[5, 3, -1, 2, 4, -1]])
QUALITY = torch.tensor([0.0, 0.0, 0.4, 0.8, 0.2, 0.6])  # per item; the target's is 0.6


def _reward(**config):
    return rewards(RewardConfig(**config), CANDIDATES, CANDIDATE_ITEMS, TARGET_ITEMS,
                   TARGET_TOKENS, QUALITY)[0].tolist()


def test_interest_aware_reward_by_hand():
    # exact 1, valid 0.1, prefix 0.5 x shared levels / 2, bonus 0.5 x 0.6 on the hit only
    assert _reward() == pytest.approx([1 + 0.1 + 0.5 + 0.3, 0.1, 0.0, 0.1 + 0.25, 0.1 + 0.5,
                                       0.25])


def test_ungated_bonus_pays_wrong_items_for_their_quality():
    # every valid candidate earns 0.5 x its own quality: the wrong item 3 (q 0.8) gains 0.4
    assert _reward(gated=False) == pytest.approx([1.9, 0.1 + 0.4, 0.0, 0.35 + 0.2, 0.6 + 0.1,
                                                  0.25])


def test_levels_and_rule_reward():
    # one level counted: a first-level match is the whole prefix credit
    assert _reward(levels=1, quality_bonus=0.0) == pytest.approx([1.6, 0.1, 0.0, 0.6, 0.6, 0.5])
    assert _reward(kind="rule") == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_rank_reward_is_minionerecs_ndcg_penalty():
    # G = 4, d_j = 1 / log2(j + 2) = 1, 0.6309, 0.5, 0.4307 (sum 2.5616); hit at rank 2
    items = torch.tensor([[0, 1, 7, 2], [0, 1, 2, 3]])  # the second group holds no hit
    tokens = torch.zeros((2, 4, 3), dtype=torch.long)
    got = rewards(RewardConfig(kind="rank"), tokens, items, torch.tensor([7, 7]),
                  torch.zeros((2, 3), dtype=torch.long))
    expected = [[-1 / 2.5616, -0.6309 / 2.5616, 1.0, -0.4307 / 2.5616], [0.0] * 4]
    torch.testing.assert_close(got, torch.tensor(expected), atol=1e-4, rtol=0)


# --- advantages and loss ---------------------------------------------------------------------

def test_group_advantages_by_hand():
    # mean 0.25, sample std sqrt((0.5625 + 3 x 0.0625) / 3) = 0.5
    adv = group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.3, 0.3]]))
    torch.testing.assert_close(adv, torch.tensor([[1.5, -0.5, -0.5, -0.5], [0.0] * 4]),
                               atol=1e-5, rtol=0)


def test_clipped_loss_by_hand():
    # ratios 1.5, 0.5, 1.1, 0.5 with advantages 1, -1, 1, 1 and eps 0.2: the min picks
    # 1.2 (clipped), -0.8 (clipped), 1.1, 0.5 -> mean 0.5, loss -0.5; clipped terms pass no grad
    logp_old = torch.zeros(1, 4)
    logp_new = torch.log(torch.tensor([[1.5, 0.5, 1.1, 0.5]])).requires_grad_()
    adv = torch.tensor([[1.0, -1.0, 1.0, 1.0]])
    loss, stats = grpo_loss(logp_new, logp_old, logp_new.detach(), adv, clip_eps=0.2, beta=0.1)
    assert loss.item() == pytest.approx(-0.5) and stats["kl"].item() == 0.0
    assert stats["clip_fraction"].item() == 0.5
    loss.backward()
    # d(ratio x A)/d logp_new = ratio x A, over the 4 candidates
    torch.testing.assert_close(logp_new.grad, torch.tensor([[0.0, 0.0, -1.1 / 4, -0.5 / 4]]))


def test_kl_is_k3_and_zero_at_the_reference():
    logp = torch.tensor([[-1.0, -2.0]])
    # reference twice as likely as the policy on both: exp(ln 2) - ln 2 - 1 = 0.3069
    _, stats = grpo_loss(logp, logp, logp + np.log(2), torch.zeros(1, 2), 0.2, beta=1.0)
    assert stats["kl"].item() == pytest.approx(1 - np.log(2), abs=1e-6)
    loss, stats = grpo_loss(logp, logp, logp, torch.zeros(1, 2), 0.2, beta=1.0)
    assert stats["kl"].item() == 0.0 and loss.item() == 0.0


# --- scoring and rollouts --------------------------------------------------------------------

def test_sequence_logprobs_equal_teacher_forced_catalog_scores_and_carry_gradients(
        model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    rolled = rollout(model, *users, trie, group_size=5)
    exact, _ = constrained_beam_search(model, *users, trie, beams=5, top_k=5)
    assert torch.equal(rolled.items, exact)
    assert torch.equal(rolled.tokens, torch.as_tensor(catalog)[exact])
    logp = sequence_logprobs(model, *users, rolled.tokens)
    want = sequence_log_prob(model, *users, catalog).gather(1, rolled.items)
    torch.testing.assert_close(logp, want, atol=1e-5, rtol=0)
    logp.sum().backward()
    assert model.encoder.block[0].layer[0].SelfAttention.q.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_every_constrained_sample_is_a_real_item(model, catalog, users):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    gen = torch.Generator().manual_seed(0)
    rolled = rollout(model, *users, trie, 64, mode="sample", temperature=3.0, generator=gen)
    assert rolled.items.shape == (4, 64) and rolled.tokens.shape == (4, 64, 3)
    assert ((rolled.items >= 0) & (rolled.items < len(catalog))).all()
    assert torch.equal(rolled.tokens, torch.as_tensor(catalog)[rolled.items])
    # a hot temperature spreads the samples: many distinct items per user
    assert min(len(set(row)) for row in rolled.items.tolist()) >= 10


@pytest.mark.parametrize("temperature", [0.0, 1e-6])
def test_cold_sampling_is_greedy(model, catalog, users, temperature):
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    rolled = sample_sids(model, *users, trie, 3, temperature=temperature)
    greedy, _ = constrained_beam_search(model, *users, trie, beams=1, top_k=1)
    assert torch.equal(rolled.items, greedy.expand(-1, 3))


def test_other_models_sample_and_score_through_their_own_cache(catalog, users):
    torch.manual_seed(0)
    bart = BartForConditionalGeneration(BartConfig(
        vocab_size=VOCAB, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=32)).eval()
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    cold = sample_sids(bart, *users, trie, 3, temperature=0.0)
    greedy, _ = constrained_beam_search(bart, *users, trie, beams=1, top_k=1)
    assert torch.equal(cold.items, greedy.expand(-1, 3))
    hot = sample_sids(bart, *users, trie, 8, temperature=2.0,
                      generator=torch.Generator().manual_seed(0))
    want = sequence_log_prob(bart, *users, catalog).gather(1, hot.items)
    torch.testing.assert_close(sequence_logprobs(bart, *users, hot.tokens), want, atol=1e-5,
                               rtol=0)


def test_constrained_samples_follow_the_renormalised_model(model, users):
    # each step samples among the trie's continuations in proportion to the model's
    # probabilities: p(item) = prod over steps of p(token | prefix) / sum over allowed tokens.
    # Every prefix branches, so a sample continuing another sample's prefix would show
    catalog = np.array(list(itertools.product([4, 5], [6, 7], [9, 10])))
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    ids, mask = users[0][:1], users[1][:1]
    prob = {}
    for length in (1, 2, 3):
        rows = sorted({tuple(row[:length]) for row in catalog.tolist()})
        scores = dict(zip(rows, sequence_log_prob(model, ids, mask, np.array(rows))[0].exp()
                          .tolist()))
        for p, s in scores.items():
            prob[p] = s / sum(v for q, v in scores.items() if q[:-1] == p[:-1])
    expected = np.array([np.prod([prob[tuple(row[:t + 1])] for t in range(3)])
                         for row in catalog.tolist()])
    # 20,000 samples as 100 copies of the user x 200 (a decoder step's attention grows with
    # the square of the samples per user)
    n, copies = 20000, 100
    rolled = sample_sids(model, ids.expand(copies, -1), mask.expand(copies, -1), trie,
                         n // copies, generator=torch.Generator().manual_seed(0))
    share = np.bincount(rolled.items.ravel().numpy(), minlength=len(catalog)) / n
    # within 4 standard errors (this sampler: at most 1.4; with every sample continuing the
    # first one's prefix: 7)
    assert (np.abs(share - expected) <= 4 * np.sqrt(expected * (1 - expected) / n)).all()


def test_unconstrained_samples_map_to_items_or_minus_one(model, users):
    trie = CatalogTrie(HAND, VOCAB, "cpu")
    gen = torch.Generator().manual_seed(0)
    rolled = rollout(model, *users, trie, 16, mode="unconstrained", generator=gen)
    row_of = {tuple(row): i for i, row in enumerate(HAND.tolist())}
    want = [[row_of.get(tuple(s), -1) for s in user] for user in rolled.tokens.tolist()]
    assert rolled.items.tolist() == want
    assert (rolled.items == -1).any()  # a random model over 40 tokens rarely names an item


# --- GRPO steps ------------------------------------------------------------------------------

def test_grpo_steps_raise_the_best_candidate_and_lower_the_worst():
    # six items of two code levels + a suffix; user 0 wants item 0, user 1 item 5
    codes = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    vocab = SidVocab.build(codes, (2, 2, 2))
    policy = build_model(ModelConfig(d_model=32, num_layers=1, num_decoder_layers=1,
                                     num_heads=2, d_ff=64), vocab, seed=0)
    reference = copy.deepcopy(policy)
    tokens = vocab.item_tokens()
    ids = torch.tensor([[NEXT, *tokens[2]], [NEXT, *tokens[3]]])
    batch = GRPOBatch(ids, torch.ones_like(ids), torch.tensor([0, 5]), torch.full((6,), 0.5))
    trie = CatalogTrie(tokens, vocab.vocab_size, "cpu")
    # G = 6 beams cover the catalog: the target earns 1.9, items of the other first code 0.1
    config = GRPOConfig(group_size=6)
    optimizer = torch.optim.Adam(policy.parameters(), lr=3e-3)
    before = sequence_log_prob(policy.eval(), *_inputs(batch), tokens)
    first = grpo_step(policy, reference, optimizer, batch, trie, config)
    assert first["kl"] == 0.0 and first["ratio"] == pytest.approx(1.0)
    assert first["group_hit"] == 1.0 and first["valid"] == 1.0
    for _ in range(5):
        stats = grpo_step(policy, reference, optimizer, batch, trie, config)
    after = sequence_log_prob(policy.eval(), *_inputs(batch), tokens)
    gain = after - before
    assert gain[0, 0] > 0.1 and gain[1, 5] > 0.1
    assert (gain[0, 3:] < 0).all() and (gain[1, :3] < 0).all()
    assert stats["kl"] > 0


def test_inner_steps_keep_the_rollout_policy_as_the_ratios_denominator():
    # after the first of 3 updates the policy has moved: the ratio against the rollout
    # policy leaves 1 (were logp_old recomputed every update, it would stay exactly 1)
    vocab = SidVocab.build(np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0]]), (2, 2, 1))
    policy = build_model(ModelConfig(d_model=32, num_layers=1, num_decoder_layers=1,
                                     num_heads=2, d_ff=64), vocab, seed=0)
    tokens = vocab.item_tokens()
    ids = torch.tensor([[NEXT, *tokens[1]]])
    batch = GRPOBatch(ids, torch.ones_like(ids), torch.tensor([0]))
    trie = CatalogTrie(tokens, vocab.vocab_size, "cpu")
    stats = grpo_step(policy, copy.deepcopy(policy), torch.optim.SGD(policy.parameters(), lr=0.5),
                      batch, trie, GRPOConfig(group_size=4, inner_steps=3))
    assert abs(stats["ratio"] - 1) > 1e-3 and stats["kl"] > 0


def test_bf16_autocast_scores_stay_close(model, catalog, users):
    # grpo_step autocasts to bf16 on CUDA; the CPU's bf16 autocast runs the same dtype paths
    trie = CatalogTrie(catalog, VOCAB, "cpu")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rolled = rollout(model, *users, trie, 6, mode="sample",
                         generator=torch.Generator().manual_seed(0))
        logp = sequence_logprobs(model, *users, rolled.tokens)
    assert logp.dtype == torch.float32 and (rolled.items >= 0).all()
    exact = sequence_log_prob(model, *users, catalog).gather(1, rolled.items)
    torch.testing.assert_close(logp, exact, atol=0.1, rtol=0)  # bf16: ~8 bits of mantissa


def _inputs(batch: GRPOBatch):
    return batch.input_ids, batch.attention_mask


def test_errors_name_the_field_and_the_fix(model, users):
    with pytest.raises(ValueError, match=r"GRPOConfig: rollout='greedy'; choose one of beam"):
        GRPOConfig(rollout="greedy")
    with pytest.raises(ValueError, match=r"GRPOConfig: group_size=1.*at least 2"):
        GRPOConfig(group_size=1)
    with pytest.raises(ValueError, match=r"RewardConfig: kind='ndcg'; choose one of"):
        RewardConfig(kind="ndcg")
    with pytest.raises(ValueError, match=r"group_size=4 distinct beams but the catalog has 3"):
        rollout(model, *users, CatalogTrie(HAND, VOCAB, "cpu"), 4)
    with pytest.raises(ValueError, match=r"levels=4 but SIDs have 3 tokens"):
        rewards(RewardConfig(levels=4), CANDIDATES, CANDIDATE_ITEMS, TARGET_ITEMS,
                TARGET_TOKENS)
