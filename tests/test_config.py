"""Presets, DIGR_* environment overrides, device choice, seeding and artifact paths."""
import random

import numpy as np
import pytest
import torch

from digr_utils.config import (
    PRESETS,
    get_preset,
    pick_device,
    seed_everything,
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("DIGR_PRESET", "DIGR_DEVICE", "DIGR_ARTIFACTS"):
        monkeypatch.delenv(var, raising=False)


# --- presets -----------------------------------------------------------------------------------

def test_default_preset_is_tutorial():
    assert get_preset().name == "tutorial"
    assert get_preset(None) == PRESETS["tutorial"]


def test_named_preset():
    p = get_preset("ci")
    assert (p.name, p.n_users, p.n_items, p.epochs) == ("ci", 500, 240, 2)


def test_environment_overrides_the_name(monkeypatch):
    monkeypatch.setenv("DIGR_PRESET", "ci")
    assert get_preset("full").name == "ci"
    assert get_preset().name == "ci"


def test_empty_environment_variable_is_ignored(monkeypatch):
    monkeypatch.setenv("DIGR_PRESET", "")
    assert get_preset("ci").name == "ci"


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'huge' \(from the argument\).*ci, tutorial, full"):
        get_preset("huge")


def test_unknown_preset_from_the_environment_says_so(monkeypatch):
    monkeypatch.setenv("DIGR_PRESET", "cl")
    with pytest.raises(ValueError, match=r"'cl' \(from DIGR_PRESET\).*ci, tutorial, full"):
        get_preset("ci")


def test_keyword_overrides_replace_single_fields():
    p = get_preset("ci", epochs=1, seed=7)
    assert (p.epochs, p.seed) == (1, 7)
    assert (p.n_users, p.batch_size) == (500, 128)  # untouched
    assert PRESETS["ci"].epochs == 2  # the table itself is not changed
    with pytest.raises(TypeError):
        get_preset("ci", epoch=1)  # a typo is an error, not a silent no-op


# --- device ------------------------------------------------------------------------------------

def test_pick_device_honours_prefer_and_environment(monkeypatch):
    monkeypatch.setenv("DIGR_DEVICE", "mps")
    assert pick_device() == "mps"
    assert pick_device("cpu") == "cpu"  # an explicit argument beats the environment


def test_pick_device_order_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == "cuda"


@pytest.mark.skipif(torch.cuda.is_available() or torch.backends.mps.is_available(),
                    reason="this machine has an accelerator")
def test_pick_device_is_cpu_without_an_accelerator():
    assert pick_device() == "cpu"


# --- seeding -----------------------------------------------------------------------------------

def _draws():
    return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()


def test_seed_everything_repeats_draws():
    before = torch.are_deterministic_algorithms_enabled()
    seed_everything(123)
    first = _draws()
    seed_everything(123)
    assert _draws() == first
    seed_everything(124)
    other = _draws()
    assert all(a != b for a, b in zip(other, first))
    # seeding only: deterministic kernels are each trainer's business, for its own call
    assert torch.are_deterministic_algorithms_enabled() == before


def test_sft_takes_the_presets_sft_epochs_where_set():
    from digr_utils.gen.sft import SFTConfig

    assert SFTConfig.for_preset("ci").epochs == PRESETS["ci"].epochs  # no sft_epochs: the budget
    assert SFTConfig.for_preset("tutorial").epochs == PRESETS["tutorial"].sft_epochs == 20
    assert PRESETS["tutorial"].epochs == 12  # SASRec's and the other models' budget is unchanged
