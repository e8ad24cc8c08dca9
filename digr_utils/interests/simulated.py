"""The simulated annotator panel: stand-ins for LLMs of known quality, for teaching.

A ``SimulatedAnnotator`` is NOT an LLM. It reads the shop's hidden true motives (for a user: the
motives their training items show) and reports each with a set recall, in its own wordings from a
phrase bank the scorer never sees; it adds hallucinations (motives that fit the product type but
not this item) and echoes (the product's type, title words, features or brand, or a vague
phrase) at set rates, each with a noisy confidence whose ranges overlap for right and wrong
statements. It lets the course show MLIM, merging and RLDI on a panel whose errors we know,
without API keys or a GPU; results built on it are a teaching device, never a measurement of an
LLM. ``version`` names the panel's behaviour, so cached answers of an older panel are never served.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from digr_utils.data.vocabulary import MOTIVES
from digr_utils.data.world import Shop
from digr_utils.interests.scoring import shown_motives
from digr_utils.interests.types import Interest, Mined

#: The panel's behaviour version: part of every annotator's settings, hence of every cache key.
PANEL_VERSION = 2

#: Six wordings per motive, none of them the ground-truth name or a scorer reference; the
#: annotator of style s uses wordings s and s + 3.
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "marathon": ("preparing for a long-distance race", "building running endurance",
                 "first 26.2 training", "training for a long road race",
                 "running a first marathon", "working towards a marathon finish line"),
    "sensitive_skin": ("a gentle routine for easily irritated skin", "avoiding skin reactions",
                       "soothing a reactive complexion", "a routine for sensitive, easily reddened skin",
                       "skincare that won't sting", "a calm-skin regimen"),
    "home_studio": ("recording music in a spare room", "building a DIY recording space",
                    "producing tracks at home", "recording vocals in a home studio",
                    "a home music production corner", "mixing and mastering at home"),
    "new_parent": ("a present for a family with a newborn", "welcoming a new baby",
                   "helping out first-time parents", "a gift to congratulate new parents",
                   "gifts for a newborn baby's family", "supporting new parents in the first months"),
    "camping": ("sleeping outdoors at a campsite", "weekends in a tent", "outdoor overnight trips",
                "pitching a tent on camping weekends", "camping nights by the campfire",
                "roughing it at a campsite"),
    "remote_work": ("a comfortable home-office setup", "long workdays at a home office",
                    "staying productive at a home desk", "a full working day in a home office",
                    "working from home comfortably", "focus during remote workdays"),
    "yoga": ("a mindful yoga practice on the mat", "daily stretching and yoga breathing",
             "regular yoga sessions", "rolling out the yoga mat each morning",
             "a daily vinyasa yoga flow", "a mind-body practice on the mat"),
    "coffee": ("savouring pour-over coffee at dawn", "an unhurried coffee routine",
               "brewing coffee with care", "a home barista's morning coffee ritual",
               "the first coffee of the day done properly", "slow-brewed morning coffee"),
    "bike_commute": ("riding a bicycle to the office", "cycling through city traffic",
                     "a daily bike ride to work", "pedalling to the office by bike in all weather",
                     "a bike commuter's daily ride to work", "getting to work on two wheels"),
    "dorm": ("furnishing a college room", "starting university life in a dorm",
             "a student moving into campus housing", "a freshman's move-in day at college",
             "kitting out a small student room", "first year away at college"),
    "garden": ("growing vegetables at home", "tending raised vegetable beds",
               "a backyard herb and veg patch", "a vegetable garden in the backyard",
               "growing tomatoes and herbs", "getting hands dirty in the veg garden"),
    "carry_on": ("flying with hand luggage only", "packing light for flights",
                 "a one-bag travel style", "travelling with a single cabin bag",
                 "skipping checked baggage on flights", "light packing for short flights"),
    "puppy": ("raising a young dog", "settling in a new family dog", "house-training a pup",
              "a new puppy's first months", "puppy-proofing the home", "training a young dog"),
    "baking": ("baking bread and cakes at the weekend", "precise home baking",
               "a hobby baker's kitchen", "weekend sourdough and cakes",
               "measuring flour to the gram for home baking", "home baking as a hobby"),
    "better_sleep": ("winding down for a deeper night's rest", "fixing restless nights",
                     "a calmer bedtime routine", "sleeping through the night without waking",
                     "a restful bedroom for better sleep", "drifting off more easily"),
    "gaming": ("ranked multiplayer gaming sessions", "a serious online gaming setup",
               "long esports practice nights", "competitive online play",
               "late-night gaming with a team", "climbing the online leaderboard"),
    "hiking": ("walking mountain trails", "weekend hikes on trails", "hill walking on day trips",
               "day hikes on hill paths", "trail days in the hills",
               "a walker heading for the summit"),
    "quick_makeup": ("a fast everyday makeup look", "a minimal-effort makeup morning",
                     "getting ready in minutes", "a five-minute makeup face",
                     "a speedy morning beauty routine", "makeup on the go"),
    "meal_prep": ("cooking the week's lunches ahead", "batch cooking on Sundays",
                  "portioned meals for busy weekdays", "prepping a week of lunches",
                  "Sunday food prep", "packing homemade lunches for work"),
    "elder_care": ("looking after an elderly mother or father", "helping a senior relative at home",
                   "making daily life easier for an older parent",
                   "caring for a parent in later life", "keeping an ageing parent safe at home",
                   "assisting an older relative"),
    "eco": ("cutting household waste", "plastic-free living at home",
            "a sustainable zero-waste lifestyle", "cutting down on single-use plastic at home",
            "a greener home", "reusing instead of throwing away"),
}

#: Per style: how an annotator frames a wording (its recombinations).
FRAMES: tuple[tuple[str, ...], ...] = (
    ("{}", "most likely {}", "{}, most likely"),
    ("{}", "definitely {}", "perfect for {}"),
    ("{}", "maybe {}", "something to do with {}"),
)

#: Echo wordings by what they restate: the product type, title words, a feature, the brand.
ECHOES: dict[str, tuple[str, ...]] = {
    "type": ("wants a good {type}", "needs a new {type}", "shopping for a {type}"),
    "title": ("likes the {title}", "a {title} fan"),
    "feature": ("values {feature}", "looking for {feature}"),
    "brand": ("a fan of {brand}", "trusts the {brand} brand"),
    "vague": ("a practical everyday purchase", "good value for money", "a quality product",
              "a nice gift idea"),
}

# mean confidence of a true motive, a hallucination and an echo, before bias and noise
_BASE = {"true": 0.68, "hallucination": 0.62, "echo": 0.55}
_CLUE_SENTENCE = re.compile(r"(?:Highlights|Key details|Worth knowing|Details): ([^.]+)\.")


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(".!")


_BY_TEXT: dict[str, str] = {_normal(frame.format(p)): key for key, ps in PARAPHRASES.items()
                            for p in ps for frames in FRAMES for frame in frames}


@dataclass
class SimulatedAnnotator:
    """One simulated LLM (not an LLM): how often it finds, invents, echoes, and in whose words."""

    name: str
    recall: float
    hallucination_rate: float
    echo_rate: float
    confidence_bias: float = 0.0
    confidence_noise: float = 0.15
    seed: int = 0
    style: int = 0  # which share of the phrase bank and which frames it words things with
    version: int = PANEL_VERSION

    @property
    def model(self) -> str:
        return f"simulated-{self.name}"

    @property
    def user_recall(self) -> float:
        """Recall on users: a history mixes motives; an annotator that invents more finds fewer."""
        return self.recall * (1.0 - self.hallucination_rate)

    def mine_item(self, item_index: int, shop: Shop) -> Mined:
        """The simulated answer about one item, deterministic per (seed, name, item id)."""
        item_id = str(shop.dataset.items["item_id"].iloc[item_index])
        motives = shop.item_motives[item_index]
        return self._mine(item_id, motives, self.recall, [item_index], shop, "item")

    def mine_user(self, user_index: int, shop: Shop, history: Sequence[int]) -> Mined:
        """The simulated answer about one user from their training ``history`` (item positions)
        alone: the motives those items show, echoes and hallucinations drawn from those items."""
        user_id = str(shop.dataset.users["user_id"].iloc[user_index])
        motives = shown_motives(shop.user_motives[user_index], history, shop)
        return self._mine(user_id, motives, self.user_recall, list(history), shop, "user")

    def _mine(self, entity: str, motives: Sequence[str], recall: float, items: list[int],
              shop: Shop, kind: str) -> Mined:
        rng = _entity_rng(self.seed, self.name, entity)
        found: list[Interest] = []
        for key in sorted(motives):
            if rng.random() < recall:
                found.append(Interest(self._word(key, rng), self._confidence("true", rng)))
        if rng.random() < self.hallucination_rate:
            key = _plausible_wrong(motives, items, shop, rng)
            found.append(Interest(self._word(key, rng), self._confidence("hallucination", rng)))
        if rng.random() < self.echo_rate and items:
            echo = _echo(items[rng.integers(len(items))], shop, rng)
            found.append(Interest(echo, self._confidence("echo", rng)))
        found.sort(key=lambda i: -i.confidence)  # the prompt asks for strongest first
        reasoning = (f"Simulated annotator {self.name} (not an LLM): reported {len(found)} "
                     f"interests for this {kind} from the shop's hidden motives.")
        raw = json.dumps({"reasoning": reasoning, "interests": [
            {"interest": i.text, "confidence": i.confidence} for i in found]})
        return Mined(entity=entity, backend="simulated", model=self.model, interests=found,
                     reasoning=reasoning, raw=raw)

    def _word(self, key: str, rng: np.random.Generator) -> str:
        """One of this annotator's own wordings of ``key``, in one of its frames."""
        wordings = PARAPHRASES[key][self.style::len(FRAMES)]
        frames = FRAMES[self.style]
        return frames[rng.integers(len(frames))].format(wordings[rng.integers(len(wordings))])

    def _confidence(self, kind: str, rng: np.random.Generator) -> float:
        value = _BASE[kind] + self.confidence_bias + self.confidence_noise * rng.standard_normal()
        return round(float(np.clip(value, 0.05, 1.0)), 2)


def default_panel(seed: int = 0) -> list[SimulatedAnnotator]:
    """Three simulated LLMs: careful, eager (over-claims) and shallow (echoes the product);
    rates calibrated so the scorer measures them near 0.75/0.55, 0.55/0.8 and 0.3/0.3
    (precision/recall) on the tutorial shop."""
    return [
        SimulatedAnnotator("sim-careful", 0.56, 0.08, 0.12, 0.0, 0.15, seed, style=0),
        SimulatedAnnotator("sim-eager", 0.86, 0.5, 0.25, 0.1, 0.15, seed + 1, style=1),
        SimulatedAnnotator("sim-shallow", 0.5, 0.25, 0.5, 0.05, 0.18, seed + 2, style=2),
    ]


def dial_panel(quality: float, seed: int = 0) -> list[SimulatedAnnotator]:
    """The same three annotators with recall and hallucination on one dial, ``quality`` in [0, 1].

    0 is a useless panel: it finds a true motive one time in twenty, always invents one that fits
    the product type, and often echoes the product; 1 finds every true motive, never invents and
    never echoes — the oracle's knowledge in the panel's own words. In between, recall rises and
    hallucination and echo rates fall linearly. :func:`default_panel` is not a point of this dial
    (its annotators differ from one another); the course uses it where no quality is named.
    """
    if not 0.0 <= quality <= 1.0:
        raise ValueError(f"panel quality {quality} is outside [0, 1] (0 useless, 1 the oracle)")
    q = float(quality)
    recall, hallucination, echo = 0.05 + 0.95 * q, 1.0 - q, 0.5 * (1.0 - q)
    return [SimulatedAnnotator(f"sim-q{round(100 * q):03d}-{style}", recall, hallucination, echo,
                               0.0, 0.15, seed + style, style=style) for style in range(3)]


def truth_for(mined_text: str) -> str | None:
    """The motive key a simulated statement stands for (the panel's own answer key), or None
    (an echo, or text the panel never writes)."""
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


def _plausible_wrong(motives: Sequence[str], items: list[int], shop: Shop,
                     rng: np.random.Generator) -> str:
    """A motive that fits the product type of one of ``items`` but is not among ``motives``
    (any other motive when none fits): the hallucination a fluent LLM would make."""
    ptype = str(shop.dataset.items["product_type"].iloc[items[rng.integers(len(items))]]) \
        if items else None
    wrong = [k for k, m in MOTIVES.items() if k not in motives]
    fitting = [k for k in wrong if ptype in MOTIVES[k].types]
    pool = fitting or wrong
    return pool[rng.integers(len(pool))]


def _echo(item: int, shop: Shop, rng: np.random.Generator) -> str:
    """A statement that restates the item instead of saying why it is bought."""
    row = shop.dataset.items.iloc[item]
    clues = _CLUE_SENTENCE.search(str(row["description"]))
    features = re.split(r", | and ", clues.group(1)) if clues else []
    values = {"type": str(row["product_type"]), "brand": str(row["brand"]),
              "title": " ".join(str(row["title"]).split()[1:]).lower(),
              "feature": features[rng.integers(len(features))] if features else ""}
    kinds = [k for k in ECHOES if k != "feature" or features]
    options = ECHOES[kinds[rng.integers(len(kinds))]]
    return options[rng.integers(len(options))].format(**values)


def _entity_rng(seed: int, name: str, entity: str) -> np.random.Generator:
    # hashlib, not hash(): Python salts str hashes per process, which would break determinism
    digest = hashlib.sha256(f"{seed}|{name}|{entity}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))
