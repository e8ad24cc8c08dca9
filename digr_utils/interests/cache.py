"""An append-only JSON-lines cache of LLM answers: an interrupted run resumes, a re-run is free.

One line per answer, keyed by (backend, model, prompt_version, entity); later lines win. Every
write is flushed and fsynced, so a crash loses at most the line being written, and a truncated
last line is ignored on load (and cut off before the next write).
"""
from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from digr_utils.interests.types import Interest, Mined

Key = tuple[str, str, str, str]  # (backend, model, prompt_version, entity)

_FIELDS = ("backend", "model", "prompt_version", "entity", "interests")


class MiningCache:
    """Mined answers on disk at ``path`` (created on first write), loaded into memory on open."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._entries: dict[Key, Mined] = {}
        self._valid_bytes: int | None = None  # where to cut a truncated tail before appending
        self._prefix = ""  # "\n" when the file's last complete line lacks its newline
        if self.path.exists():
            self._load()

    def get(self, key: Key) -> Mined | None:
        """The cached answer for ``(backend, model, prompt_version, entity)``, or None."""
        return self._entries.get(tuple(key))

    def put(self, mined: Mined, prompt_version: str) -> None:
        """Append one answer and fsync it, so it survives an interrupted run."""
        record = {"prompt_version": prompt_version, **asdict(mined)}
        line = self._prefix + json.dumps(record, ensure_ascii=False) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self._valid_bytes is not None:
            with open(self.path, "r+b") as f:
                f.truncate(self._valid_bytes)
            self._valid_bytes = None
        self._prefix = ""
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._entries[(mined.backend, mined.model, prompt_version, mined.entity)] = mined

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and key in self._entries

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        last = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
        offset = 0
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    key, mined = _decode(line)
                except ValueError as err:
                    if number != last:
                        raise ValueError(f"{self.path}, line {number}: {err}. This line is "
                                         "corrupt; delete it (its entity will be mined again) "
                                         "or delete the whole cache file") from None
                    warnings.warn(f"{self.path}, line {number}: ignoring a truncated last line "
                                  "(a run was interrupted mid-write); its entity will be mined "
                                  "again", stacklevel=3)
                    self._valid_bytes = offset
                    return
                self._entries[key] = mined
            offset += len(line) + 1
        if data and not data.endswith(b"\n"):
            self._prefix = "\n"


def _decode(line: bytes) -> tuple[Key, Mined]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"not valid JSON ({err})") from None
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    missing = [f for f in _FIELDS if f not in record]
    if missing:
        raise ValueError(f"missing field {missing[0]!r}")
    try:
        interests = [Interest(i["text"], i.get("confidence")) for i in record["interests"]]
    except (KeyError, TypeError, AttributeError):
        raise ValueError("field 'interests' must be a list of "
                         '{"text": ..., "confidence": ...} objects') from None
    mined = Mined(entity=record["entity"], backend=record["backend"], model=record["model"],
                  interests=interests, reasoning=record.get("reasoning", ""),
                  raw=record.get("raw", ""), error=record.get("error"),
                  tokens=record.get("tokens", 0))
    return (mined.backend, mined.model, record["prompt_version"], mined.entity), mined


def mine_all(entities: list[str], call: Callable[[list[str]], list[Mined]], cache: MiningCache,
             prompt_version: str, backend: str, model: str, batch_size: int = 1,
             progress: bool = True) -> tuple[list[Mined], dict]:
    """Mine every entity not in ``cache``, ``batch_size`` at a time, appending answers as they come.

    ``call`` answers a list of entities with one ``Mined`` each (a local model generates a batch
    at once). An exception from ``call`` becomes a failed ``Mined`` for each entity of that batch
    and the run goes on; such failures are not cached (they are often transient: a timeout, a
    rate limit), so a re-run retries them. Answers ``call`` returns, failed parses included, are
    cached. Returns the answers in ``entities`` order and a summary: calls made (entities sent),
    cache hits, failures (results with an error), tokens spent by this run and seconds.
    """
    start = time.perf_counter()
    results: dict[str, Mined] = {}
    todo = []
    for entity in entities:
        cached = cache.get((backend, model, prompt_version, entity))
        if cached is not None:
            results[entity] = cached
        else:
            todo.append(entity)
    hits, tokens = len(entities) - len(todo), 0
    with tqdm(total=len(todo), desc=f"mining {model}", leave=False,
              disable=not progress or not todo) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first:first + batch_size]
            try:
                answers = call(batch)
            except Exception as err:  # a failure is recorded for its entities, never stops the run
                for entity in batch:
                    results[entity] = Mined(entity, backend, model, error=f"{type(err).__name__}: {err}")
                bar.update(len(batch))
                continue
            for entity, mined in zip(batch, answers, strict=True):
                if (mined.entity, mined.backend, mined.model) != (entity, backend, model):
                    raise ValueError(
                        f"mine_all: call answered for entity={mined.entity!r}, backend="
                        f"{mined.backend!r}, model={mined.model!r} where {entity!r} was asked; "
                        "return one answer per asked entity, in order, with the run's backend and model")
                tokens += mined.tokens
                cache.put(mined, prompt_version)
                results[entity] = mined
            bar.update(len(batch))
    ordered = [results[e] for e in entities]
    summary = {"calls": len(todo), "cache_hits": hits,
               "failures": sum(m.error is not None for m in ordered),
               "tokens": tokens, "seconds": round(time.perf_counter() - start, 3)}
    return ordered, summary
