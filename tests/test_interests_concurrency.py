"""Mining with many calls in flight: the pool stays bounded, answers that arrive out of order
land in the right place, an interrupted run resumes without losing or repeating an answer, and
a server client is fed one conversation per thread, retried when the server is busy."""
import json
import threading
import time
from collections import Counter

import pandas as pd
import pytest

from digr_utils.data.dataset import from_sequences
from digr_utils.interests.cache import MiningCache, mine_all
from digr_utils.interests.mining import mine_items
from digr_utils.interests.openai_client import OpenAICompatible
from digr_utils.interests.types import Interest, Mined

ENTITIES = [f"e{i}" for i in range(12)]


class _InFlight:
    """Counts calls running at once; ``most`` is the high-water mark."""

    def __init__(self):
        self.now = self.most = 0
        self.lock = threading.Lock()

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def _answer(entity: str) -> Mined:
    return Mined(entity, "fake", "m1", [Interest(f"likes {entity}", 0.9)], raw="{}", tokens=1)


def _lines_per_entity(path) -> Counter:
    return Counter(json.loads(line)["entity"] for line in path.read_text().splitlines())


def test_calls_are_bounded_and_out_of_order_answers_are_cached_once_each(tmp_path):
    flight, finished = _InFlight(), []

    def call(batch):
        with flight:
            time.sleep(0.02 * (len(ENTITIES) - int(batch[0][1:])) / 4)  # later ones come back first
        finished.append(batch[0])
        return [_answer(e) for e in batch]

    path = tmp_path / "cache.jsonl"
    asked = {e: f"why {e}?" for e in ENTITIES}
    got, summary = mine_all(asked, call, MiningCache(path), "v1", "fake", "m1",
                            progress=False, workers=3)
    assert flight.most == 3  # the pool was full and never more than full
    assert finished != ENTITIES  # answers did arrive out of order...
    assert [m.entity for m in got] == ENTITIES  # ...and still come back in the asked order
    assert summary["calls"] == len(ENTITIES)
    assert _lines_per_entity(path) == Counter(ENTITIES)
    _, again = mine_all(asked, call, MiningCache(path), "v1", "fake", "m1", progress=False,
                        workers=3)
    assert (again["calls"], again["cache_hits"]) == (0, len(ENTITIES))


def test_an_interrupted_concurrent_run_resumes_without_losing_or_repeating_answers(tmp_path):
    path = tmp_path / "cache.jsonl"
    asked = {e: f"why {e}?" for e in ENTITIES}

    def interrupted(batch):
        if batch == ["e6"]:
            time.sleep(0.05)  # let the calls before it come back and be written first
            raise KeyboardInterrupt  # Ctrl-C in the middle of a run
        return [_answer(e) for e in batch]

    with pytest.raises(KeyboardInterrupt):
        mine_all(asked, interrupted, MiningCache(path), "v1", "fake", "m1", progress=False,
                 workers=2)
    kept = _lines_per_entity(path)
    assert set(kept) >= {"e0", "e1", "e2", "e3"} and "e6" not in kept
    assert max(kept.values()) == 1

    asked_again = []

    def resumed(batch):
        asked_again.extend(batch)
        return [_answer(e) for e in batch]

    got, summary = mine_all(asked, resumed, MiningCache(path), "v1", "fake", "m1",
                            progress=False, workers=2)
    assert sorted(asked_again) == sorted(set(ENTITIES) - set(kept))  # only what was missing
    assert summary["cache_hits"] == len(kept)
    assert _lines_per_entity(path) == Counter(ENTITIES)  # every answer once, none lost
    assert [m.entity for m in got] == ENTITIES and not any(m.failed for m in got)


@pytest.fixture
def busy_server(local_server):
    """A chat server that answers every conversation after 50 ms, but refuses each one's first
    try with 503; it records the most requests it held at once."""
    flight, tries = _InFlight(), Counter()

    def handle(method, headers, body):
        question = json.dumps(json.loads(body)["messages"])
        with flight.lock:
            tries[question] += 1
            first = tries[question] == 1
        if first:
            return 503, {}, b"busy"
        with flight:
            time.sleep(0.05)
        return 200, {}, json.dumps({"choices": [{"message": {
            "content": '{"interests": [{"interest": "gift giving", "confidence": 0.8}]}'}}],
            "usage": {"completion_tokens": 7}}).encode()

    return f"{local_server(handle)}/v1", flight, tries


def test_mine_items_through_a_server_retries_and_keeps_its_pool_bounded(tmp_path, busy_server):
    url, flight, tries = busy_server
    items = pd.DataFrame({"title": [f"Gift box no. {i}" for i in range(10)],
                          "description": ["A box."] * 10}, index=[f"i{i}" for i in range(10)])
    ds = from_sequences("toy", {f"u{u}": [f"i{(u + k) % 10}" for k in range(3)] for u in range(10)},
                        items)
    client = OpenAICompatible(url, "m", api_key_env=None, backoff=0.01, concurrency=4)
    got, summary = mine_items(ds, client, tmp_path / "cache.jsonl", progress=False)
    assert summary["calls"] == ds.n_items == 10 and summary["failures"] == 0
    assert all(m.interests[0].text == "gift giving" for m in got)
    assert set(tries.values()) == {2}  # each refused once, retried once
    assert flight.most == 4  # four conversations at a time, never more
    assert summary["tokens"] == 70


def test_concurrency_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.delenv("DIGR_LLM_CONCURRENCY", raising=False)
    assert OpenAICompatible("http://localhost:8000/v1", "m").concurrency == 8
    monkeypatch.setenv("DIGR_LLM_CONCURRENCY", "3")
    assert OpenAICompatible("http://localhost:8000/v1", "m").concurrency == 3
    assert OpenAICompatible("http://localhost:8000/v1", "m", concurrency=5).concurrency == 5
    monkeypatch.setenv("DIGR_LLM_CONCURRENCY", "many")
    with pytest.raises(ValueError, match="DIGR_LLM_CONCURRENCY='many' is not a whole number"):
        OpenAICompatible("http://localhost:8000/v1", "m")
