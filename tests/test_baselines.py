"""Group popularity and SASRec on tiny hand-made splits whose right answers are known."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from digr_utils.baselines import sasrec as sasrec_module
from digr_utils.baselines.group_popularity import GroupPopularity
from digr_utils.baselines.sasrec import SASRec
from digr_utils.data.dataset import Split
from digr_utils.io import ArtifactError
from digr_utils.metrics import evaluate


def _split(sequences, n_items: int, max_history: int = 20) -> Split:
    """Leave-one-out over ``sequences`` (last item test, second-to-last validation)."""
    seqs = [np.asarray(s, dtype=np.int64) for s in sequences]
    return Split(
        train=[s[:-2] for s in seqs],
        valid_history=[s[:-2][-max_history:] for s in seqs],
        valid_target=np.array([s[-2] for s in seqs]),
        test_history=[s[:-1][-max_history:] for s in seqs],
        test_target=np.array([s[-1] for s in seqs]),
        n_items=n_items,
        max_history=max_history,
    )


# --- group popularity ------------------------------------------------------------------------

# Training counts 3, 1, 0, 4, 2 (+1 smoothing: 4, 2, 1, 5, 3); item 2 is a new arrival.
# The two trailing items of each sequence are its validation and test targets.
_TRAIN = [[3, 3, 3, 3, 0, 0], [0, 0, 0, 1, 4, 4, 0, 0]]
_A, _B = 0, 1
_ONE_GROUP = np.array([_A, _A, _A, _B, _B])  # A = {0, 1, 2} (total 7), B = {3, 4} (total 8)


def test_group_popularity_recommends_the_popular_items_of_the_users_group():
    model = GroupPopularity(_ONE_GROUP, recency_decay=0.5).fit(_split(_TRAIN, 5))
    recs = model.recommend([np.array([1]), np.array([], dtype=np.int64)], k=5)
    # history in A: A's items by share 4/7, 2/7, then the new arrival (1/7) ahead of every B
    # item, though item 3 is the most popular overall; B's items follow by global popularity
    assert recs[0].tolist() == [0, 1, 2, 3, 4]
    # no history: every score is 0, so global popularity decides
    assert recs[1].tolist() == [3, 0, 4, 1, 2]


def test_group_popularity_weights_recent_items_more():
    model = GroupPopularity(_ONE_GROUP, recency_decay=0.5).fit(_split(_TRAIN, 5))
    recs = model.recommend([np.array([3, 0]), np.array([0, 3])], k=5)
    # [3, 0]: A weight 1, B 0.5 -> 0: 4/7, 3: 0.5*5/8, 1: 2/7, 4: 0.5*3/8, 2: 1/7
    assert recs[0].tolist() == [0, 3, 1, 4, 2]
    # [0, 3]: A weight 0.5, B 1 -> 3: 5/8, 4: 3/8, 0: 2/7, 1: 1/7, 2: 1/14
    assert recs[1].tolist() == [3, 4, 0, 1, 2]


def test_group_popularity_takes_set_valued_groups_with_any_ids():
    # item 2 serves both groups; ids 10 and 20 are renumbered internally
    groups = [{10}, (10,), [10, 20], {20}, {20}]
    model = GroupPopularity(groups, recency_decay=0.5).fit(_split(_TRAIN, 5))
    recs = model.recommend([np.array([3]), np.array([1, 3])], k=5)
    # group 20 = {2, 3, 4}, total 1 + 5 + 3 = 9: shares 1/9, 5/9, 3/9; then 0 and 1 (score 0)
    # by popularity
    assert recs[0].tolist() == [3, 4, 2, 0, 1]
    # [1, 3]: 10 weight 0.5, 20 weight 1 -> 0: 2/7; 2: 1/14 + 1/9 = 0.18 beats 1: 1/7 = 0.14
    assert recs[1].tolist() == [3, 4, 0, 2, 1]


def test_group_popularity_breaks_full_ties_by_lower_id():
    model = GroupPopularity(np.array([0, 1, 2])).fit(_split([[0, 1, 2, 0, 0]], 3))
    # counts 1, 1, 1 after dropping the two held-out items
    assert model.recommend([np.array([2])], k=3).tolist() == [[2, 0, 1]]


def test_group_popularity_rejects_groups_of_the_wrong_length():
    with pytest.raises(ValueError, match="`groups` covers 3 items but the split has 5"):
        GroupPopularity(np.array([0, 0, 1])).fit(_split(_TRAIN, 5))


# --- SASRec ----------------------------------------------------------------------------------

_CYCLE = 12  # every user walks 0 -> 1 -> ... -> 11 -> 0, starting anywhere
_FIT = dict(epochs=30, batch_size=8, lr=5e-3, patience=30, verbose=False)


def _cycle_split() -> Split:
    starts = [s for s in range(_CYCLE) for _ in range(2)]
    return _split([[(s + t) % _CYCLE for t in range(8)] for s in starts], _CYCLE)


def test_sasrec_learns_a_deterministic_cycle():
    split = _cycle_split()
    # max_len 5 = the inputs of a 6-item training sequence, so every position the test reads
    # was trained (a longer max_len leaves the test's oldest position an untrained embedding)
    model = SASRec(_CYCLE, max_len=5, hidden=32).fit(split, **_FIT)
    assert evaluate(model, split, ks=(1,))["all"]["HR@1"] == 1.0
    # a history longer than max_len is cut to its last 5 items and still continues the cycle
    long = [np.arange(3, 18) % _CYCLE, np.arange(7, 22) % _CYCLE]
    assert model.recommend(long, k=1)[:, 0].tolist() == [18 % _CYCLE, 22 % _CYCLE]
    assert len(model.history) >= 1 and set(model.history[0]) == {"epoch", "loss", "valid_NDCG@10"}


def test_sasrec_repeats_exactly_with_the_same_seed():
    split = _cycle_split()
    runs = [SASRec(_CYCLE, max_len=8, hidden=32, seed=3).fit(split, **{**_FIT, "epochs": 3})
            for _ in range(2)]
    assert runs[0].history == runs[1].history
    histories = split.test_history
    assert np.array_equal(runs[0].recommend(histories, 5), runs[1].recommend(histories, 5))


# Three motives of 8 items each (A = 0-7, B = 8-15, C = 16-23); users buy at random within one
# motive. Item 24 is a new arrival of motive B: in no training sequence.
_PER, _NEW = 8, 24


def _motive_split() -> tuple[Split, np.ndarray]:
    rng = np.random.default_rng(0)
    seqs = [rng.integers(g * _PER, (g + 1) * _PER, size=8) for g in range(3) for _ in range(16)]
    motives = np.zeros((_NEW + 1, 3))
    motives[np.arange(_NEW), np.arange(_NEW) // _PER] = 1
    motives[_NEW, 1] = 1
    return _split(seqs, _NEW + 1), motives


def test_sasrec_reaches_a_new_arrival_only_through_its_features():
    split, motives = _motive_split()
    fit = {**_FIT, "epochs": 15, "batch_size": 16}
    id_only = SASRec(_NEW + 1, max_len=8, hidden=32).fit(split, **fit)
    featured = SASRec(_NEW + 1, max_len=8, hidden=32, item_features=motives).fit(split, **fit)
    b_users = split.test_history[16:32]
    others = np.r_[0:_PER, 2 * _PER:3 * _PER]

    def rank(model, item):
        recs = model.recommend(b_users, k=_NEW + 1)
        return np.argmax(recs == item, axis=1)

    # ID only: the new arrival has no vector at all and is ranked last for everyone
    assert (rank(id_only, _NEW) == _NEW).all()
    # with motives its vector is motive B's learned vector: ahead of every A and C item
    new_rank = rank(featured, _NEW)
    assert all((new_rank < rank(featured, j)).all() for j in others)


class _Interrupted(Exception):
    pass


def _dies_at_validation(call: int):
    """``evaluate`` that raises on its ``call``-th use: a run killed during that epoch."""
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise _Interrupted
        return evaluate(*args, **kwargs)
    return dying


def _same_weights(a: SASRec, b: SASRec) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a._net.state_dict().values(),
                                                  b._net.state_dict().values()))


def test_sasrec_interrupted_then_resumed_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    split = _cycle_split()
    fit = {**_FIT, "epochs": 4}
    whole = SASRec(_CYCLE, max_len=8, hidden=32, seed=3).fit(split, **fit)
    with monkeypatch.context() as patch:  # dies in epoch 3's validation: last.pt holds epoch 2
        patch.setattr(sasrec_module, "evaluate", _dies_at_validation(3))
        with pytest.raises(_Interrupted):
            SASRec(_CYCLE, max_len=8, hidden=32, seed=3).fit(split, **fit,
                                                             checkpoint_dir=tmp_path)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["state"]["epoch"] == 2
    resumed = SASRec(_CYCLE, max_len=8, hidden=32, seed=3).fit(split, **fit,
                                                               checkpoint_dir=tmp_path)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4]
    assert resumed.history == whole.history  # losses and validation scores, bit for bit
    assert _same_weights(resumed, whole)
    with pytest.raises(ValueError, match=r"comes from another run: its lr is 0.005, this run's "
                                         r"is 0.001; pass another checkpoint_dir"):
        SASRec(_CYCLE, max_len=8, hidden=32, seed=3).fit(split, **{**fit, "lr": 1e-3},
                                                         checkpoint_dir=tmp_path)


def test_sasrec_best_pt_holds_the_best_epochs_weights(tmp_path):
    split = _cycle_split()
    model = SASRec(_CYCLE, max_len=8, hidden=32).fit(split, **{**_FIT, "epochs": 3},
                                                     checkpoint_dir=tmp_path)
    best = max(model.history, key=lambda row: row["valid_NDCG@10"])
    assert SASRec.load(tmp_path / "best.pt").history[-1] == best
    assert _same_weights(SASRec.load(tmp_path / "best.pt"), model)


_RECOMMEND_IN_A_FRESH_PROCESS = """
import json, sys
from digr_utils.baselines.sasrec import SASRec
model = SASRec.load(sys.argv[1])
print(json.dumps(model.recommend([[0, 1, 2], [8, 9], [16]], k=25).tolist()))
"""


def test_sasrec_saved_and_loaded_in_a_fresh_process_recommends_the_same(tmp_path):
    split, motives = _motive_split()
    model = SASRec(_NEW + 1, max_len=8, hidden=16, n_layers=1, item_features=motives)
    model.fit(split, **{**_FIT, "epochs": 2, "batch_size": 16})
    model.save(tmp_path / "sasrec.pt")
    out = subprocess.run([sys.executable, "-c", _RECOMMEND_IN_A_FRESH_PROCESS,
                          str(tmp_path / "sasrec.pt")],
                         capture_output=True, text=True, check=True, timeout=300)
    # the full ranking of all 25 items, new arrival 24 (scored by its features alone) included
    expected = model.recommend([[0, 1, 2], [8, 9], [16]], k=_NEW + 1).tolist()
    assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


def test_sasrec_load_names_a_truncated_or_missing_file(tmp_path):
    path = tmp_path / "sasrec.pt"
    SASRec(5, hidden=8, n_layers=1).save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ArtifactError, match=r"sasrec\.pt: cannot be read.*truncated.*SASRec\.save"):
        SASRec.load(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt does not exist; save a model"):
        SASRec.load(tmp_path / "missing.pt")


def test_sasrec_rejects_features_with_the_wrong_number_of_rows():
    with pytest.raises(ValueError, match="`item_features` must be"):
        SASRec(5, item_features=np.zeros((4, 2)))


def test_sasrec_fit_rejects_a_patience_below_one():
    with pytest.raises(ValueError, match="patience >= 1.*got epochs=3, patience=0"):
        SASRec(_CYCLE, hidden=8).fit(_cycle_split(), epochs=3, patience=0, verbose=False)


def test_chunked_catalogue_cross_entropy_equals_the_full_softmax_in_value_and_gradient():
    from digr_utils.baselines.sasrec import catalogue_cross_entropy

    gen = torch.Generator().manual_seed(0)
    states = torch.randn(37, 8, generator=gen, requires_grad=True)
    items = torch.randn(50, 8, generator=gen, requires_grad=True)
    targets = torch.randint(0, 45, (37,), generator=gen)
    excluded = torch.zeros(50, dtype=torch.bool)
    excluded[45:] = True  # items absent from training: out of the softmax
    full = catalogue_cross_entropy(states, items, targets, excluded)
    full_grads = torch.autograd.grad(full, (states, items))
    # 50 items x 4 bytes x 10 rows: chunks of 10, 10, 10 and 7 rows
    chunked = catalogue_cross_entropy(states, items, targets, excluded, budget_bytes=2000)
    chunked_grads = torch.autograd.grad(chunked, (states, items))
    expected = torch.nn.functional.cross_entropy(
        (states @ items.T).masked_fill(excluded, float("-inf")), targets)
    assert float(full.detach()) == float(expected.detach())
    assert float(chunked.detach()) == pytest.approx(float(full.detach()), rel=1e-6)
    for a, b in zip(full_grads, chunked_grads):
        assert torch.allclose(a, b, atol=1e-6)


def test_sampled_bce_is_the_original_sasrec_loss():
    from digr_utils.baselines.sasrec import sampled_bce

    states, table = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    got = sampled_bce(states, table, torch.tensor([0, 1]), torch.tensor([1, 0]))
    # positives score 1 and 2, negatives 0 and 0: mean of -log σ(s+) - log(1 - σ(s-))
    want = (-torch.log(torch.sigmoid(torch.tensor([1.0, 2.0]))) + torch.log(torch.tensor(2.0))).mean()
    torch.testing.assert_close(got, want)


def test_sasrec_with_the_bce_loss_learns_the_cycle_and_an_unknown_loss_is_named():
    split = _cycle_split()
    model = SASRec(_CYCLE, max_len=5, hidden=32).fit(split, **{**_FIT, "loss": "bce"})
    assert evaluate(model, split, ks=(1,))["all"]["HR@1"] == 1.0
    with pytest.raises(ValueError, match="loss='hinge'"):
        SASRec(_CYCLE, max_len=5, hidden=32).fit(split, **{**_FIT, "loss": "hinge"})


# --- GRU4Rec: SASRec's training with a GRU as the sequence encoder ------------------------------

def test_gru4rec_learns_the_cycle_and_only_its_recurrent_state_orders_the_items():
    split = _cycle_split()
    model = SASRec(_CYCLE, max_len=5, hidden=32, encoder="gru").fit(split, **_FIT)
    assert model.name == "GRU4Rec" and isinstance(model._net.encoder, torch.nn.GRU)
    assert model._net.pos_emb is None  # its state is the order: no position table to train
    assert evaluate(model, split, ks=(1,))["all"]["HR@1"] == 1.0
    # right padding comes after the real items, so it cannot change a real position's state
    table = model._net.item_table()
    short, padded = torch.tensor([[3, 4, 5]]), torch.tensor([[3, 4, 5, _CYCLE, _CYCLE]])
    model._net.eval()
    torch.testing.assert_close(model._net.encode(short, table), model._net.encode(padded, table)[:, :3])
    with pytest.raises(ValueError, match="encoder='lstm'"):
        SASRec(_CYCLE, encoder="lstm")


def test_gru4rec_saved_and_loaded_recommends_the_same(tmp_path):
    split, motives = _motive_split()
    model = SASRec(_NEW + 1, max_len=8, hidden=16, n_layers=1, encoder="gru")
    model.fit(split, **{**_FIT, "epochs": 2, "batch_size": 16})
    model.save(tmp_path / "gru4rec.pt")
    again = SASRec.load(tmp_path / "gru4rec.pt")
    assert again.name == "GRU4Rec"
    histories = [[0, 1, 2], [8, 9], [16]]
    assert again.recommend(histories, k=10).tolist() == model.recommend(histories, k=10).tolist()


def test_gru4rec_is_its_own_run_and_sasrec_runs_keep_their_recipe(tmp_path, monkeypatch):
    from dataclasses import asdict

    from digr_utils.baselines.stage import SASRecConfig, train_sasrec
    from digr_utils.data.stage import load_data
    from digr_utils.runs import digest

    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path))
    data = load_data("ci")
    quick = dict(hidden=16, n_layers=1, epochs=1)
    _, sasrec = train_sasrec(data, SASRecConfig(**quick))
    _, gru = train_sasrec(data, SASRecConfig(**quick, encoder="gru"))
    assert sasrec.folder.name.startswith("sasrec-ids-") and gru.folder.name.startswith("gru4rec-ids-")
    # the recipe SASRec runs were named by before the encoder existed, so they are found again
    before = {"model": "sasrec", **{k: v for k, v in asdict(SASRecConfig(**quick)).items()
                                    if k != "encoder"}, "seed": 0, "max_len": 20, "features": None}
    assert sasrec.recipe == before and sasrec.key == digest({"stage": "baselines", **before})
    assert gru.recipe["model"] == "gru4rec" and gru.metrics()["model"] == "GRU4Rec · ids"
    assert gru.recipe["positions"] is False  # not the first GRU4Rec runs, which had a table
    with pytest.raises(ValueError, match="encoder='lstm'"):
        SASRecConfig(encoder="lstm")
