"""The results table's parts on data small enough to check by hand: lists scored with cold-start
slots chosen on validation, cached rankings, user groups, paired tests, gains and the saved
3-seed evaluation."""
import numpy as np
import pandas as pd
import pytest

from digr_utils.data.dataset import Split
from digr_utils.evaluation import (Lists, Scored, load_evaluation, per_user_frame, plot_bars, rank,
                                   relative_gain, results_table, score_lists, score_ranked,
                                   strongest_baseline, user_groups)

# Items 0..5; 4 and 5 never occur in training (new arrivals). Codes (level 1, level 2, suffix):
# item 4 shares both levels with item 0, item 5 the first level with items 2 and 3.
CODES = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 0], [0, 0, 1], [1, 2, 0]])


def _split() -> Split:
    return Split(train=[np.array([0, 1, 3]), np.array([1, 2]), np.array([0, 2, 3, 1])],
                 valid_history=[np.array([0, 1]), np.array([1]), np.array([0, 2, 3])],
                 valid_target=np.array([3, 2, 1]),
                 test_history=[np.array([0, 1, 3]), np.array([1, 2]), np.array([0, 2, 3, 1])],
                 test_target=np.array([0, 5, 2]),  # user 1's target is a new arrival
                 n_items=6, max_history=20)


def test_score_lists_splits_warm_and_new_and_gives_per_user_ndcg():
    top = np.array([[0, 1, 2, 3, 4, 5, -1, -1, -1, -1]] * 3)
    figures, per_user = score_lists(top, _split())
    assert figures["warm HR@5"] == 1.0 and figures["new HR@5"] == 0.0
    assert figures["new HR@10"] == 1.0  # item 5 at rank 6
    np.testing.assert_allclose(per_user, [1.0, 1 / np.log2(7), 1 / np.log2(4)])
    assert figures["all NDCG@10"] == pytest.approx(per_user.mean())


def test_score_ranked_slots_new_arrivals_with_the_share_validation_allows():
    split = _split()
    # every validation target at rank 1 whatever the share: the rule may take the largest share
    valid = np.array([[3, 0, 1, 2], [2, 3, 0, 1], [1, 0, 2, 3]])
    test = np.array([[0, 1, 2, 3], [2, 3, 0, 1], [2, 1, 0, 3]])
    lists = Lists("gen", "none", np.arange(3), valid, test, CODES[:, :-1])
    scored, sweep = score_ranked(lists, split, shares=(0.0, 0.2, 0.5))
    assert sweep["chosen"].tolist() == [False, False, True] and "cold-start share 0.5" in scored.tuning
    # 5 slots of 10: user 1's top beam is item 2, whose first code item 5 shares: 2, 3, 0, 1, 5
    assert scored.figures["new HR@5"] == 1.0
    assert scored.per_user[1] == pytest.approx(1 / np.log2(6))
    assert sweep.loc[0.0, "test new HR@10"] == 0.0


def test_score_ranked_leaves_a_baseline_list_alone():
    split = _split()
    test = np.tile(np.r_[np.arange(6), [-1] * 4], (3, 1))
    scored, sweep = score_ranked(Lists("pop", "—", np.arange(3), test, test), split)
    assert sweep is None and scored.tuning == "defaults"
    assert scored.figures["new HR@10"] == 1.0


class _Counting:
    def __init__(self):
        self.calls = 0

    def recommend(self, histories, k):
        self.calls += 1
        return np.tile(np.arange(k), (len(histories), 1))


def test_rank_caches_lists_by_key():
    split, model = _split(), _Counting()
    first = rank("m", "—", model, split, k=4, cache_key="test-cache")
    again = rank("m", "—", model, split, k=4, cache_key="test-cache")
    assert model.calls == 2  # validation and test, once each
    np.testing.assert_array_equal(first.test, again.test)
    rank("m", "—", model, split, valid_users=np.array([0]), k=4, cache_key="test-cache")
    assert model.calls == 3  # other validation users: a new validation list, the test one reused


def _scored(model, interests, seed, ndcg10, per_user):
    return Scored(model, interests, seed, {"all NDCG@10": ndcg10}, np.array(per_user), "t")


def test_gain_strongest_baseline_and_paired_p():
    rows = [_scored("Popularity", "—", 0, 0.05, [0.0, 0.1, 0.05, 0.05]),
            _scored("SASRec (item IDs)", "—", 0, 0.10, [0.1, 0.1, 0.1, 0.1]),
            _scored("DeepInterestGR (deep IDs, SFT)", "panel", 0, 0.12, [0.2, 0.1, 0.1, 0.08]),
            _scored("DeepInterestGR (deep IDs, SFT)", "smollm2", 0, 0.08, [0.0, 0.1, 0.1, 0.12])]
    assert strongest_baseline(rows) == "SASRec (item IDs)"
    assert relative_gain(rows, ("DeepInterestGR (deep IDs, SFT)", "panel"), "SASRec (item IDs)") \
        == pytest.approx(0.2)
    table = results_table(rows, columns=("all NDCG@10",))
    p = table["p vs SASRec (item IDs)"]
    assert np.isnan(p[("SASRec (item IDs)", "—")]) and 0 < p[("Popularity", "—")] <= 1
    assert table.loc[("DeepInterestGR (deep IDs, SFT)", "smollm2"), "all NDCG@10"] == 0.08


class _Shop:
    user_motives = [("a",), ("a", "b"), ("c",)]


class _Data:
    split, shop = _split(), _Shop()


def test_user_groups_by_history_motives_and_target():
    groups = user_groups(_Data(), head=0.5)
    # test histories of 3, 2 and 4 items: median 3
    assert groups["history"].tolist() == ["short (≤ 3 items)", "short (≤ 3 items)", "long (> 3 items)"]
    assert groups["motives"].tolist() == ["one motive", "several motives", "one motive"]
    # training counts 0:2, 1:3, 2:2, 3:2 -> the top half is count >= 2... all warm items qualify
    assert groups["target"].tolist()[1] == "new arrival"
    frame = per_user_frame([_scored("m", "—", 0, 0.3, [0.1, 0.2, 0.3])], groups)
    assert len(frame) == 3 and set(frame.columns) >= {"user", "NDCG@10", "history", "model"}
    assert frame.groupby("history")["NDCG@10"].mean().to_dict() == pytest.approx(
        {"short (≤ 3 items)": 0.15, "long (> 3 items)": 0.3})


def test_plot_bars_keeps_the_order_rows_come_in():
    import matplotlib
    matplotlib.use("Agg")
    frame = pd.DataFrame({"row": ["b", "b", "a", "a"], "NDCG@10": [0.1, 0.2, 0.3, 0.4],
                          "seed": ["s0", "s1", "s0", "s1"]})
    ax = plot_bars(frame, "row", "NDCG@10", errorbar="sd", title="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["b", "a"]


def test_load_evaluation_is_none_until_digr_evaluate_ran():
    class Data:
        key = "no-such-dataset"
    assert load_evaluation(Data()) is None


def test_rank_uses_saved_test_lists_as_they_are():
    split, model = _split(), _Counting()
    saved = np.array([[5, 4, 3, 2], [1, 0, 2, 3], [0, 1, 2, 3]])
    lists = rank("m", "—", model, split, k=4, test=saved)
    assert model.calls == 1 and (lists.test == saved).all()


def test_digr_evaluate_keeps_its_table_for_the_notebook(monkeypatch, capsys):
    from digr_utils import evaluation

    class Data:
        key = "tiny-evaluate-test"

    columns = ("all HR@5", "all NDCG@5", "all HR@10", "all NDCG@10", "warm HR@10", "warm NDCG@10",
               "new HR@10", "new NDCG@10")
    rows = [Scored(m, i, seed, dict.fromkeys(columns, v + 0.01 * seed), np.array([v, v]),
                   f"t{seed}" if m == evaluation.DEEP_SFT else "t",
                   {"lr": 0.001} if (m, seed) == (evaluation.DEEP_SFT, 1) else None)
            for seed in (0, 1, 2)
            for m, i, v in (("Popularity", "—", 0.05), ("SASRec (item IDs)", "—", 0.1),
                            (evaluation.DEEP_SFT, "panel", 0.12))]
    monkeypatch.setattr(evaluation, "load_data", lambda preset, spec=None: Data())
    monkeypatch.setattr(evaluation, "evaluate_models", lambda *a, **k: rows)
    assert load_evaluation(Data(), (0, 1, 2), ("none", "panel")) is None
    out = evaluation.evaluate_stage("ci", (2, 0, 1), ("none", "panel"), progress=False)
    assert out["strongest_baseline"] == "SASRec (item IDs)"
    assert out[f"{evaluation.DEEP_SFT} · panel NDCG@10 gain vs SASRec (item IDs)"] == pytest.approx(0.13 / 0.11 - 1, abs=1e-4)
    back = load_evaluation(Data(), (0, 1, 2), ("none", "panel"))
    assert [(s.model, s.seed) for s in back] == [(s.model, s.seed) for s in rows]
    np.testing.assert_allclose(back[2].per_user, rows[2].per_user)
    assert [s.chosen for s in back] == [s.chosen for s in rows]  # the trials' choice as data
    table = evaluation.results_table(back)
    assert table.loc[("SASRec (item IDs)", "—"), "tuning"] == "t"  # the same on every seed
    assert table.loc[(evaluation.DEEP_SFT, "panel"), "tuning"] == "seed 0: t0 | seed 1: t1 | seed 2: t2"
    assert load_evaluation(Data(), (0, 1), ("none", "panel")) is None  # other seeds: not this run


def test_finished_run_finds_only_a_finished_run_with_that_exact_recipe():
    from digr_utils.evaluation import finished_run
    from digr_utils.runs import open_run

    run = open_run("tiny-find", "sft", {"aux": False, "sids": "abc"}, "panel")
    assert finished_run("tiny-find", "sft", {"aux": False, "sids": "abc"}) is None  # not finished
    run.save_metrics({"test all NDCG@10": 0.1})
    assert finished_run("tiny-find", "sft", {"aux": False, "sids": "abc"}).folder == run.folder
    assert finished_run("tiny-find", "sft", {"aux": True, "sids": "abc"}) is None
    assert finished_run("other-data", "sft", {"aux": False, "sids": "abc"}) is None


def test_finished_run_matches_a_recipe_with_tuples_as_saved():
    from digr_utils.evaluation import finished_run
    from digr_utils.runs import open_run

    open_run("tiny-find", "sids", {"sizes": (4, 4)}, "x").save_metrics({})
    assert finished_run("tiny-find", "sids", {"sizes": (4, 4)}) is not None


def test_a_rows_tuning_note_names_the_setting_validation_chose():
    from digr_utils.evaluation import _best, setting_text, tuning_note

    # the best validation score wins; on a tie the earlier setting (the defaults come first)
    assert _best(["a", "b", "c"], {"a": 0.1, "b": 0.3, "c": 0.3}.get) == ("b", 0.3, 1)
    assert tuning_note(3, {"lr": 1e-3}, 0.14994) == "best of 3 on validation: lr=0.001 (NDCG@10 0.1499)"
    assert tuning_note(1, {}, 0.1) == "best of 1 on validation: defaults (NDCG@10 0.1000)"
    assert tuning_note(3, {"hidden": 128, "dropout": 0.5}, 0.2).startswith(
        "best of 3 on validation: hidden=128, dropout=0.5 (")
    assert setting_text({}) == "defaults" and setting_text({"lr": 6e-3}) == "lr=0.006"


def test_seed_wins_counts_the_seeds_above_and_lists_each():
    from digr_utils.evaluation import seed_wins

    assert seed_wins([0.004, -0.0012, 0.0]) == "on 1 of 3 seeds (per seed +0.0040, -0.0012, +0.0000)"
