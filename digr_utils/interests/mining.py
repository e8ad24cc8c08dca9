"""MLIM runs: every item (or user) through one LLM, cached, parsed, summarised.

One function per kind of entity; the backend is a real LLM (``LocalHF``, ``OpenAICompatible``)
or a simulated annotator. Every answer lands in an append-only cache first, keyed by what was
asked (the prompt's hash), so an interrupted run resumes where it stopped, a re-run costs nothing
and another dataset that reuses the same ids never gets these answers.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from digr_utils.data.dataset import Dataset, leave_one_out
from digr_utils.interests.backends import Backend
from digr_utils.interests.cache import MiningCache, mine_all, prompt_sha1
from digr_utils.interests.parse import to_mined
from digr_utils.interests.prompts import PROMPT_VERSION, item_prompt, user_prompt
from digr_utils.interests.scoring import shown_motives
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
    prompts = _item_prompts(ds, items, visual_cues, n_examples)
    return mine_all(prompts, _asker(prompts, backend), MiningCache(cache_path),
                    prompt_key(backend, n_examples, visual_cues is not None), backend.name,
                    backend.model, progress=progress, **_pace(backend))


def mine_users(ds: Dataset, histories: Sequence[np.ndarray], backend: Backend,
               cache_path: str | Path, users: Sequence[int] | None = None,
               n_examples: int | None = 1, progress: bool = True) -> tuple[list[Mined], dict]:
    """Ask ``backend`` what drives each user, from the titles of their training history."""
    chosen = range(len(histories)) if users is None else [int(u) for u in users]
    ids, titles = ds.users["user_id"].to_numpy(), ds.items["title"].to_numpy()
    prompts = {str(ids[u]): user_prompt(list(titles[histories[u]]), n_examples) for u in chosen}
    return mine_all(prompts, _asker(prompts, backend), MiningCache(cache_path),
                    prompt_key(backend, n_examples, False), backend.name, backend.model,
                    progress=progress, **_pace(backend))


def mine_simulated(annotator: SimulatedAnnotator, shop, cache_path: str | Path,
                   users: bool = False, progress: bool = True) -> tuple[list[Mined], dict]:
    """Run one *simulated* annotator over every item (or user) of the shop, through the cache.

    A user is read from their training items only (``leave_one_out(...).train``): no
    validation or test item reaches their interests.
    """
    ds = shop.dataset
    ids = ds.users["user_id"].to_numpy() if users else ds.items["item_id"].to_numpy()
    index = {str(e): i for i, e in enumerate(ids)}
    train = leave_one_out(ds).train if users else None

    def ask(batch: list[str]) -> list[Mined]:
        if users:
            return [annotator.mine_user(index[e], shop, train[index[e]]) for e in batch]
        return [annotator.mine_item(index[e], shop) for e in batch]

    return mine_all(_simulated_questions(annotator, shop, train), ask, MiningCache(cache_path),
                    "simulated", "simulated", annotator.model, batch_size=256, progress=progress)


def cached_items(ds: Dataset, cache_path: str | Path, backend_name: str, model: str,
                 prompt_version: str, visual_cues: Sequence[str] | None = None,
                 n_examples: int | None = 1) -> list[Mined | None]:
    """What ``cache_path`` holds for each item of ``ds`` asked with these settings (None where
    nothing), without loading a model: how the shipped SmolLM2 answers are read."""
    cache = MiningCache(cache_path)
    prompts = _item_prompts(ds, None, visual_cues, n_examples)
    return [cache.get((backend_name, model, prompt_version, entity, prompt_sha1(messages)))
            for entity, messages in prompts.items()]


def _item_prompts(ds: Dataset, items: Sequence[int] | None, visual_cues: Sequence[str] | None,
                  n_examples: int | None) -> dict[str, list[dict]]:
    """Each chosen item's id and the chat messages asking about it, in order."""
    chosen = range(ds.n_items) if items is None else [int(i) for i in items]
    ids = ds.items["item_id"].to_numpy()
    titles, texts = ds.items["title"].to_numpy(), ds.items["description"].to_numpy()
    return {str(ids[i]): item_prompt(titles[i], texts[i],
                                     visual_cues[i] if visual_cues is not None else None, n_examples)
            for i in chosen}


def _simulated_questions(annotator: SimulatedAnnotator, shop,
                         train: Sequence[np.ndarray] | None) -> dict[str, list]:
    """What a simulated annotator reads about each entity (its settings, the hidden motives, the
    items it may echo): its 'prompt', so another shop's same ids never share answers. For users
    (``train`` given) only the training items and the motives they show."""
    ds = shop.dataset
    settings, items = asdict(annotator), ds.items[["product_type", "title", "description", "brand"]]
    if train is None:
        return {str(e): [settings, list(shop.item_motives[i]), items.iloc[i].tolist()]
                for i, e in enumerate(ds.items["item_id"])}
    return {str(e): [settings, list(shown_motives(shop.user_motives[u], train[u], shop)),
                     [shop.item_motives[i] for i in train[u]], items.iloc[train[u]].to_numpy().tolist()]
            for u, e in enumerate(ds.users["user_id"])}


def _asker(prompts: dict[str, list[dict]], backend: Backend):
    """The batched call ``mine_all`` makes: the backend on each entity's prompt, parsed."""
    return lambda batch: _answers(batch, backend, [prompts[e] for e in batch])


def _answers(batch: list[str], backend: Backend, conversations: list[list[dict]]) -> list[Mined]:
    """Run the backend and parse each answer; a failed call or parse is recorded, not raised.

    A call that brought nothing back (an error, an empty text) is ``failed``, to be asked again.
    """
    out = []
    for entity, done in zip(batch, backend.complete(conversations), strict=True):
        if done.error is not None or not done.text.strip():
            out.append(Mined(entity, backend.name, backend.model, raw=done.text,
                             error=done.error or "empty answer", tokens=done.tokens, failed=True))
        else:
            out.append(to_mined(entity, backend.name, backend.model, done.text, tokens=done.tokens))
    return out


def _pace(backend: Backend) -> dict[str, int]:
    """How ``mine_all`` feeds a backend: a local model batches conversations on one thread; a
    server client gets one conversation per call on ``concurrency`` threads, so a slow answer
    never holds back the others and each is cached the moment it arrives."""
    batch = getattr(getattr(backend, "settings", None), "batch_size", None)
    if batch:
        return {"batch_size": batch, "workers": 1}
    return {"batch_size": 1, "workers": getattr(backend, "concurrency", 1)}
