"""The mining cache: round trip, resume after an interruption, crash-truncated and corrupt files."""
import pytest

from digr_utils.interests.cache import MiningCache, mine_all
from digr_utils.interests.types import Interest, Mined


def _answer(entity: str) -> Mined:
    return Mined(entity, "fake", "m1", [Interest(f"likes {entity}", 0.9), Interest("misc")],
                 reasoning="r", raw="{}", tokens=10)


def test_round_trip_and_later_lines_win(tmp_path):
    path = tmp_path / "sub" / "cache.jsonl"
    cache = MiningCache(path)
    cache.put(_answer("a"), "v1")
    cache.put(_answer("b"), "v1")
    newer = Mined("a", "fake", "m1", [Interest("newer", 0.1)])
    cache.put(newer, "v1")
    reopened = MiningCache(path)
    assert len(reopened) == 2
    assert reopened.get(("fake", "m1", "v1", "a")) == newer
    assert reopened.get(("fake", "m1", "v1", "b")) == _answer("b")
    other_version = ("fake", "m1", "v2", "b")
    assert other_version not in reopened and reopened.get(other_version) is None
    assert len(path.read_text().splitlines()) == 3  # append-only


def test_resume_calls_only_the_rest(tmp_path):
    path = tmp_path / "cache.jsonl"
    entities = ["a", "b", "c", "d", "e"]
    called = []

    def interrupted(entity):
        if len(called) == 2:
            raise KeyboardInterrupt  # not an Exception: it stops the run, like Ctrl-C
        called.append(entity)
        return _answer(entity)

    with pytest.raises(KeyboardInterrupt):
        mine_all(entities, _each(interrupted), MiningCache(path), "v1", "fake", "m1", progress=False)
    assert called == ["a", "b"]

    called.clear()
    results, summary = mine_all(entities, _each(lambda e: called.append(e) or _answer(e)),
                                MiningCache(path), "v1", "fake", "m1", progress=False)
    assert called == ["c", "d", "e"]
    assert [m.entity for m in results] == entities
    assert {k: summary[k] for k in ("calls", "cache_hits", "failures", "tokens")} == \
        {"calls": 3, "cache_hits": 2, "failures": 0, "tokens": 30}

    _, again = mine_all(entities, _each(lambda e: pytest.fail("a full cache must not call")),
                        MiningCache(path), "v1", "fake", "m1", progress=False)
    assert (again["calls"], again["cache_hits"]) == (0, 5)


def test_a_failing_call_is_recorded_and_retried_next_run(tmp_path):
    cache = MiningCache(tmp_path / "cache.jsonl")

    def flaky(entity):
        if entity == "b":
            raise TimeoutError("server did not answer")
        return _answer(entity)

    results, summary = mine_all(["a", "b", "c"], _each(flaky), cache, "v1", "fake", "m1", progress=False)
    assert results[1].error == "TimeoutError: server did not answer" and results[1].interests == []
    assert (summary["calls"], summary["failures"], summary["tokens"]) == (3, 1, 20)
    _, summary = mine_all(["a", "b", "c"], _each(_answer), cache, "v1", "fake", "m1", progress=False)
    assert (summary["calls"], summary["cache_hits"], summary["failures"]) == (1, 2, 0)


def test_a_failing_batch_fails_each_of_its_entities(tmp_path):
    def fails_on_c(batch):
        if "c" in batch:
            raise ConnectionError("refused")
        return [_answer(e) for e in batch]

    results, summary = mine_all(["a", "b", "c", "d"], fails_on_c, MiningCache(tmp_path / "c.jsonl"),
                                "v1", "fake", "m1", batch_size=2, progress=False)
    assert [m.error for m in results] == [None, None, "ConnectionError: refused",
                                          "ConnectionError: refused"]
    assert (summary["calls"], summary["failures"]) == (4, 2)


def _each(answer_one):
    """A batched call from a one-entity function."""
    return lambda batch: [answer_one(e) for e in batch]


def test_truncated_last_line_is_ignored_then_cut_off(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = MiningCache(path)
    cache.put(_answer("a"), "v1")
    cache.put(_answer("b"), "v1")
    text = path.read_text()
    path.write_text(text[: len(text) - 25])  # a crash in the middle of writing line 2
    with pytest.warns(UserWarning, match=r"cache\.jsonl, line 2: ignoring a truncated last line"):
        reopened = MiningCache(path)
    assert len(reopened) == 1 and ("fake", "m1", "v1", "b") not in reopened
    reopened.put(_answer("c"), "v1")
    assert len(MiningCache(path)) == 2  # the partial line was cut, so the file loads cleanly


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = MiningCache(path)
    for entity in "abc":
        cache.put(_answer(entity), "v1")
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"cache\.jsonl, line 2: not valid JSON"):
        MiningCache(path)
    path.write_text(lines[0] + '{"backend": "fake"}\n' + lines[2])
    with pytest.raises(ValueError, match=r"line 2: missing field 'model'"):
        MiningCache(path)
