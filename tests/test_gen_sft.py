"""The generative recommender's vocabulary, SFT task data, T5 model and trainer on tiny data."""
import numpy as np
import pytest
import torch

from digr_utils.data.dataset import Split
from digr_utils.gen.data import (
    Examples,
    TaskMix,
    build_examples,
    history_inputs,
    interest_to_sid_examples,
    next_item_examples,
    sid_to_interest_examples,
)
from digr_utils.gen.model import ModelConfig, build_model, load_model, save_model
from digr_utils.gen.sft import SFTConfig, _length_grouped_batches, teacher_forced_loss, train_sft
from digr_utils.gen.vocab import EOS, INT2SID, NEXT, SID2INT, UNK, SidVocab
from digr_utils.io import ArtifactError

# sizes (4, 4, 2): position 0 -> tokens 6..9, position 1 -> 10..13, position 2 -> 14..15
_SIZES = (4, 4, 2)
_CODES = np.array([[0, 3, 1],   # 6+0, 6+4+3, 6+8+1 -> 6, 13, 15
                   [2, 1, 0],   # 6+2, 6+4+1, 6+8+0 -> 8, 11, 14
                   [1, 0, 0]])  # 6+1, 6+4+0, 6+8+0 -> 7, 10, 14
_ITEM0, _ITEM1, _ITEM2 = [6, 13, 15], [8, 11, 14], [7, 10, 14]
_TINY = ModelConfig(d_model=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_ff=64)


pytestmark = pytest.mark.usefixtures("one_thread")


def _split(train, n_items=3, max_history=20, valid=None, test=None) -> Split:
    """A split whose training part is ``train``; validation/test parts only where a test reads them."""
    train = [np.asarray(s, dtype=np.int64) for s in train]
    valid = [np.asarray(h, dtype=np.int64) for h in (valid or train)]
    test = [np.asarray(h, dtype=np.int64) for h in (test or train)]
    return Split(train, valid, np.zeros(len(valid), dtype=np.int64), test,
                 np.zeros(len(test), dtype=np.int64), n_items, max_history)


# --- vocabulary ------------------------------------------------------------------------------

def test_vocab_puts_each_position_in_its_own_token_block():
    vocab = SidVocab.build(_CODES, _SIZES)
    assert vocab.sid_offset == 6
    assert vocab.item_tokens().tolist() == [_ITEM0, _ITEM1, _ITEM2]
    assert vocab.vocab_size == 6 + 4 + 4 + 2  # no words without interest texts
    assert vocab.encode_history([1, 0]) == [NEXT, *_ITEM1, *_ITEM0]
    assert vocab.encode_history([]) == [NEXT]


def test_vocab_words_keep_frequent_ones_and_map_others_to_unk():
    texts = [["Trail running, trail shoes"], ["running"], []]
    # counts: trail 2, running 2, shoes 1 -> min_count 2 keeps running, trail (ties alphabetical)
    vocab = SidVocab.build(_CODES, _SIZES, texts, min_count=2)
    assert vocab.words == ["running", "trail"]  # tokens 16 and 17
    assert vocab.encode_words("TRAIL shoes running") == [17, UNK, 16]
    assert SidVocab.build(_CODES, _SIZES, texts, min_count=2, max_words=1).words == ["running"]


def test_vocab_decodes_readably_and_round_trips_through_json(tmp_path):
    vocab = SidVocab.build(_CODES, _SIZES, [["trail running"], [], []], min_count=1)
    tokens = [*vocab.encode_history([0, 2]), *vocab.encode_words("trail"), EOS, -100]
    assert vocab.decode(tokens) == "<next> <a_0><b_3><c_1> <a_1><b_0><c_0> trail </s>"
    vocab.save(tmp_path / "vocab.json")
    loaded = SidVocab.load(tmp_path / "vocab.json")
    assert loaded.sizes == _SIZES and loaded.words == vocab.words
    assert np.array_equal(loaded.item_tokens(), vocab.item_tokens())


def test_vocab_load_names_a_truncated_file(tmp_path):
    path = tmp_path / "vocab.json"
    SidVocab.build(_CODES, _SIZES).save(path)
    path.write_text(path.read_text()[:20])
    with pytest.raises(ArtifactError, match=r"vocab\.json: not valid JSON.*truncated; build the "
                                            r"vocabulary with SidVocab\.build"):
        SidVocab.load(path)


@pytest.mark.parametrize("codes, sizes, message", [
    (_CODES, (4, 4), r"D = len\(sizes\) = 2"),
    (_CODES, (2, 4, 2), r"position 0 has codes 0..2 but sizes\[0\] = 2"),
    (np.array([[0, 3, 1], [0, 3, 1]]), _SIZES, "two items share a semantic ID"),
])
def test_vocab_rejects_codes_that_do_not_fit_the_sizes(codes, sizes, message):
    with pytest.raises(ValueError, match=message):
        SidVocab.build(codes, sizes)


# --- task data -------------------------------------------------------------------------------

def test_next_item_windows_cover_every_later_position_of_each_training_sequence():
    vocab = SidVocab.build(_CODES, _SIZES)
    split = _split([[0, 1, 2], [2, 0]])
    # user 0: 0 -> 1 and (0, 1) -> 2; user 1: 2 -> 0; the first item is never a target
    assert next_item_examples(split, vocab, max_history=2) == [
        ([NEXT, *_ITEM0], _ITEM1),
        ([NEXT, *_ITEM0, *_ITEM1], _ITEM2),
        ([NEXT, *_ITEM2], _ITEM0),
    ]
    # max_history 1: the second window sees only item 1
    assert next_item_examples(split, vocab, max_history=1)[1] == ([NEXT, *_ITEM1], _ITEM2)


def test_history_inputs_pad_on_the_right_and_keep_the_latest_items():
    vocab = SidVocab.build(_CODES, _SIZES)
    split = _split([[0, 1], [2]], valid=[[0, 1], [2]], test=[[0, 1, 2], [2, 0]])
    ids, mask = history_inputs(split, vocab, "test", max_history=2)
    # test histories capped at 2 items: (1, 2) and (2, 0) -> 7 tokens each
    assert ids.tolist() == [[NEXT, *_ITEM1, *_ITEM2], [NEXT, *_ITEM2, *_ITEM0]]
    ids, mask = history_inputs(split, vocab, "valid")
    assert ids.tolist() == [[NEXT, *_ITEM0, *_ITEM1], [NEXT, *_ITEM2, 0, 0, 0]]
    assert mask.sum(dim=1).tolist() == [7, 4]


def test_aux_tasks_skip_items_without_interests_and_drop_unknown_words_from_targets():
    texts = [["trail running marathon"], [], ["running"]]
    vocab = SidVocab.build(_CODES, _SIZES, [["trail running"], ["running"]], min_count=1)
    running, trail = 16, 17  # running counted twice, trail once
    assert interest_to_sid_examples(vocab, texts) == [
        ([INT2SID, trail, running, UNK], _ITEM0),  # "marathon" is unknown: UNK in the input
        ([INT2SID, running], _ITEM2),
    ]
    assert sid_to_interest_examples(vocab, texts) == [
        ([SID2INT, *_ITEM0], [trail, running, EOS]),  # ...but never in a target
        ([SID2INT, *_ITEM2], [running, EOS]),
    ]


def test_build_examples_pads_inputs_and_labels_and_trims_each_batch():
    texts = [["trail running"], [], ["running"]]
    vocab = SidVocab.build(_CODES, _SIZES, texts, min_count=1)
    ex = build_examples(_split([[0, 1, 2], [2, 0]]), vocab, texts, max_history=2)
    # 3 next-item windows + 2 items with interests for each aux task
    assert ex.counts() == {"next_item": 3, "interest_to_sid": 2, "sid_to_interest": 2}
    assert ex.inputs.shape == (7, 7)  # longest input: <next> + two items
    assert ex.labels.shape == (7, 3)  # longest target: 3 SID tokens (or 2 words + EOS)
    assert ex.labels[6].tolist() == [16, EOS, -100]  # item 2: "running" + EOS, then padding
    batch = ex.batch(torch.tensor([0, 2]))  # two one-item histories: 4 input tokens
    assert batch["input_ids"].shape == (2, 4) and batch["attention_mask"].all()
    assert batch["labels"].tolist() == [_ITEM1, _ITEM0]


def test_batches_group_rows_by_answer_length_then_input_length_and_cover_every_row_once():
    # 300 short answers (an ID) and 100 long ones (interest text), inputs of mixed lengths
    labels = torch.tensor([3] * 300 + [30] * 100)
    inputs = torch.randint(2, 60, (400,), generator=torch.Generator().manual_seed(1))
    batches = _length_grouped_batches(inputs, labels, 50, torch.Generator().manual_seed(0))
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(400))
    # one chunk of 400 rows, cut after sorting: every batch holds one answer length
    assert all(len(set(labels[b].tolist())) == 1 for b in batches)
    assert all(bool((inputs[b][1:] >= inputs[b][:-1]).all()) for b in batches)
    again = _length_grouped_batches(inputs, labels, 50, torch.Generator().manual_seed(0))
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]


def test_task_mix_switches_tasks_and_refuses_impossible_mixes():
    texts = [["running"], [], ["running"]]
    vocab = SidVocab.build(_CODES, _SIZES, texts, min_count=1)
    split = _split([[0, 1, 2], [2, 0]])
    only_aux = build_examples(split, vocab, texts, TaskMix(next_item=False, sid_to_interest=False))
    assert only_aux.counts() == {"interest_to_sid": 2}
    shallow = build_examples(split, vocab, None, TaskMix(interest_to_sid=False, sid_to_interest=False))
    assert shallow.counts() == {"next_item": 3}
    with pytest.raises(ValueError, match="interest_texts is None"):
        build_examples(split, vocab, None)
    with pytest.raises(ValueError, match="switches every task off"):
        build_examples(split, vocab, texts, TaskMix(False, False, False))
    with pytest.raises(ValueError, match="one list of interest texts per item"):
        build_examples(split, vocab, texts[:2])


def test_task_data_rejects_an_empty_split_or_one_of_another_catalogue():
    vocab = SidVocab.build(_CODES, _SIZES)
    with pytest.raises(ValueError, match="none of the split's 2 training sequences has 2"):
        next_item_examples(_split([[0], [1]]), vocab)
    with pytest.raises(ValueError, match="the split has 5 items but the vocabulary 3"):
        next_item_examples(_split([[0, 1]], n_items=5), vocab)


# --- model and trainer -----------------------------------------------------------------------

def _examples() -> tuple[SidVocab, Examples]:
    texts = [["trail running"], [], ["yoga mat"]]
    vocab = SidVocab.build(_CODES, _SIZES, texts, min_count=1)
    return vocab, build_examples(_split([[0, 1, 2, 0, 1], [2, 0, 1, 2]]), vocab, texts)


def _train(examples, vocab, **kw):
    fit = {k: kw.pop(k) for k in ("validate", "checkpoint_dir") if k in kw}
    cfg = SFTConfig(**{"epochs": 3, "batch_size": 4, "lr": 3e-3, "warmup_ratio": 0.0, **kw})
    return train_sft(build_model(_TINY, vocab), examples, cfg, device="cpu", progress=False, **fit)


def test_build_model_ties_embeddings_and_repeats_with_a_seed():
    vocab, _ = _examples()
    model = build_model(_TINY, vocab, seed=1)
    assert model.lm_head.weight is model.shared.weight
    assert model.shared.num_embeddings == vocab.vocab_size
    assert model.config.decoder_start_token_id == 0 and model.config.eos_token_id == EOS
    same = build_model(_TINY, vocab, seed=1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters()))
    with pytest.raises(ValueError, match="d_model=30 is not divisible by num_heads=4"):
        build_model(ModelConfig(d_model=30, num_heads=4), vocab)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        ModelConfig.for_preset("huge")


def test_a_tiny_model_overfits_a_tiny_dataset():
    vocab, ex = _examples()
    before = teacher_forced_loss(build_model(_TINY, vocab), ex, device="cpu")
    result = _train(ex, vocab, epochs=40, batch_size=12, lr=1e-2)
    losses = result.history["train_loss"].to_numpy()
    # about 4 at the start (a uniform guess over 20 tokens: ln 20 = 3.0); 12 examples are
    # memorised in 40 steps (0.45 with dropout on, 0.29 in eval mode when written)
    assert before > 2.5
    assert losses[-1] < 0.25 * losses[0]
    assert teacher_forced_loss(result.model, ex, device="cpu") < 0.25 * before


def test_training_repeats_exactly_on_cpu():
    vocab, ex = _examples()
    first = _train(ex, vocab).history["train_loss"].tolist()
    assert first == _train(ex, vocab).history["train_loss"].tolist()
    assert first != _train(ex, vocab, seed=1).history["train_loss"].tolist()


class _Interrupted(Exception):
    pass


def _scripted(scores, calls=None, stop_at=None):
    """A fake ``validate``: returns the next score; raises on call ``stop_at`` (1-based)."""
    calls = [] if calls is None else calls

    def validate(model):
        calls.append({k: v.clone() for k, v in model.state_dict().items()})
        if len(calls) == stop_at:
            raise _Interrupted
        return {"NDCG@10": scores[len(calls) - 1], "HR@10": 0.5}
    return validate


def test_an_interrupted_run_resumes_from_last_pt_to_the_same_result(tmp_path):
    vocab, ex = _examples()
    scores = [0.1, 0.2, 0.3, 0.4]
    whole = _train(ex, vocab, epochs=4, validate=_scripted(scores))
    with pytest.raises(_Interrupted):  # dies during epoch 3's validation: last.pt holds epoch 2
        _train(ex, vocab, epochs=4, validate=_scripted(scores, stop_at=3), checkpoint_dir=tmp_path)
    calls = []
    resumed = _train(ex, vocab, epochs=4, validate=_scripted(scores[2:], calls),
                     checkpoint_dir=tmp_path)
    assert len(calls) == 2  # only epochs 3 and 4 ran again
    assert resumed.history["epoch"].tolist() == [1, 2, 3, 4]
    assert resumed.history["train_loss"].tolist() == whole.history["train_loss"].tolist()
    assert resumed.best_epoch == whole.best_epoch == 4
    for a, b in zip(resumed.model.parameters(), whole.model.parameters()):
        assert torch.equal(a, b)


def test_a_finished_run_is_extended_by_asking_for_more_epochs(tmp_path):
    vocab, ex = _examples()
    short = _train(ex, vocab, epochs=2, checkpoint_dir=tmp_path)
    longer = _train(ex, vocab, epochs=4, checkpoint_dir=tmp_path)
    assert longer.history["epoch"].tolist() == [1, 2, 3, 4]
    assert longer.history["train_loss"][:2].tolist() == short.history["train_loss"].tolist()
    with pytest.raises(ValueError, match="comes from another run"):
        train_sft(build_model(ModelConfig(d_model=16, num_layers=1, num_decoder_layers=1,
                                          num_heads=2, d_ff=32), vocab),
                  ex, SFTConfig(epochs=5), device="cpu", checkpoint_dir=tmp_path, progress=False)


def test_early_stopping_restores_the_best_epochs_weights(tmp_path):
    vocab, ex = _examples()
    calls = []
    # best at epoch 2; epochs 3 and 4 do not beat it -> patience 2 stops after epoch 4
    result = _train(ex, vocab, epochs=10, patience=2, checkpoint_dir=tmp_path,
                    validate=_scripted([0.1, 0.3, 0.2, 0.25, 0.9], calls))
    assert result.history["epoch"].tolist() == [1, 2, 3, 4]
    assert result.history["NDCG@10"].tolist() == [0.1, 0.3, 0.2, 0.25]
    assert (result.best_epoch, result.best_score) == (2, 0.3)
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, calls[1][name])  # the weights validation saw after epoch 2
    from_disk = load_model(tmp_path / "best.pt", vocab)
    assert all(torch.equal(a, b) for a, b in zip(from_disk.parameters(), result.model.parameters()))


def test_validation_every_other_epoch_counts_patience_in_epochs():
    vocab, ex = _examples()
    # validations after epochs 2, 4, 6: 0.3, 0.2 (2 stale epochs = patience) -> stop after 4
    result = _train(ex, vocab, epochs=10, patience=2, eval_every=2,
                    validate=_scripted([0.3, 0.2, 0.9]))
    assert result.history["epoch"].tolist() == [1, 2, 3, 4]
    assert result.best_epoch == 2


def test_patience_ends_a_run_only_after_min_epochs():
    vocab, ex = _examples()
    # best at epoch 1, nothing better after: patience 2 alone stops after epoch 3, the floor at 5
    result = _train(ex, vocab, epochs=10, patience=2, min_epochs=5,
                    validate=_scripted([0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9]))
    assert result.history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert result.best_epoch == 1
    with pytest.raises(ValueError, match="SFTConfig.min_epochs=11"):
        _train(ex, vocab, epochs=10, min_epochs=11)


def test_trainer_rejects_a_validate_without_the_monitored_metric_and_bad_configs(tmp_path):
    vocab, ex = _examples()
    with pytest.raises(ValueError, match=r"without 'NDCG@10'.*SFTConfig.monitor"):
        _train(ex, vocab, validate=lambda model: {"hr": 0.1})
    with pytest.raises(ValueError, match="SFTConfig.batch_size=0"):
        _train(ex, vocab, batch_size=0)
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        load_model(tmp_path / "missing.pt", vocab)
    save_model(build_model(_TINY, vocab), tmp_path / "m.pt")
    other = SidVocab.build(_CODES, (4, 4, 3))
    with pytest.raises(ValueError, match="vocabulary of 20 tokens but this vocab has 17"):
        load_model(tmp_path / "m.pt", other)


def test_load_model_names_a_truncated_file(tmp_path):
    vocab, _ = _examples()
    path = tmp_path / "best.pt"
    save_model(build_model(_TINY, vocab), path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ArtifactError, match=r"best\.pt: cannot be read.*truncated; train a model "
                                            r"with train_sft"):
        load_model(path, vocab)


def test_sft_config_reads_epochs_and_batch_size_from_the_preset():
    cfg = SFTConfig.for_preset("ci", lr=5e-4)
    assert (cfg.epochs, cfg.batch_size, cfg.lr) == (2, 128, 5e-4)
    tutorial = SFTConfig.for_preset("tutorial")
    assert (tutorial.epochs, tutorial.min_epochs) == (20, 15)  # the floor: 3/4 of the epochs
    assert SFTConfig.for_preset("tutorial", epochs=8).min_epochs == 6
