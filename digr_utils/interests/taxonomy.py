"""A real interest miner with no LLM: zero-shot matching of description sentences to a taxonomy.

Each item's description is cut into sentences (and a listed-details sentence into its details);
each piece is embedded with the bundled MiniLM and compared with every motive's taxonomy entry
(:data:`digr_utils.data.references.TAXONOMY`: a label and two glosses). The item's interests are
the ``top`` motives its best-matching pieces point at, each written as the taxonomy label, with
the cosine similarity as confidence; a motive under ``floor`` is not reported. Nothing is tuned on
the hidden motives: ``top`` and ``floor`` are fixed beforehand.

It is named for what it is — "zero-shot taxonomy matcher (sentence encoder, no LLM)" — and it
knows one thing a free-text LLM does not: the list of motives the shop can have (the taxonomy),
though not which item has which. Its entries are worded apart from the scorer's references
(:mod:`digr_utils.interests.scoring`), so the scorer does not grade it against the wording it
matched with; the scorer still has to read each label as its motive (a test checks that it does).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from digr_utils.data.references import TAXONOMY
from digr_utils.interests.types import Interest, Mined

#: How many motives one item may get, and the similarity a piece needs to report its motive.
TOP, FLOOR = 2, 0.3
MODEL = "taxonomy-minilm"
_LISTED = re.compile(r"^(?:Highlights|Key details|Worth knowing|Details): (.+)$")


def recipe() -> dict:
    """What the matcher's answers depend on (part of its mining run's name)."""
    from digr_utils.runs import digest

    return {"encoder": "minilm", "top": TOP, "floor": FLOOR, "taxonomy": digest(TAXONOMY, 8)}


def pieces(description: str) -> list[str]:
    """The sentences of ``description``, a listed-details sentence cut into its details."""
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", description.strip()):
        sentence = sentence.strip().rstrip(".!?").strip()
        listed = _LISTED.match(sentence)
        if listed:
            out += [p.strip() for p in re.split(r", | and ", listed.group(1)) if p.strip()]
        elif sentence:
            out.append(sentence)
    return out


def match_items(descriptions: list[str], embed, item_ids: list[str] | None = None,
                top: int = TOP, floor: float = FLOOR) -> list[Mined]:
    """One answer per description: its ``top`` best-matching motives above ``floor``.

    ``embed`` maps a list of texts to unit-length rows (the bundled MiniLM in :func:`mine_taxonomy`,
    hand-made vectors in tests).
    """
    keys = list(TAXONOMY)
    owners = [k for k, key in enumerate(keys) for _ in TAXONOMY[key]]
    entries = np.asarray(embed([text for key in keys for text in TAXONOMY[key]]), dtype=np.float32)
    cut = [pieces(d) for d in descriptions]
    flat = [p for ps in cut for p in ps]
    sims = (np.asarray(embed(flat), dtype=np.float32) @ entries.T) if flat else np.zeros((0, len(owners)))
    per_motive = np.full((len(flat), len(keys)), -1.0, dtype=np.float32)
    for j, k in enumerate(owners):  # a motive's similarity: its best entry
        per_motive[:, k] = np.maximum(per_motive[:, k], sims[:, j])
    answers, start = [], 0
    ids = item_ids if item_ids is not None else [str(i) for i in range(len(descriptions))]
    for entity, ps in zip(ids, cut):
        best = per_motive[start:start + len(ps)].max(axis=0) if ps else np.full(len(keys), -1.0)
        start += len(ps)
        chosen = [k for k in np.argsort(-best, kind="stable")[:top] if best[k] >= floor]
        interests = [Interest(TAXONOMY[keys[k]][0], round(float(np.clip(best[k], 0.0, 1.0)), 2))
                     for k in chosen]
        answers.append(Mined(entity=str(entity), backend="zero-shot", model=MODEL,
                             interests=interests,
                             reasoning="zero-shot taxonomy matcher (sentence encoder, no LLM)"))
    return answers


def mine_taxonomy(dataset, run=None, cache_dir: str | Path | None = None) -> tuple[list[Mined], dict]:
    """Every item of ``dataset`` through the matcher (MiniLM embeddings cached in ``cache_dir``)."""
    from digr_utils.embed import encode

    items = dataset.items
    answers = match_items(items["description"].astype(str).tolist(),
                          lambda texts: encode(texts, cache_dir=cache_dir),
                          items["item_id"].astype(str).tolist())
    summary = {"calls": 0, "items": len(answers),
               "interests_per_item": float(np.mean([len(a.interests) for a in answers])) if answers else 0.0,
               "items_without_interests": float(np.mean([not a.interests for a in answers])) if answers else 0.0}
    return answers, summary
