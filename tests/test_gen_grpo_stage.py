"""The GRPO stage: training windows and list figures by hand, the loop's early stopping and exact
resume on a tiny T5, and ``digr grpo`` end to end on the ci shop (reuse, bundle, folders)."""
import copy
import json

import numpy as np
import pytest
import torch

from digr_utils.cli import main
from digr_utils.data.stage import load_data
from digr_utils.gen.decode import CatalogTrie
from digr_utils.gen.grpo import GRPOBatch, GRPOConfig, RewardConfig
from digr_utils.gen.grpo_stage import (GRPOTraining, list_figures, run_grpo, train_grpo,
                                       training_windows)
from digr_utils.gen.model import ModelConfig, build_model
from digr_utils.gen.stage import load_recommender
from digr_utils.gen.vocab import NEXT, SidVocab
from digr_utils.interests.stage import InterestSource


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """One artifacts folder for the module: the ci SFT bundle is trained once, then reused."""
    with pytest.MonkeyPatch.context() as patch:
        root = tmp_path_factory.mktemp("artifacts")
        patch.setenv("DIGR_ARTIFACTS", str(root))
        yield root


# --- pieces by hand --------------------------------------------------------------------------

def test_training_windows_are_sfts_next_item_windows_capped_and_subsampled():
    train = [np.array([4, 5, 6, 7]), np.array([8, 9])]
    # cap 2: [4]->5, [4,5]->6, [5,6]->7, [8]->9
    windows = training_windows(train, 2, None, 0)
    assert [(h.tolist(), t) for h, t in windows] == [([4], 5), ([4, 5], 6), ([5, 6], 7), ([8], 9)]
    some = training_windows(train, 2, 2, 0)
    assert len(some) == 2 and all(w in [(h.tolist(), t) for h, t in windows]
                                  for w in [(h.tolist(), t) for h, t in some])
    assert len(training_windows(train, 2, 10, 0)) == 4


class _Lists:
    """A recommender returning fixed top-10 lists."""

    def __init__(self, top):
        self.top = np.asarray(top)

    def recommend(self, histories, k):
        return self.top[:, :k]


def test_list_figures_count_quality_motives_and_popularity():
    data = load_data("ci")
    split, motives = data.split, data.shop.motive_sets()
    users = len(split.test_history)
    first = split.test_history[0][-1]  # user 0's last history item shares its own motives
    top = np.full((users, 10), -1)
    top[:, 0] = first
    quality = torch.zeros(split.n_items)
    quality[first] = 0.8
    figures = list_figures(_Lists(top), data, quality)
    assert figures["top10 mean q"] == pytest.approx(0.8)
    assert figures["top10 popularity"] == split.train_counts[first]
    shares = [bool(motives[first] & set().union(*(motives[h] for h in hist)))
              for hist in split.test_history]
    assert figures["top10 motive share"] == pytest.approx(np.mean(shares))
    assert shares[0]


# --- the loop on a tiny T5 -------------------------------------------------------------------

def _tiny():
    """Six items (two code levels + suffix), eight histories, a tiny T5 and its trie."""
    codes = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]])
    vocab = SidVocab.build(codes, (2, 2, 2))
    tokens = vocab.item_tokens()
    model = build_model(ModelConfig(d_model=32, num_layers=1, num_decoder_layers=1,
                                    num_heads=2, d_ff=64), vocab, seed=0)
    ids = torch.tensor([[NEXT, *tokens[i % 6], *tokens[(i + 1) % 6]] for i in range(8)])
    batch = GRPOBatch(ids, torch.ones_like(ids), torch.arange(8) % 6, torch.full((6,), 0.5))
    return model, batch, CatalogTrie(tokens, vocab.vocab_size, "cpu")


class _Stop(Exception):
    pass


def _scripted(scores, stop_at=None):
    """A fake ``validate``: the next score of ``scores``; raises on call ``stop_at`` (1-based)."""
    calls = []

    def validate(model):
        calls.append(1)
        if len(calls) == stop_at:
            raise _Stop
        return {"NDCG@10": scores[len(calls) - 1]}
    return validate


def _train(validate, checkpoint_dir=None, epochs=2):
    model, batch, trie = _tiny()
    # sampled rollouts draw from torch's RNG: a resume must restore it to match
    config = GRPOConfig(group_size=4, rollout="sample", reward=RewardConfig())
    train = GRPOTraining(lr=1e-2, epochs=epochs, batch_size=4, histories=None, patience=5)
    return train_grpo(model, copy.deepcopy(model), batch, trie, config, train, validate,
                      device="cpu", checkpoint_dir=checkpoint_dir, progress=False)


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path):
    # 8 histories, 4 per step: 2 steps an epoch, validated at steps 0, 2, 4, 6
    scores = [0.0, 0.1, 0.2, 0.3]
    whole = _train(_scripted(scores), epochs=3)
    with pytest.raises(_Stop):  # dies validating step 4: last.pt holds step 2
        _train(_scripted(scores, stop_at=3), tmp_path, epochs=3)
    resumed = _train(_scripted(scores[2:]), tmp_path, epochs=3)
    assert resumed.history["step"].tolist() == [0, 2, 4, 6]
    assert resumed.history["train_reward"].tolist()[1:] == whole.history["train_reward"].tolist()[1:]
    assert resumed.best_step == whole.best_step == 6
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        assert torch.equal(a, b)


def test_the_unchanged_policy_is_kept_when_no_step_beats_it():
    start = [p.detach().clone() for p in _tiny()[0].parameters()]
    result = _train(_scripted([0.5, 0.1, 0.2]))
    assert result.best_step == 0 and result.best_score == 0.5
    assert all(torch.equal(a, b) for a, b in zip(result.model.parameters(), start))
    moved = _train(_scripted([0.0, 0.1, 0.2]))
    assert moved.best_step == 4
    assert not all(torch.equal(a, b) for a, b in zip(moved.model.parameters(), start))


# --- the stage end to end --------------------------------------------------------------------

def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_digr_grpo_end_to_end_then_reused(artifacts, capsys, monkeypatch):
    args = ["grpo", "--preset", "ci", "--interests", "none", "--reward", "rule", "--epochs", "1"]
    assert main(args) == 0
    first = _last_json(capsys)
    sft = json.loads(next(artifacts.glob("*/sft/*/metrics.json")).read_text())
    assert first["sft test all NDCG@10"] == sft["test all NDCG@10"]
    assert first["reward"] == "rule" and first["quality_bonus"] == "none (no interests)"
    assert first["histories"] == 256 and first["steps_run"] == 8  # 256 windows, 32 a step
    for key in ("valid reward before", "valid reward after", "valid KL after", "test all HR@5",
                "test all NDCG@10", "top10 popularity", "sft top10 motive share"):
        assert key in first

    def retrain(*args, **kwargs):
        raise AssertionError("a finished GRPO run was trained again")

    monkeypatch.setattr("digr_utils.gen.grpo_stage.train_grpo", retrain)
    monkeypatch.setattr("digr_utils.gen.sft.train_sft", retrain)
    assert main(args) == 0
    assert _last_json(capsys) == first


def test_the_bundle_loads_and_gated_and_ungated_runs_keep_two_folders(artifacts):
    small = {"epochs": 1, "histories": 64, "valid_users": 20}
    gated = run_grpo("ci", InterestSource("none"), progress=False, **small)
    ungated = run_grpo("ci", InterestSource("none"), reward=RewardConfig(gated=False),
                       progress=False, **small)
    assert gated.run.folder != ungated.run.folder
    assert gated.run.folder.name.startswith("none-interest-aware-")
    assert ungated.run.folder.name.startswith("none-interest-aware-ungated-")
    data = load_data("ci")
    histories = data.split.histories("test")[:20]
    loaded = load_recommender(gated.run.folder, data)
    assert np.array_equal(loaded.recommend(histories, 10), gated.recommender.recommend(histories, 10))
    # the saved test lists are the loaded model's and the SFT model's
    saved = np.load(gated.run.path("test_top10.npz"))
    assert np.array_equal(saved["grpo"][:20], loaded.recommend(histories, 10))
    assert np.array_equal(saved["sft"][:20], gated.sft.recommender.recommend(histories, 10))


def test_grpo_starts_from_the_sft_model_of_the_settings_it_is_given(monkeypatch):
    # a tuned table refines the SFT trial validation chose, not the default SFT model
    asked = []

    class Stop(Exception):
        pass

    def fake_sft(*args, **kwargs):
        asked.append({k: v for k, v in kwargs.items() if k in ("lr", "weight_decay", "epochs")})
        raise Stop

    monkeypatch.setattr("digr_utils.gen.stage.run_sft", fake_sft)
    for settings in ({"lr": 1e-3}, {}, None):
        with pytest.raises(Stop):
            run_grpo("ci", InterestSource("none"), progress=False, sft_settings=settings)
    assert asked == [{"lr": 1e-3}, {}, {}]
