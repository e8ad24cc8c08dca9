"""The shared training scaffold: determinism per call, schedule, RNG, early stopping, checkpoints."""
import os

import numpy as np
import pytest
import torch
from torch import nn

from digr_utils.baselines import sasrec as sasrec_module
from digr_utils.baselines.sasrec import SASRec
from digr_utils.data.dataset import Split
from digr_utils.io import ArtifactError
from digr_utils.training import (EarlyStopping, capture_rng, deterministic, load_checkpoint,
                                 restore_rng, save_checkpoint, warmup_decay)


@pytest.fixture
def _determinism_off():
    """Start with deterministic algorithms off (the torch default) and leave them as found."""
    enabled = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(False)
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


# --- determinism -------------------------------------------------------------------------------

def test_deterministic_is_on_inside_the_block_and_restored_after_even_on_error(
        _determinism_off, monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with deterministic(True):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # what cuBLAS needs for it
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(KeyError), deterministic(True):
        raise KeyError("training failed")
    assert not torch.are_deterministic_algorithms_enabled()


def test_deterministic_keeps_a_callers_strict_setting(_determinism_off):
    torch.use_deterministic_algorithms(True)  # strict: errors, not warnings
    with deterministic(True):
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()


def test_deterministic_is_off_unless_a_run_asks(_determinism_off, monkeypatch):
    monkeypatch.delenv("DIGR_DETERMINISTIC", raising=False)
    with deterministic():
        assert not torch.are_deterministic_algorithms_enabled()
    monkeypatch.setenv("DIGR_DETERMINISTIC", "0")
    with deterministic():
        assert not torch.are_deterministic_algorithms_enabled()


def test_a_training_call_asked_for_determinism_has_it_inside_and_leaves_the_process_as_it_was(
        _determinism_off, monkeypatch):
    monkeypatch.setenv("DIGR_DETERMINISTIC", "1")  # the one switch a run flips to ask for it
    seen, real_evaluate = [], sasrec_module.evaluate

    def evaluate(*args, **kwargs):  # runs inside fit, once per epoch
        seen.append(torch.are_deterministic_algorithms_enabled())
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(sasrec_module, "evaluate", evaluate)
    seqs = [np.arange(start, start + 6) % 10 for start in range(4)]  # validation reads @10
    split = Split([s[:-2] for s in seqs], [s[:-2] for s in seqs], np.array([s[-2] for s in seqs]),
                  [s[:-1] for s in seqs], np.array([s[-1] for s in seqs]), 10, 20)
    SASRec(10, max_len=4, hidden=8, n_layers=1).fit(split, epochs=2, verbose=False)
    assert seen == [True, True]
    assert not torch.are_deterministic_algorithms_enabled()


# --- learning-rate schedule --------------------------------------------------------------------

def test_warmup_decay_by_hand():
    # 10 steps, 20 % warmup = 2 steps: 1/3, 2/3 up, then 8 steps down from 1 to 0
    factor = warmup_decay(10, 0.2)
    assert [factor(s) for s in (0, 1)] == pytest.approx([1 / 3, 2 / 3])
    assert [factor(s) for s in (2, 6, 9, 10, 12)] == pytest.approx([1.0, 0.5, 0.125, 0.0, 0.0])
    assert warmup_decay(4, 0.0)(0) == 1.0  # no warmup: full rate from the first step


# --- random state ------------------------------------------------------------------------------

def _draw(generator, numpy_rng):
    return (torch.rand(2).tolist(), torch.randperm(5, generator=generator).tolist(),
            numpy_rng.permutation(5).tolist())


def test_restored_rng_repeats_every_draw():
    generator, numpy_rng = torch.Generator().manual_seed(1), np.random.default_rng(1)
    saved = capture_rng("cpu", generator, numpy_rng)
    first = _draw(generator, numpy_rng)
    assert _draw(generator, numpy_rng) != first  # the states moved on
    restore_rng(saved, "cpu", generator, numpy_rng)
    assert _draw(generator, numpy_rng) == first


# --- early stopping ----------------------------------------------------------------------------

def _run(scores, patience, eval_every=1, epochs=10):
    """Epoch ``e`` sets the weight to ``e``; validation every ``eval_every`` epochs."""
    model = nn.Linear(1, 1, bias=False)
    state = EarlyStopping(patience)
    while state.running(epochs):
        state.epoch += 1
        model.weight.data.fill_(state.epoch)
        if state.epoch % eval_every == 0:
            state.update(model, scores.pop(0))
    state.restore_best(model)
    return state, model.weight.item()


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    # best 0.3 at epoch 2; epochs 3 and 4 do not beat it: patience 2 stops after epoch 4
    state, weight = _run([0.1, 0.3, 0.2, 0.25, 0.9], patience=2)
    assert (state.epoch, state.best_epoch, state.best_score, weight) == (4, 2, 0.3, 2.0)
    assert state.best_weights["weight"].device.type == "cpu"


def test_early_stopping_counts_patience_in_epochs_when_validating_every_other_epoch():
    # validations after epochs 2 and 4: 0.3 then 0.2 = 2 stale epochs = patience
    state, weight = _run([0.3, 0.2, 0.9], patience=2, eval_every=2)
    assert (state.epoch, state.best_epoch, weight) == (4, 2, 2.0)


def test_early_stopping_state_round_trips_without_patience():
    state, _ = _run([0.1, 0.3, 0.2, 0.25], patience=2)
    again = EarlyStopping(patience=5)
    again.load_state_dict(state.state_dict())
    assert "patience" not in state.state_dict()
    assert (again.epoch, again.best_epoch, again.stale, again.patience) == (4, 2, 2, 5)
    assert again.running(epochs=10)  # a larger patience lets the resumed run go on


# --- checkpoints -------------------------------------------------------------------------------

def test_checkpoint_round_trip_and_a_mismatch_names_both_values(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"n_examples": 12, "weights": torch.arange(3)})
    saved = load_checkpoint(path, {"n_examples": 12}, "train_x")
    assert torch.equal(saved["weights"], torch.arange(3))
    with pytest.raises(ValueError, match=r"train_x: .*last\.pt comes from another run: its "
                                         r"n_examples is 12, this run's is 13; pass another"):
        load_checkpoint(path, {"n_examples": 13}, "train_x")


def test_a_truncated_or_foreign_checkpoint_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"weights": torch.zeros(100)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtifactError, match=r"last\.pt: cannot be read.*truncated.*delete it"):
        load_checkpoint(path, {}, "train_x")
    torch.save({"weights": torch.zeros(1)}, path)  # a torch file, but not one we wrote
    with pytest.raises(ArtifactError, match=r"last\.pt is not a checkpoint this version"):
        load_checkpoint(path, {}, "train_x")


def test_a_failed_save_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(Exception):
        save_checkpoint(path, {"epoch": 2, "unsaveable": lambda: None})
    assert load_checkpoint(path, {"epoch": 1}, "train_x")["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind
