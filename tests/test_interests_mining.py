"""MLIM runs: the judge, mining through a backend and the cache, the bundled LLM, the CLI stage."""
import json
from pathlib import Path

import numpy as np
import pytest

from digr_utils.config import PRESETS
from digr_utils.data.dataset import from_sequences
from digr_utils.interests.backends import Completion, GenerationSettings, LocalHF
from digr_utils.interests.scoring import MotiveMatcher, score
from digr_utils.interests.mining import mine_items, prompt_key
from digr_utils.interests.types import Interest, Mined


def _one_hot_embed(vocabulary: dict[str, int]):
    """An 'encoder' that maps known texts to one-hot vectors and anything else to zeros."""
    size = max(vocabulary.values()) + 1

    def embed(texts):
        out = np.zeros((len(texts), size), dtype=np.float32)
        for row, t in enumerate(texts):
            if t in vocabulary:
                out[row, vocabulary[t]] = 1.0
        return out
    return embed


def _matcher():
    # the reference texts of two motives get directions 0 and 1; every other reference gets 2
    from digr_utils.data.references import REFERENCES

    vocab = {}
    for key, references in REFERENCES.items():
        for text in references:
            vocab[text] = {"marathon": 0, "eco": 1}.get(key, 2)
    vocab.update({"running a race": 0, "less plastic": 1})
    return MotiveMatcher(_one_hot_embed(vocab), threshold=0.5)


def test_matcher_names_the_closest_motive_or_none():
    assert _matcher().match(["running a race", "less plastic", "wants a good mug"]) == \
        ["marathon", "eco", None]


def test_score_by_hand():
    mined = [Mined("a", "x", "m", [Interest("running a race"), Interest("wants a good mug")]),
             Mined("b", "x", "m", [Interest("running a race")]),
             Mined("c", "x", "m", error="parse: empty answer")]
    truth = [{"marathon", "eco"}, {"eco"}, {"eco"}]
    got = score(mined, truth, _matcher())
    # 3 statements: 1 right (a's race), 1 wrong motive (b's race), 1 naming none (the mug)
    assert got["precision"] == pytest.approx(1 / 3)
    # 4 true motives, 1 named (a: marathon)
    assert got["recall"] == pytest.approx(1 / 4)
    assert got["echo_share"] == pytest.approx(1 / 3)
    assert got["interests_per_entity"] == pytest.approx(1.0)
    assert got["parse_failures"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="align them by entity"):
        score(mined, truth[:2], _matcher())


class _Canned:
    """A backend that answers from a script and counts what it was asked."""

    name, model = "fake", "canned"
    settings = GenerationSettings(batch_size=2)

    def __init__(self, answers):
        self.answers, self.asked = list(answers), 0

    def settings_tag(self):
        return "t1"

    def complete(self, conversations):
        self.asked += len(conversations)
        return [self.answers.pop(0) for _ in conversations]


def _tiny_dataset():
    ds = from_sequences("toy", {"u": ["a", "b", "c"]})
    ds.items["title"] = ["Red Mug", "Blue Socks", "Lamp"]
    ds.items["description"] = ["Holds tea.", "Warm.", "Bright."]
    return ds


def test_mine_items_parses_records_failures_and_resumes(tmp_path):
    backend = _Canned([Completion('{"interests": [{"interest": "slow mornings", "confidence": 0.8}]}', 5),
                       Completion("no idea", 2),
                       Completion(error="prompt of 9000 tokens exceeds the model's context")])
    with pytest.warns(UserWarning, match="1 of 3 calls failed"):
        mined, summary = mine_items(_tiny_dataset(), backend, tmp_path / "c.jsonl", progress=False)
    assert [m.entity for m in mined] == ["a", "b", "c"]
    assert mined[0].interests == [Interest("slow mornings", 0.8)] and mined[0].tokens == 5
    assert mined[1].error.startswith("parse:") and mined[1].raw == "no idea" and not mined[1].failed
    assert "context" in mined[2].error and mined[2].failed
    assert (summary["calls"], summary["failures"], summary["parse_failures"],
            summary["tokens"]) == (3, 1, 1, 7)
    again = _Canned([Completion('{"interests": [{"interest": "bright rooms"}]}', 3)])
    mined, summary = mine_items(_tiny_dataset(), again, tmp_path / "c.jsonl", progress=False)
    # only the failed call is asked again; the unparsed answer stays (a better parser may read it)
    assert again.asked == 1 and summary["cache_hits"] == 2
    assert mined[2].interests == [Interest("bright rooms")]


@pytest.mark.parametrize("dead", [Completion(""), Completion("  \n"),
                                  Completion(error="HTTP 401 from http://h/v1: 'bad key'")])
def test_an_empty_or_refused_answer_is_asked_again(tmp_path, dead):
    ds = _tiny_dataset()
    with pytest.warns(UserWarning, match="3 of 3 calls failed"):
        mined, summary = mine_items(ds, _Canned([dead] * 3), tmp_path / "c.jsonl", progress=False)
    assert all(m.failed for m in mined) and summary["failures"] == 3
    healthy = _Canned([Completion('{"interests": [{"interest": "x"}]}')] * 3)
    _, summary = mine_items(ds, healthy, tmp_path / "c.jsonl", progress=False)
    assert healthy.asked == 3 and (summary["calls"], summary["failures"]) == (3, 0)


def test_another_dataset_with_the_same_ids_is_mined_again(tmp_path):
    cache = tmp_path / "c.jsonl"
    answer = Completion('{"interests": [{"interest": "slow mornings"}]}')
    mine_items(_tiny_dataset(), _Canned([answer] * 3), cache, progress=False)
    other = _tiny_dataset()
    other.items["title"] = ["Red Mug", "Green Hat", "Lamp"]  # item "b" is another product now
    backend = _Canned([Completion('{"interests": [{"interest": "winter walks"}]}')])
    mined, summary = mine_items(other, backend, cache, progress=False)
    assert backend.asked == 1 and summary["cache_hits"] == 2
    assert mined[1].interests == [Interest("winter walks")]
    unchanged = _Canned([])
    mine_items(_tiny_dataset(), unchanged, cache, progress=False)  # the first text still hits
    assert unchanged.asked == 0


def test_simulated_answers_are_keyed_by_the_shop_not_only_the_ids(tmp_path):
    from digr_utils.data.world import load_shop
    from digr_utils.interests.mining import mine_simulated
    from digr_utils.interests.simulated import default_panel

    careful = default_panel(0)[0]
    shop = load_shop(PRESETS["ci"])
    first, _ = mine_simulated(careful, shop, tmp_path / "c.jsonl", progress=False)
    shop.item_motives[0] = ("coffee",) if shop.item_motives[0] != ("coffee",) else ("yoga",)
    again, summary = mine_simulated(careful, shop, tmp_path / "c.jsonl", progress=False)
    assert (summary["calls"], summary["cache_hits"]) == (1, shop.dataset.n_items - 1)
    assert again[1:] == first[1:]


def test_prompt_key_names_version_shots_cues_and_settings():
    assert prompt_key(_Canned([]), 1, with_visual=True).endswith("/1-shot/visual/t1")


@pytest.fixture(scope="module")
def smollm2():
    return LocalHF(device="cpu", settings=GenerationSettings(max_new_tokens=4, batch_size=2))


def test_bundled_smollm2_answers_with_the_prefill(smollm2):
    done = smollm2.complete([[{"role": "user", "content": "Why buy a kettle?"}]] * 2)
    assert len(done) == 2
    for c in done:
        assert c.error is None and c.text.startswith('{"interests": [{"interest": "')
        assert 1 <= c.tokens <= 4
    assert done[0].text == done[1].text  # greedy: same prompt, same answer


def test_the_bundled_model_is_read_from_its_plain_copy_under_the_gguf_name(smollm2, monkeypatch):
    """Once a copy is in the model cache, no later load parses the GGUF; cache keys still name it."""
    import transformers

    from digr_utils.interests.backends import SMOLLM2_GGUF, smollm2_plain

    assert smollm2.model.endswith(SMOLLM2_GGUF)
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= {
        p.name for p in smollm2_plain().iterdir()}
    read = []
    original = transformers.AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda path, **kw: read.append((str(path), kw.get("gguf_file"))) or original(path, **kw))
    again = LocalHF(device="cpu", settings=smollm2.settings)
    assert read == [(str(smollm2_plain()), None)] and again.model == smollm2.model


def test_the_model_cache_is_shared_unless_digr_models_moves_it(monkeypatch, tmp_path):
    from digr_utils.interests.backends import model_cache

    monkeypatch.delenv("DIGR_MODELS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache() == tmp_path / "xdg" / "digr_utils" / "models"  # not under DIGR_CACHE
    monkeypatch.setenv("DIGR_MODELS", str(tmp_path / "mine"))
    assert model_cache() == tmp_path / "mine"


def test_a_prompt_longer_than_the_context_is_a_recorded_failure(smollm2):
    huge = [{"role": "user", "content": "word " * (smollm2.context + 10)}]
    ok = [{"role": "user", "content": "Why buy a kettle?"}]
    done = smollm2.complete([huge, ok])
    assert "exceeds the model's context" in done[0].error and done[1].error is None


def test_a_missing_model_path_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LocalHF(tmp_path / "nope")


def test_mine_stage_scores_the_simulated_panel(tmp_path, monkeypatch, capsys):
    from digr_utils.cli import main

    monkeypatch.setenv("DIGR_ARTIFACTS", str(tmp_path))
    assert main(["mine", "--preset", "ci"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    llms = figures["llms"]
    assert set(llms) == {"simulated-sim-careful", "simulated-sim-eager", "simulated-sim-shallow",
                         "merged (support >= 2)"}
    assert set(figures["users"]) == {"simulated-sim-careful", "simulated-sim-eager",
                                      "simulated-sim-shallow"}
    # agreement filters: merged interests are more precise than the eager annotator's
    assert llms["merged (support >= 2)"]["precision"] > llms["simulated-sim-eager"]["precision"]
    # the careful annotator is tuned for precision, the eager one for recall
    assert llms["simulated-sim-careful"]["precision"] > llms["simulated-sim-eager"]["precision"]
    assert llms["simulated-sim-eager"]["recall"] > llms["simulated-sim-careful"]["recall"]
    assert figures["interests"] == "panel"
    assert json.loads((Path(figures["run"]) / "metrics.json").read_text()) == figures


def test_visual_cues_need_images(tmp_path, capsys):
    from digr_utils.cli import main

    (tmp_path / "X.inter.json").write_text(json.dumps(
        {str(u): [(u + j) % 7 for j in range(5)] for u in range(7)}))
    assert main(["mine", "--preset", "ci", "--interests", "openai", "--base-url",
                 "http://127.0.0.1:9/v1", "--model", "m", "--visual-cues", "--data",
                 str(tmp_path), "--format", "letter", "--name", "X"]) == 2
    assert "visual cues need item images" in capsys.readouterr().err


def test_the_simulated_panel_cannot_mine_real_data(tmp_path, capsys):
    from digr_utils.cli import main

    (tmp_path / "X.inter.json").write_text(json.dumps(
        {str(u): [(u + j) % 7 for j in range(5)] for u in range(7)}))
    assert main(["mine", "--preset", "ci", "--data", str(tmp_path), "--format", "letter",
                 "--name", "X"]) == 2
    assert "hidden motives" in capsys.readouterr().err


@pytest.mark.parametrize("preset, n_items", [("ci", 225), ("tutorial", 827)])
def test_shipped_smollm2_answers_are_keyed_by_their_prompts(tmp_path, preset, n_items):
    import shutil

    from digr_utils.data.world import DATA_DIR, load_shop
    from digr_utils.interests.mining import cached_items

    path = DATA_DIR / "llm" / f"smollm2_{preset}.jsonl"
    record = json.loads(path.with_suffix(".json").read_text())
    ds = load_shop(PRESETS[preset]).dataset
    mined = cached_items(ds, path, record["backend"], record["model"], record["prompt_key"],
                         n_examples=record["n_examples"])
    assert len(mined) == n_items == record["items"] and all(m is not None for m in mined)
    assert all(m.raw.startswith(record["settings"]["prefill"]) for m in mined if m.error is None)

    class Shipped(_Canned):  # what mining with the bundled SmolLM2 looks up, loading no model
        name, model = record["backend"], record["model"]

        def settings_tag(self):
            return record["prompt_key"].rsplit("/", 1)[1]

    copy = tmp_path / "smollm2.jsonl"
    shutil.copyfile(path, copy)  # what the smollm2 stage does before mining
    backend = Shipped([])
    _, summary = mine_items(ds, backend, copy, n_examples=record["n_examples"], progress=False)
    assert backend.asked == 0 and summary["cache_hits"] == n_items


def test_merged_correctness_by_hand():
    from digr_utils.interests.scoring import merged_correctness
    from digr_utils.interests.merge import MergedInterest

    merged = [[MergedInterest("running a race", 0.9, 2, ("a", "b"), ("running a race",)),
               MergedInterest("wants a good mug", 0.5, 1, ("a",), ("wants a good mug",))],
              [MergedInterest("less plastic", 0.7, 1, ("b",), ("less plastic",))]]
    graded = merged_correctness(merged, [{"marathon"}, {"marathon"}], _matcher())
    assert graded.to_dict("list") == {"support": [2, 1, 1], "correct": [True, False, False]}
