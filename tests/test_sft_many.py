"""run_sft_many: the runs a notebook compares, trained side by side on a multi-core CPU."""
import concurrent.futures
import os

import pytest

from digr_utils.gen import stage
from digr_utils.gen.stage import run_sft, run_sft_many
from digr_utils.interests.stage import InterestSource

CALLS = [dict(preset="ci", source=InterestSource("none"), seed=0, progress=False, epochs=1,
              valid_users=30, lr=2e-3),
         dict(preset="ci", source=InterestSource("panel"), seed=0, progress=False, epochs=1,
              valid_users=30, lr=2e-3)]


def test_an_unfinished_run_is_not_trained_when_train_is_false():
    assert run_sft(**{**CALLS[0], "lr": 1.5e-3}, train=False) is None


def test_runs_trained_side_by_side_are_the_runs_run_sft_then_loads(monkeypatch):
    runs = run_sft_many(CALLS, workers=2)
    assert [r.figures["interests"] for r in runs] == ["none", "panel"]
    assert all(r.run.finished for r in runs)
    for call, run in zip(CALLS, runs):
        assert run_sft(**call).run.folder == run.run.folder

    def no_pool(*args, **kwargs):
        raise AssertionError("finished runs are loaded, not trained again")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    again = run_sft_many(CALLS, workers=2)
    assert [r.figures["test all NDCG@10"] for r in again] == [r.figures["test all NDCG@10"] for r in runs]


@pytest.mark.parametrize("device", ["cuda", "mps"])
def test_an_accelerator_trains_one_run_at_a_time_in_this_process(monkeypatch, device):
    monkeypatch.setattr(stage, "pick_device", lambda: device)
    trained = []
    monkeypatch.setattr(stage, "run_sft", lambda **call: trained.append(call) or None)
    run_sft_many(CALLS)
    assert [c.get("train", True) for c in trained] == [False, False, True, True]


@pytest.mark.parametrize("runs, cores, expected", [(3, 2, 3), (4, 2, 4), (9, 2, 4), (2, 8, 2)])
def test_a_cpu_trains_every_run_at_once_up_to_two_per_core(monkeypatch, runs, cores, expected):
    # three runs on two cores finish in about 1.5 runs' time at once, in 2 with two workers
    monkeypatch.setattr(stage, "pick_device", lambda: "cpu")
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(stage, "run_sft", lambda **call: None)
    pools = []

    class Pool:
        def __init__(self, workers, **kwargs):
            pools.append(workers)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, calls):
            return list(calls)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", Pool)
    run_sft_many([CALLS[0]] * runs)
    assert pools == [expected]
