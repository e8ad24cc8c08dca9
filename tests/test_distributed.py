"""Data-parallel training: two gloo processes on the CPU follow one process with the same global
batch (SFT, GRPO and SASRec), rankings gathered across ranks come back whole and in order, and a
plain process sees every helper as a no-op."""
import copy
import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from digr_utils import distributed
from digr_utils.baselines.sasrec import SASRec
from digr_utils.data.dataset import Split
from digr_utils.gen.data import TaskMix, build_examples
from digr_utils.gen.decode import CatalogTrie
from digr_utils.gen.grpo import GRPOBatch, GRPOConfig
from digr_utils.gen.grpo_stage import GRPOTraining, train_grpo
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.sft import SFTConfig, train_sft
from digr_utils.gen.vocab import NEXT, SidVocab

pytestmark = pytest.mark.usefixtures("one_thread")

# dropout 0: with it, each process would draw other masks than the single run and the two runs
# could only agree on average; without it they agree up to the order of float additions
_TINY = ModelConfig(d_model=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_ff=64, dropout=0.0)
_SFT = SFTConfig(epochs=3, batch_size=16, lr=3e-3, seed=0, warmup_ratio=0.0)
_SASREC = {"epochs": 3, "batch_size": 8, "lr": 5e-3, "patience": 5}
_N_ITEMS = 12


def _split() -> Split:
    """24 users walking the 12 items in steps of 1 or 2: next items are learnable."""
    rng = np.random.default_rng(0)
    seqs = [(rng.integers(_N_ITEMS) + np.arange(7) * (1 + u % 2)) % _N_ITEMS for u in range(24)]
    return Split([s[:-2] for s in seqs], [s[:-2] for s in seqs], np.array([s[-2] for s in seqs]),
                 [s[:-1] for s in seqs], np.array([s[-1] for s in seqs]), _N_ITEMS, 20)


def _train_both(split: Split) -> dict:
    """SFT and SASRec on ``split`` in this process (distributed or not), with what to compare."""
    codes = np.stack([np.arange(_N_ITEMS) % 4, np.arange(_N_ITEMS) // 4, np.zeros(_N_ITEMS, int)], 1)
    vocab = SidVocab.build(codes, (4, 3, 1))
    examples = build_examples(split, vocab, mix=TaskMix(interest_to_sid=False, sid_to_interest=False))
    model = build_model(_TINY, vocab, seed=0)
    sft = train_sft(model, examples, _SFT, device="cpu", progress=False)
    sft_weight = float(model.lm_head.weight.detach().sum())
    grpo = _grpo(model, vocab)
    sasrec = SASRec(_N_ITEMS, max_len=6, hidden=16, n_layers=1, dropout=0.0, seed=0)
    sasrec.fit(split, verbose=False, **_SASREC)
    gathered = distributed.gather_rows(lambda rows: np.asarray(rows) * 10, list(range(7)))
    return {"sft_loss": sft.history["train_loss"].tolist(),
            "sft_weight": sft_weight,
            "sasrec_loss": [h["loss"] for h in sasrec.history],
            "sasrec_ndcg": [h["valid_NDCG@10"] for h in sasrec.history],
            "sasrec_top": sasrec.recommend(split.test_history, 5).tolist(),
            "grpo_reward": grpo.history["train_reward"].tolist()[1:],
            "grpo_loss": grpo.history["train_loss"].tolist()[1:],
            "grpo_weight": float(grpo.model.lm_head.weight.detach().sum()),
            "gathered": gathered.tolist(), "world": distributed.world_size()}


def _grpo(sft_model, vocab: SidVocab):
    """GRPO from the SFT model on 10 histories, 6 a step (3 per rank; the last step 4):
    beam rollouts, so no rank draws random numbers the single run would not."""
    tokens = vocab.item_tokens()
    ids = torch.tensor([[NEXT, *tokens[i], *tokens[(i + 1) % _N_ITEMS]] for i in range(10)])
    batch = GRPOBatch(ids, torch.ones_like(ids), (torch.arange(10) + 2) % _N_ITEMS,
                      torch.full((_N_ITEMS,), 0.5))
    trie = CatalogTrie(tokens, vocab.vocab_size, "cpu")
    reference = copy.deepcopy(sft_model)
    train = GRPOTraining(lr=1e-2, epochs=2, batch_size=6, histories=None, patience=5)
    steps = iter(range(100))
    return train_grpo(sft_model, reference, batch, trie, GRPOConfig(group_size=4), train,
                      lambda m: {"NDCG@10": float(next(steps))}, device="cpu", progress=False)


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE="2")
    torch.set_num_threads(1)
    try:
        result = _train_both(_split())
        if distributed.is_main():
            with open(out, "w") as f:
                json.dump(result, f)
    finally:
        distributed.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_like_one_process_with_the_same_global_batch(tmp_path):
    out = tmp_path / "rank0.json"
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=2, start_method="spawn")
    two = json.loads(out.read_text())
    one = _train_both(_split())

    assert (one["world"], two["world"]) == (1, 2)  # the two processes did form one group
    assert one["sft_loss"][-1] < one["sft_loss"][0]
    assert one["sasrec_loss"][-1] < one["sasrec_loss"][0]
    assert two["sft_loss"] == pytest.approx(one["sft_loss"], rel=1e-4)
    assert two["sft_weight"] == pytest.approx(one["sft_weight"], rel=1e-4)
    assert two["grpo_reward"] == pytest.approx(one["grpo_reward"], rel=1e-4)
    assert two["grpo_loss"] == pytest.approx(one["grpo_loss"], rel=1e-3, abs=1e-5)
    assert two["grpo_weight"] == pytest.approx(one["grpo_weight"], rel=1e-4)
    assert two["grpo_weight"] != pytest.approx(two["sft_weight"], rel=1e-6)  # GRPO did move it
    assert two["sasrec_loss"] == pytest.approx(one["sasrec_loss"], rel=1e-4)
    assert two["sasrec_ndcg"] == pytest.approx(one["sasrec_ndcg"], abs=1e-6)
    assert two["sasrec_top"] == one["sasrec_top"]  # the gathered test ranking, row by row
    assert two["gathered"] == one["gathered"] == [0, 10, 20, 30, 40, 50, 60]


def test_a_plain_process_sees_one_rank_and_no_ops():
    assert not distributed.setup()
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    rows = torch.arange(5)
    assert distributed.shard(rows) is rows
    net = torch.nn.Linear(2, 2)
    assert distributed.wrap(net) is net
    assert distributed.from_main({"a": 1}) == {"a": 1}
