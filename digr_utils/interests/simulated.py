"""The simulated annotator panel: stand-ins for frontier LLMs, for teaching.

A ``SimulatedAnnotator`` is NOT an LLM. It reads the shop's hidden true motives and reports them
with a set recall, adds hallucinated and echo interests at set rates, words everything with
paraphrases (never the generator's own labels) and gives a noisy confidence. It lets the course
show MLIM, merging and RLDI on a panel whose errors we know, without API keys or a GPU.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import numpy as np

from digr_utils.data.vocabulary import MOTIVES
from digr_utils.data.world import Shop
from digr_utils.interests.types import Interest, Mined

#: Three wordings per motive, none of them the ground-truth ``Motive.name``.
PARAPHRASES: dict[str, tuple[str, str, str]] = {
    "marathon": ("preparing for a long-distance race", "building running endurance",
                 "first 26.2 training"),
    "sensitive_skin": ("a gentle routine for easily irritated skin", "avoiding skin reactions",
                       "soothing a reactive complexion"),
    "home_studio": ("recording music in a spare room", "building a DIY recording space",
                    "producing tracks at home"),
    "new_parent": ("a present for a family with a newborn", "welcoming a new baby",
                   "helping out first-time parents"),
    "camping": ("sleeping outdoors at a campsite", "weekends in a tent",
                "outdoor overnight trips"),
    "remote_work": ("a comfortable home-office setup", "long days on video calls",
                    "staying productive at a home desk"),
    "yoga": ("a mindful mat practice", "stretching and breathing every day",
             "regular yoga sessions"),
    "coffee": ("savouring pour-over coffee at dawn", "an unhurried coffee routine",
               "brewing coffee with care"),
    "bike_commute": ("riding a bicycle to the office", "cycling through city traffic",
                     "a daily bike ride to work"),
    "dorm": ("furnishing a college room", "starting university life",
             "a student moving into campus housing"),
    "garden": ("growing vegetables at home", "tending raised vegetable beds",
               "a backyard herb and veg patch"),
    "carry_on": ("flying with hand luggage only", "packing light for flights",
                 "a one-bag travel style"),
    "puppy": ("raising a young dog", "settling in a new family dog",
              "house-training a pup"),
    "baking": ("baking bread and cakes at the weekend", "precise home baking",
               "a hobby baker's kitchen"),
    "better_sleep": ("winding down for deeper rest", "fixing restless nights",
                     "a calmer bedtime routine"),
    "gaming": ("ranked multiplayer sessions", "a serious gaming setup",
               "long esports practice nights"),
    "hiking": ("walking mountain trails", "weekend trail walks",
               "hill walking on day trips"),
    "quick_makeup": ("a fast everyday makeup look", "minimal-effort beauty mornings",
                     "getting ready in minutes"),
    "meal_prep": ("cooking the week's lunches ahead", "batch cooking on Sundays",
                  "portioned meals for busy weekdays"),
    "elder_care": ("looking after an elderly mother or father", "helping a senior relative at home",
                   "making daily life easier for an older parent"),
    "eco": ("cutting household waste", "plastic-free living",
            "a sustainable zero-waste lifestyle"),
}

_TRUE_BASE, _FALSE_BASE = 0.75, 0.55


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!")


_BY_TEXT: dict[str, str] = {_normal(p): key for key, ps in PARAPHRASES.items() for p in ps}


@dataclass
class SimulatedAnnotator:
    """One simulated LLM (not an LLM): how often it finds, invents, echoes."""

    name: str
    recall: float
    hallucination_rate: float
    echo_rate: float
    confidence_bias: float = 0.0
    confidence_noise: float = 0.1
    seed: int = 0

    @property
    def model(self) -> str:
        return f"simulated-{self.name}"

    @property
    def user_recall(self) -> float:
        """Recall on users: a history mixes motives; an annotator that invents more finds fewer."""
        return self.recall * (1.0 - self.hallucination_rate)

    def mine_item(self, item_index: int, shop: Shop) -> Mined:
        """The simulated answer about one item, deterministic per (seed, name, item id)."""
        row = shop.dataset.items.iloc[item_index]
        return self._mine(str(row["item_id"]), shop.item_motives[item_index], self.recall,
                          f"wants a good {row['product_type']}", "item")

    def mine_user(self, user_index: int, shop: Shop) -> Mined:
        """The simulated answer about one user's history; its echo restates their commonest type."""
        inter = shop.dataset.interactions  # sorted by user, so a user's rows are one slice
        lo, hi = np.searchsorted(inter["user"].to_numpy(), [user_index, user_index + 1])
        history = inter["item"].to_numpy()[lo:hi]
        types = shop.dataset.items["product_type"].to_numpy()[history]
        values, counts = np.unique(types, return_counts=True)
        echo = f"buys {values[np.argmax(counts)]} products"
        user_id = str(shop.dataset.users.iloc[user_index]["user_id"])
        return self._mine(user_id, shop.user_motives[user_index], self.user_recall, echo, "user")

    def _mine(self, entity: str, motives: tuple[str, ...], recall: float, echo: str,
              kind: str) -> Mined:
        rng = _entity_rng(self.seed, self.name, entity)
        found: list[Interest] = []
        for key in motives:
            if rng.random() < recall:
                found.append(Interest(_paraphrase(key, rng), self._confidence(_TRUE_BASE, rng)))
        if rng.random() < self.hallucination_rate:
            wrong = [k for k in MOTIVES if k not in motives]
            key = wrong[rng.integers(len(wrong))]
            found.append(Interest(_paraphrase(key, rng), self._confidence(_FALSE_BASE, rng)))
        if rng.random() < self.echo_rate:
            found.append(Interest(echo, self._confidence(_FALSE_BASE, rng)))
        found.sort(key=lambda i: -i.confidence)  # the prompt asks for strongest first
        reasoning = (f"Simulated annotator {self.name} (not an LLM): reported {len(found)} "
                     f"interests for this {kind} from the shop's hidden motives.")
        raw = json.dumps({"reasoning": reasoning, "interests": [
            {"interest": i.text, "confidence": i.confidence} for i in found]})
        return Mined(entity=entity, backend="simulated", model=self.model, interests=found,
                     reasoning=reasoning, raw=raw)

    def _confidence(self, base: float, rng: np.random.Generator) -> float:
        value = base + self.confidence_bias + self.confidence_noise * rng.standard_normal()
        return round(float(np.clip(value, 0.0, 1.0)), 2)


def default_panel(seed: int = 0) -> list[SimulatedAnnotator]:
    """Three simulated LLMs: careful, eager (over-claims) and shallow (echoes the product)."""
    return [
        SimulatedAnnotator("sim-careful", 0.7, 0.05, 0.1, 0.0, 0.08, seed),
        SimulatedAnnotator("sim-eager", 0.9, 0.3, 0.1, 0.1, 0.12, seed + 1),
        SimulatedAnnotator("sim-shallow", 0.4, 0.1, 0.6, -0.05, 0.15, seed + 2),
    ]


def truth_for(mined_text: str) -> str | None:
    """The motive key a simulated paraphrase stands for, or None (an echo, or unknown text)."""
    return _BY_TEXT.get(_normal(mined_text))


def precision_recall(mined: list[Mined], truth: list[set[str]]) -> dict:
    """Micro precision (share of interests naming a true motive) and recall (of true motives named).

    Interests are matched to motives with :func:`truth_for`; echoes and unknown text count as wrong.
    """
    if len(mined) != len(truth):
        raise ValueError(f"precision_recall: {len(mined)} answers but {len(truth)} truth sets; "
                         "pass one truth set per mined entity, in the same order")
    n_interests = n_correct = n_true = n_found = 0
    for answer, motives in zip(mined, truth):
        keys = [truth_for(i.text) for i in answer.interests]
        n_interests += len(keys)
        n_correct += sum(k in motives for k in keys)
        n_true += len(motives)
        n_found += len(motives & set(keys))
    precision = n_correct / n_interests if n_interests else 0.0
    recall = n_found / n_true if n_true else 0.0
    return {"precision": precision, "recall": recall,
            "n_interests": n_interests, "n_true": n_true}


def _paraphrase(key: str, rng: np.random.Generator) -> str:
    options = PARAPHRASES[key]
    return options[rng.integers(len(options))]


def _entity_rng(seed: int, name: str, entity: str) -> np.random.Generator:
    # hashlib, not hash(): Python salts str hashes per process, which would break determinism
    digest = hashlib.sha256(f"{seed}|{name}|{entity}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
