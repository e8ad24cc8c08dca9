"""An append-only JSON-lines cache of LLM answers: an interrupted run resumes, a re-run is free.

One line per answer, keyed by (backend, model, prompt_version, entity, prompt_sha1) where
``prompt_sha1`` is a short hash of what was asked (:func:`prompt_sha1`): the same id asked with
other text, or through another prompt, never matches. Later lines win. A failed call (no answer
came back) is written as a failure record for the log but never served, so the next run asks
again; an answer that came back but did not parse is an answer, kept with its raw text. Every
write is flushed and fsynced, so a crash loses at most the line being written, and a truncated
last line is ignored on load (and cut off before the next write). Writes hold a lock, and
:func:`mine_all` is the one writer even when answers come from many threads at once.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from digr_utils.interests.types import Interest, Mined
from digr_utils.progress import progress_bar

Key = tuple[str, str, str, str, str]  # (backend, model, prompt_version, entity, prompt_sha1)

_FIELDS = ("backend", "model", "prompt_version", "entity", "interests")


def prompt_sha1(asked: object) -> str:
    """A short sha1 of what was asked (JSON-able: the rendered prompt messages); same text, same hash."""
    text = json.dumps(asked, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def failure_reasons(errors: list[str]) -> dict[str, int]:
    """How many failures had each message, commonest first (for a run's summary)."""
    return dict(Counter(errors).most_common())


class MiningCache:
    """Mined answers on disk at ``path`` (created on first write), loaded into memory on open."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._entries: dict[Key, Mined] = {}
        self._valid_bytes: int | None = None  # where to cut a truncated tail before appending
        self._prefix = ""  # "\n" when the file's last complete line lacks its newline
        self._lock = threading.Lock()  # whole lines only, even if two threads put at once
        if self.path.exists():
            self._load()

    def get(self, key: Key) -> Mined | None:
        """The cached answer for ``(backend, model, prompt_version, entity, prompt_sha1)``, or None.

        Never a failed call: those are asked again.
        """
        if not isinstance(key, tuple) or len(key) != 5:
            raise TypeError(f"MiningCache.get: key {key!r} must be (backend, model, "
                            "prompt_version, entity, prompt_sha1); answers are keyed by what was "
                            "asked: pass prompt_sha1(messages) last (see mining.cached_items)")
        return self._entries.get(key)

    def put(self, mined: Mined, prompt_version: str, prompt_hash: str) -> None:
        """Append one result and fsync it; a failed call is logged in the file but never served."""
        record = {"prompt_version": prompt_version, "prompt_sha1": prompt_hash, **asdict(mined)}
        with self._lock:
            self._append(json.dumps(record, ensure_ascii=False))
        if not mined.failed:
            self._entries[(mined.backend, mined.model, prompt_version, mined.entity, prompt_hash)] = mined

    def _append(self, text: str) -> None:
        """Write ``text`` as one fsynced line, first cutting off a truncated tail left by a crash."""
        line = self._prefix + text + "\n"
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

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and key in self._entries

    def _load(self) -> None:
        data = self.path.read_bytes()
        lines = data.split(b"\n")
        last = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
        offset, unhashed = 0, 0
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
                    break
                if key is None:
                    unhashed += 1
                elif not mined.failed:
                    self._entries[key] = mined
            offset += len(line) + 1
        if unhashed:
            warnings.warn(f"{self.path}: {unhashed} lines carry no prompt hash (written before "
                          "answers were keyed by what was asked) and are not used: their "
                          "entities are mined again; delete the file to drop them", stacklevel=3)
        if self._valid_bytes is None and data and not data.endswith(b"\n"):
            self._prefix = "\n"


def _decode(line: bytes) -> tuple[Key | None, Mined]:
    """One line's key and result; the key is None for a line without a prompt hash."""
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
                  tokens=record.get("tokens", 0), failed=bool(record.get("failed", False)))
    if "prompt_sha1" not in record:
        return None, mined
    return (mined.backend, mined.model, record["prompt_version"], mined.entity,
            record["prompt_sha1"]), mined


def mine_all(asked: Mapping[str, object], call: Callable[[list[str]], list[Mined]],
             cache: MiningCache, prompt_version: str, backend: str, model: str,
             batch_size: int = 1, progress: bool = True, workers: int = 1
             ) -> tuple[list[Mined], dict]:
    """Mine every entity of ``asked`` not in ``cache``, ``batch_size`` at a time, appending as they come.

    With ``workers`` > 1, that many calls run at once on threads (a server client's pool) and
    each batch is written the moment it comes back, in whatever order; only this function
    writes the cache. An interrupt keeps every answer written so far, and the next run asks
    only for the rest.

    ``asked`` maps each entity, in order, to what is asked about it (the prompt messages); its
    :func:`prompt_sha1` is part of the cache key. ``call`` answers a list of entities with one
    ``Mined`` each. An exception from ``call`` fails every entity of that batch and the run goes
    on. Failed calls (``Mined.failed``) are never served from the cache, so a re-run retries
    them; answers, unparsed ones included, are cached. Returns the results in order and a
    summary: calls made, cache hits, failures (calls that failed, with ``failure_reasons``),
    parse failures (answers that did not parse), tokens spent by this run and seconds.
    """
    start = time.perf_counter()
    hashes = {entity: prompt_sha1(question) for entity, question in asked.items()}
    results: dict[str, Mined] = {}
    todo = []
    for entity, digest in hashes.items():
        cached = cache.get((backend, model, prompt_version, entity, digest))
        if cached is not None:
            results[entity] = cached
        else:
            todo.append(entity)
    tokens = 0
    batches = [todo[first:first + batch_size] for first in range(0, len(todo), batch_size)]
    with progress_bar(total=len(todo), desc=f"mining {model}", leave=False,
                      enabled=progress and bool(todo)) as bar:
        for batch, answers in _as_they_come(call, batches, workers, backend, model):
            for entity, mined in zip(batch, answers, strict=True):
                if (mined.entity, mined.backend, mined.model) != (entity, backend, model):
                    raise ValueError(
                        f"mine_all: call answered for entity={mined.entity!r}, backend="
                        f"{mined.backend!r}, model={mined.model!r} where {entity!r} was asked; "
                        "return one answer per asked entity, in order, with the run's backend and model")
                tokens += mined.tokens
                cache.put(mined, prompt_version, hashes[entity])
                results[entity] = mined
            bar.update(len(batch))
    ordered = [results[e] for e in hashes]
    failed = [m.error or "no answer" for m in ordered if m.failed]
    if failed:
        warnings.warn(f"mining {model}: {len(failed)} of {len(todo)} calls failed and will be "
                      f"asked again on the next run; first reason: {failed[0]}", stacklevel=2)
    summary = {"calls": len(todo), "cache_hits": len(hashes) - len(todo),
               "failures": len(failed), "failure_reasons": failure_reasons(failed),
               "parse_failures": sum(m.error is not None and not m.failed for m in ordered),
               "tokens": tokens, "seconds": round(time.perf_counter() - start, 3)}
    return ordered, summary


def _as_they_come(call: Callable[[list[str]], list[Mined]], batches: list[list[str]],
                  workers: int, backend: str, model: str
                  ) -> Iterator[tuple[list[str], list[Mined]]]:
    """Each batch with its answers: in order on this thread, or, with ``workers`` > 1, as they
    finish on that many threads (at most ``workers`` calls in flight). When the caller stops
    (an interrupt), calls not started are cancelled and answers still in flight are dropped."""
    if workers <= 1:
        for batch in batches:
            yield batch, _call(call, batch, backend, model)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mining")
    try:
        futures = {pool.submit(_call, call, batch, backend, model): batch for batch in batches}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _call(call: Callable[[list[str]], list[Mined]], batch: list[str], backend: str,
          model: str) -> list[Mined]:
    """``call(batch)``, or a failed result per entity when it raises: one failure never stops a run."""
    try:
        return call(batch)
    except Exception as err:
        return [Mined(entity, backend, model, error=f"{type(err).__name__}: {err}", failed=True)
                for entity in batch]
