"""Notebook 06's prose against the figures it recorded (artifacts/notebooks/<preset>/06.json)."""
import pytest

COLUMNS = ["valid all NDCG@10", "test all HR@5", "test all NDCG@5", "test all HR@10",
           "test all NDCG@10"]


@pytest.fixture(scope="module")
def f(recorded):
    return recorded("06")


def test_worked_example_valid_term_cancels_and_rule_misses_are_equal(f):
    # "The `valid` column is constant ... Under the rule reward every miss has the same negative
    # advantage."
    assert f["example · valid terms distinct"] == 1
    assert f["example · rule advantages of misses distinct"] == 1


def test_worked_example_near_misses_lose_less(f):
    # "with the interest-aware reward ... those sharing the target's first codes lose less"
    if "example · near-miss advantage" not in f:
        pytest.skip("this run's worked group has no miss sharing a prefix with the target")
    assert f["example · near-miss advantage"] > f["example · far-miss advantage"]


def test_a_run_that_kept_step_0_returns_the_sft_model(f):
    # "When a run's best step is 0, its lists are the SFT model's and every difference in its row
    # is zero" (and "validation kept SFT's weights where no step beat it")
    steps = {k.rsplit(" · ", 1)[0]: v for k, v in f.items() if k.endswith(" · best step")
             and k.count(" · ") == 2}
    assert steps, "no GRPO rows recorded"
    for row, step in steps.items():
        if step == 0:
            interests = row.split(" · ")[0]
            for c in COLUMNS:
                assert f[f"{row} · {c}"] == f[f"{interests} · SFT · {c}"], (row, c)


def test_three_rewards_on_the_panel_one_on_smollm2_none_on_shallow(f):
    # section 4: the rewards compared on the panel's IDs; SmolLM2's IDs get the interest-aware
    # reward, shallow IDs no GRPO (the others are left out, and the prose says how to run them)
    models = {k.split(" · ")[0]: set() for k in f if k.endswith(" · best step") and k.count(" · ") == 2}
    for k in f:
        if k.endswith(" · best step") and k.count(" · ") == 2:
            models[k.split(" · ")[0]].add(k.split(" · ")[1])
    panel = next(v for k, v in models.items() if k.startswith("simulated panel"))
    assert panel == {"+ GRPO (rule)", "+ GRPO (interest-aware)", "+ GRPO (ungated)"}
    smol = next(v for k, v in models.items() if k.startswith("SmolLM2"))
    assert smol == {"+ GRPO (interest-aware)"}
    assert not any(k.startswith("no interests") for k in models)


def test_ungated_bonus_moves_mean_q_more_than_gating_does(f):
    # section 5: "A gated bonus can only act through hits ... small by construction. The ungated
    # bonus ... is the one that can shift lists towards high-q items" -- when its run moved at
    # all: "When a run's best step is 0, its lists are the SFT model's"
    sft = f["panel SFT · top10 mean q"]
    gated = abs(f["panel GRPO interest-aware · top10 mean q"] - sft)
    ungated = abs(f["panel GRPO ungated · top10 mean q"] - sft)
    if f["simulated panel (knows the hidden motives) · + GRPO (ungated) · best step"] == 0:
        assert ungated == 0
    else:
        assert ungated >= gated
