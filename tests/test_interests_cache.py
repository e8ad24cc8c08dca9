"""The mining cache: round trip, keys by what was asked, failures retried, resume after an
interruption, crash-truncated and corrupt files."""
import json

import pytest

from digr_utils.interests.cache import MiningCache, mine_all, prompt_sha1
from digr_utils.interests.types import Interest, Mined

H = prompt_sha1("the question")


def _answer(entity: str) -> Mined:
    return Mined(entity, "fake", "m1", [Interest(f"likes {entity}", 0.9), Interest("misc")],
                 reasoning="r", raw="{}", tokens=10)


def _asked(entities) -> dict:
    return {e: f"why buy {e}?" for e in entities}


def _each(answer_one):
    """A batched call from a one-entity function."""
    return lambda batch: [answer_one(e) for e in batch]


def test_round_trip_and_later_lines_win(tmp_path):
    path = tmp_path / "sub" / "cache.jsonl"
    cache = MiningCache(path)
    cache.put(_answer("a"), "v1", H)
    cache.put(_answer("b"), "v1", H)
    newer = Mined("a", "fake", "m1", [Interest("newer", 0.1)])
    cache.put(newer, "v1", H)
    reopened = MiningCache(path)
    assert len(reopened) == 2
    assert reopened.get(("fake", "m1", "v1", "a", H)) == newer
    assert reopened.get(("fake", "m1", "v1", "b", H)) == _answer("b")
    other_version = ("fake", "m1", "v2", "b", H)
    assert other_version not in reopened and reopened.get(other_version) is None
    assert reopened.get(("fake", "m1", "v1", "b", prompt_sha1("another question"))) is None
    assert len(path.read_text().splitlines()) == 3  # append-only


def test_prompt_hash_is_short_and_follows_the_text_only():
    messages = [{"role": "user", "content": "Title: Mug"}]
    assert prompt_sha1(messages) == prompt_sha1([{"content": "Title: Mug", "role": "user"}])
    assert prompt_sha1(messages) != prompt_sha1([{"role": "user", "content": "Title: Lamp"}])
    assert len(prompt_sha1(messages)) == 12


def test_a_key_without_the_prompt_hash_is_refused(tmp_path):
    with pytest.raises(TypeError, match="must be \\(backend, model, prompt_version, entity, "
                                        "prompt_sha1\\)"):
        MiningCache(tmp_path / "c.jsonl").get(("fake", "m1", "v1", "a"))


def test_same_id_asked_other_text_is_mined_again_same_text_is_not(tmp_path):
    path = tmp_path / "cache.jsonl"
    called = []

    def answer(entity):
        called.append(entity)
        return _answer(entity)

    mine_all({"a": "Title: Red Mug"}, _each(answer), MiningCache(path), "v1", "fake", "m1",
             progress=False)
    # a second dataset reuses id "a" for another item: it must not get the mug's answer
    _, summary = mine_all({"a": "Title: Blue Socks"}, _each(answer), MiningCache(path), "v1",
                          "fake", "m1", progress=False)
    assert called == ["a", "a"] and summary["cache_hits"] == 0
    _, summary = mine_all({"a": "Title: Red Mug"}, _each(answer), MiningCache(path), "v1",
                          "fake", "m1", progress=False)
    assert called == ["a", "a"] and summary["cache_hits"] == 1


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
        mine_all(_asked(entities), _each(interrupted), MiningCache(path), "v1", "fake", "m1",
                 progress=False)
    assert called == ["a", "b"]

    called.clear()
    results, summary = mine_all(_asked(entities), _each(lambda e: called.append(e) or _answer(e)),
                                MiningCache(path), "v1", "fake", "m1", progress=False)
    assert called == ["c", "d", "e"]
    assert [m.entity for m in results] == entities
    assert {k: summary[k] for k in ("calls", "cache_hits", "failures", "tokens")} == \
        {"calls": 3, "cache_hits": 2, "failures": 0, "tokens": 30}

    _, again = mine_all(_asked(entities), _each(lambda e: pytest.fail("a full cache must not call")),
                        MiningCache(path), "v1", "fake", "m1", progress=False)
    assert (again["calls"], again["cache_hits"]) == (0, 5)


def test_a_failed_call_is_logged_but_never_served_an_unparsed_answer_is_kept(tmp_path):
    path = tmp_path / "cache.jsonl"
    refused = Mined("a", "fake", "m1", error="HTTP 500 from http://h/v1 (after 4 tries)",
                    failed=True)
    unparsed = Mined("b", "fake", "m1", raw="no idea", error="parse: no JSON object")
    cache = MiningCache(path)
    cache.put(refused, "v1", H)
    cache.put(unparsed, "v1", H)
    reopened = MiningCache(path)
    assert reopened.get(("fake", "m1", "v1", "a", H)) is None and len(reopened) == 1
    assert reopened.get(("fake", "m1", "v1", "b", H)) == unparsed  # raw kept for a better parser
    log = [json.loads(line) for line in path.read_text().splitlines()]
    assert (log[0]["failed"], log[0]["error"]) == (True, "HTTP 500 from http://h/v1 (after 4 tries)")


def test_failed_calls_are_summarised_and_retried_next_run(tmp_path):
    path = tmp_path / "cache.jsonl"
    down = "could not reach http://h/v1: connection refused"

    def sick(entity):
        if entity == "c":
            return Mined("c", "fake", "m1", raw="garbage", error="parse: no JSON object")
        return Mined(entity, "fake", "m1", error=down, failed=True)

    with pytest.warns(UserWarning, match=f"mining m1: 2 of 3 calls failed and will be asked "
                                         f"again on the next run; first reason: {down}"):
        results, summary = mine_all(_asked("abc"), _each(sick), MiningCache(path), "v1", "fake",
                                    "m1", progress=False)
    assert [m.failed for m in results] == [True, True, False]
    assert {k: summary[k] for k in ("calls", "failures", "failure_reasons", "parse_failures")} == \
        {"calls": 3, "failures": 2, "failure_reasons": {down: 2}, "parse_failures": 1}
    called = []
    _, summary = mine_all(_asked("abc"), _each(lambda e: called.append(e) or _answer(e)),
                          MiningCache(path), "v1", "fake", "m1", progress=False)
    assert called == ["a", "b"]  # the healthy server is asked again; the unparsed answer is kept
    assert (summary["calls"], summary["cache_hits"], summary["failures"]) == (2, 1, 0)


def test_a_raising_call_fails_its_batch_and_is_retried(tmp_path):
    def fails_on_c(batch):
        if "c" in batch:
            raise ConnectionError("refused")
        return [_answer(e) for e in batch]

    path = tmp_path / "c.jsonl"
    with pytest.warns(UserWarning, match="2 of 4 calls failed"):
        results, summary = mine_all(_asked("abcd"), fails_on_c, MiningCache(path), "v1", "fake",
                                    "m1", batch_size=2, progress=False)
    assert [m.error for m in results] == [None, None, "ConnectionError: refused",
                                          "ConnectionError: refused"]
    assert (summary["calls"], summary["failures"], summary["tokens"]) == (4, 2, 20)
    assert summary["failure_reasons"] == {"ConnectionError: refused": 2}
    _, summary = mine_all(_asked("abcd"), _each(_answer), MiningCache(path), "v1", "fake", "m1",
                          batch_size=2, progress=False)
    assert (summary["calls"], summary["cache_hits"], summary["failures"]) == (2, 2, 0)


def test_lines_without_a_prompt_hash_are_not_served(tmp_path):
    path = tmp_path / "cache.jsonl"
    old = {"prompt_version": "v1", "entity": "a", "backend": "fake", "model": "m1",
           "interests": [{"text": "likes a", "confidence": 0.9}]}
    path.write_text(json.dumps(old) + "\n")
    with pytest.warns(UserWarning, match=r"cache\.jsonl: 1 lines carry no prompt hash"):
        cache = MiningCache(path)
    assert len(cache) == 0


def test_truncated_last_line_is_ignored_then_cut_off(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = MiningCache(path)
    cache.put(_answer("a"), "v1", H)
    cache.put(_answer("b"), "v1", H)
    text = path.read_text()
    path.write_text(text[: len(text) - 25])  # a crash in the middle of writing line 2
    with pytest.warns(UserWarning, match=r"cache\.jsonl, line 2: ignoring a truncated last line"):
        reopened = MiningCache(path)
    assert len(reopened) == 1 and ("fake", "m1", "v1", "b", H) not in reopened
    reopened.put(_answer("c"), "v1", H)
    assert len(MiningCache(path)) == 2  # the partial line was cut, so the file loads cleanly


def test_corrupt_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "cache.jsonl"
    cache = MiningCache(path)
    for entity in "abc":
        cache.put(_answer(entity), "v1", H)
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = "{not json\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"cache\.jsonl, line 2: not valid JSON"):
        MiningCache(path)
    path.write_text(lines[0] + '{"backend": "fake"}\n' + lines[2])
    with pytest.raises(ValueError, match=r"line 2: missing field 'model'"):
        MiningCache(path)
