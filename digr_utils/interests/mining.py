"""MLIM runs: every item (or user) through one LLM, cached, parsed, summarised.

One function per kind of entity; the backend is a real LLM (``LocalHF``, ``OpenAICompatible``)
or a simulated annotator. Every answer lands in an append-only cache first, so an interrupted
run resumes where it stopped and a re-run costs nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from digr_utils.data.dataset import Dataset
from digr_utils.interests.backends import Backend
from digr_utils.interests.cache import MiningCache, mine_all
from digr_utils.interests.parse import to_mined
from digr_utils.interests.prompts import PROMPT_VERSION, item_prompt, user_prompt
from digr_utils.interests.simulated import SimulatedAnnotator
from digr_utils.interests.types import Mined


def prompt_key(backend: Backend, n_examples: int | None, with_visual: bool) -> str:
    """The prompt part of a cache key: template version, shots, cues, generation settings."""
    shots = "all" if n_examples is None else n_examples
    return f"{PROMPT_VERSION}/{shots}-shot/{'visual' if with_visual else 'text'}/{backend.settings_tag()}"


def mine_items(ds: Dataset, backend: Backend, cache_path: str | Path,
               items: Sequence[int] | None = None, visual_cues: Sequence[str] | None = None,
               n_examples: int | None = 1, progress: bool = True) -> tuple[list[Mined], dict]:
    """Ask ``backend`` why each item is bought; returns one ``Mined`` per item and a summary."""
    chosen = list(range(ds.n_items)) if items is None else [int(i) for i in items]
    ids = ds.items["item_id"].to_numpy()
    index = {ids[i]: i for i in chosen}
    titles, texts = ds.items["title"].to_numpy(), ds.items["description"].to_numpy()

    def ask(batch: list[str]) -> list[Mined]:
        convs = [item_prompt(titles[index[e]], texts[index[e]],
                             visual_cues[index[e]] if visual_cues is not None else None, n_examples)
                 for e in batch]
        return _answers(batch, backend, convs)

    key = prompt_key(backend, n_examples, visual_cues is not None)
    return mine_all([ids[i] for i in chosen], ask, MiningCache(cache_path), key, backend.name,
                    backend.model, batch_size=_batch(backend), progress=progress)


def mine_users(ds: Dataset, histories: Sequence[np.ndarray], backend: Backend,
               cache_path: str | Path, users: Sequence[int] | None = None,
               n_examples: int | None = 1, progress: bool = True) -> tuple[list[Mined], dict]:
    """Ask ``backend`` what drives each user, from the titles of their training history."""
    chosen = list(range(len(histories))) if users is None else [int(u) for u in users]
    ids = ds.users["user_id"].to_numpy()
    index = {ids[u]: u for u in chosen}
    titles = ds.items["title"].to_numpy()

    def ask(batch: list[str]) -> list[Mined]:
        convs = [user_prompt(list(titles[histories[index[e]]]), n_examples) for e in batch]
        return _answers(batch, backend, convs)

    key = prompt_key(backend, n_examples, False)
    return mine_all([ids[u] for u in chosen], ask, MiningCache(cache_path), key, backend.name,
                    backend.model, batch_size=_batch(backend), progress=progress)


def mine_simulated(annotator: SimulatedAnnotator, shop, cache_path: str | Path,
                   users: bool = False, progress: bool = True) -> tuple[list[Mined], dict]:
    """Run one *simulated* annotator over every item (or user) of the shop, through the cache."""
    ds = shop.dataset
    ids = ds.users["user_id"].to_numpy() if users else ds.items["item_id"].to_numpy()
    index = {e: i for i, e in enumerate(ids)}
    mine_one = annotator.mine_user if users else annotator.mine_item

    def ask(batch: list[str]) -> list[Mined]:
        return [mine_one(index[e], shop) for e in batch]

    return mine_all(list(ids), ask, MiningCache(cache_path), "simulated", "simulated",
                    annotator.model, batch_size=256, progress=progress)


def _answers(batch: list[str], backend: Backend, conversations: list[list[dict]]) -> list[Mined]:
    """Run the backend and parse each answer; a failed call or parse is recorded, not raised."""
    out = []
    for entity, done in zip(batch, backend.complete(conversations), strict=True):
        if done.error is not None:
            out.append(Mined(entity, backend.name, backend.model, raw=done.text, error=done.error,
                             tokens=done.tokens))
        else:
            out.append(to_mined(entity, backend.name, backend.model, done.text, tokens=done.tokens))
    return out


def _batch(backend: Backend) -> int:
    """Conversations per call: a local model's batch, or a server client's concurrency."""
    settings = getattr(backend, "settings", None)
    return getattr(settings, "batch_size", None) or getattr(backend, "concurrency", 1)
