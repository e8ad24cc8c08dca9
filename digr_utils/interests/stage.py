"""The MLIM stage: mine every item (and, for the panel, every user) from one interest source.

Where interests come from is part of every result, so it is a recipe field carried through every
later stage: ``panel`` (the simulated annotators: a teaching device that reads the shop's hidden
motives, never an LLM), ``smollm2`` (the bundled 135M model; its answers for the bundled shops
ship in ``data/llm/``), ``openai`` (any OpenAI-compatible server), ``taxonomy`` (a real miner
with no LLM: each description sentence matched zero-shot to the motive taxonomy with the bundled
sentence encoder, :mod:`digr_utils.interests.taxonomy`), or ``oracle`` (each item's true motive
names: an upper bound that cheats, always labelled so). ``none`` (shallow, surface text only)
needs no mining. The panel's ``quality`` dial (:func:`~digr_utils.interests.simulated.dial_panel`)
sweeps it from useless to the oracle's knowledge.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from digr_utils.config import Preset
from digr_utils.data.stage import Data, DataSpec, as_preset, load_data
from digr_utils.runs import Run, cache_dir, open_run

#: Interest sources that are mined (``none`` means surface text only, and mines nothing).
MINED_SOURCES = ("panel", "smollm2", "openai", "taxonomy", "oracle")
#: Sources that read the shop's hidden motives: results from them are a teaching device or a
#: bound, never a measurement of an LLM.
KNOWS_THE_ANSWERS = ("panel", "oracle")
#: Every interest source a later stage accepts.
INTEREST_SOURCES = ("none", *MINED_SOURCES)


@dataclass(frozen=True)
class InterestSource:
    """Which interests a run uses: ``name`` from :data:`INTEREST_SOURCES`; for ``openai`` the
    server's ``base_url`` and ``model``; ``visual`` adds each item's visual cues to an LLM's
    prompt (the answers shipped for SmolLM2 were made without them); ``quality`` in [0, 1] sets
    the panel's dial (None: the default three-annotator panel, which is not a point of the dial)."""

    name: str = "panel"
    base_url: str | None = None
    model: str | None = None
    visual: bool = False
    quality: float | None = None

    def __post_init__(self) -> None:
        if self.name not in INTEREST_SOURCES:
            raise ValueError(f"unknown interest source {self.name!r}; use one of "
                             f"{', '.join(INTEREST_SOURCES)}")
        if self.quality is not None and self.name != "panel":
            raise ValueError(f"quality is the simulated panel's dial; source {self.name!r} has none")
        if self.quality is not None and not 0.0 <= self.quality <= 1.0:
            raise ValueError(f"panel quality {self.quality} is outside [0, 1] (0 useless, 1 the oracle)")
        if self.name == "openai" and not (self.base_url and self.model):
            raise ValueError("interests from an OpenAI-compatible server need --base-url "
                             "(e.g. http://localhost:8000/v1) and --model (the served model's name)")

    @property
    def mined(self) -> bool:
        return self.name != "none"

    @property
    def label(self) -> str:
        """How a results row names this source."""
        if self.name == "panel" and self.quality is not None:
            return f"panel-q{round(100 * self.quality):03d}"
        return f"openai:{self.model}" if self.name == "openai" else self.name

    @property
    def description(self) -> str:
        """The source in words, for a results table's row or a plot's legend."""
        if self.name == "panel" and self.quality is not None:
            return f"simulated panel at quality {self.quality:.2f} (knows the hidden motives)"
        return {"none": "no interests (surface text only)",
                "panel": "simulated panel (knows the hidden motives)",
                "oracle": "oracle: true motive names (cheating upper bound)",
                "smollm2": "SmolLM2-135M (real LLM)",
                "taxonomy": "zero-shot taxonomy matcher (sentence encoder, no LLM)"}.get(self.name, f"{self.label} (real LLM)")


@dataclass
class Mining:
    """What MLIM hands on: answers per LLM (or annotator) for items and, when mined, users."""

    items: dict[str, list]
    users: dict[str, list] | None
    runs: dict[str, dict]
    run: Run
    source: InterestSource


def mining_run(data: Data, source: InterestSource, seed: int) -> Run:
    """The run folder of ``source``'s answers on ``data`` (the panel's draws depend on ``seed``)."""
    from digr_utils.interests.prompts import PROMPT_VERSION

    if source.name == "panel":
        recipe = {"interests": "panel", "annotators": [asdict(a) for a in _panel(source, seed)]}
    elif source.name == "oracle":
        recipe = {"interests": "oracle"}
    elif source.name == "taxonomy":
        from digr_utils.interests.taxonomy import recipe as taxonomy_recipe

        recipe = {"interests": "taxonomy", **taxonomy_recipe()}
    else:
        recipe = {"interests": source.name, "model": source.model, "base_url": source.base_url,
                  "visual": source.visual, "prompt": PROMPT_VERSION}
    return open_run(data.key, "mine", recipe, source.label)


def mine(data: Data, source: InterestSource, seed: int = 0, progress: bool = True) -> Mining:
    """MLIM: every item through ``source`` (cached in its run folder, so a rerun resumes)."""
    from digr_utils.interests import mining

    if not source.mined:
        raise ValueError("interest source 'none' mines nothing; choose panel, smollm2 or openai")
    run = mining_run(data, source, seed)
    if source.name == "panel":
        return _mine_panel(data, source, run, seed, progress)
    if source.name == "oracle":
        return _oracle(data, run)
    if source.name == "taxonomy":
        from digr_utils.interests.taxonomy import mine_taxonomy

        answers, summary = mine_taxonomy(data.dataset, run, cache_dir=cache_dir())
        return Mining({answers[0].model if answers else "taxonomy": answers}, None,
                      {"taxonomy": summary}, run, source)
    cues = _visual_cues(data) if source.visual else None
    if source.name == "smollm2":
        if shipped_llm_answers(data) is not None and not source.visual:
            answers, record = shipped_answers(data)  # no model loaded: the answers ship in data/llm/
            summary = {"calls": 0, "cache_hits": len(answers), "failures": 0,
                       "parse_failures": sum(m.error is not None for m in answers)}
            return Mining({record["model"]: answers}, None, {record["model"]: summary}, run, source)
        from digr_utils.interests.backends import LocalHF

        llm = LocalHF()
        cache = run.path("smollm2.jsonl")
    else:
        from digr_utils.interests.openai_client import OpenAICompatible

        llm = OpenAICompatible(source.base_url, source.model)
        cache = run.path("openai.jsonl")
    answers, summary = mining.mine_items(data.dataset, llm, cache, visual_cues=cues,
                                         progress=progress)
    return Mining({llm.model: answers}, None, {llm.model: summary}, run, source)


def _panel(source: InterestSource, seed: int) -> list:
    """The annotators behind ``source``: the default panel, or the dial at its quality."""
    from digr_utils.interests.simulated import default_panel, dial_panel

    return default_panel(seed) if source.quality is None else dial_panel(source.quality, seed)


def _mine_panel(data: Data, source: InterestSource, run: Run, seed: int,
                progress: bool) -> Mining:
    from digr_utils.interests.mining import mine_simulated

    if data.shop is None:
        raise ValueError(f"the simulated panel reads the bundled shop's hidden motives; dataset "
                         f"{data.key} has none: use --interests smollm2 or openai")
    items, users, runs = {}, {}, {}
    for a in _panel(source, seed):
        items[a.model], runs[a.model] = mine_simulated(a, data.shop, run.path(f"{a.model}.jsonl"),
                                                       progress=progress)
        users[a.model] = mine_simulated(a, data.shop, run.path(f"{a.model}-users.jsonl"),
                                        users=True, progress=progress)[0]
    return Mining(items, users, runs, run, source)


def _oracle(data: Data, run: Run) -> Mining:
    """Each item's true motive names as its interests, with full confidence: what a perfect
    miner would say. It reads the answer key, so every result from it is an upper bound."""
    from digr_utils.interests.types import Interest, Mined

    if data.shop is None:
        raise ValueError(f"the oracle reads the bundled shop's hidden motives; dataset {data.key} "
                         "has none: use --interests smollm2 or openai")
    names = data.shop.motives
    items = [Mined(str(i), "oracle", "oracle", [Interest(names[m], 1.0) for m in motives])
             for i, motives in zip(data.dataset.items["item_id"], data.shop.item_motives)]
    return Mining({"oracle": items}, None, {"oracle": {"calls": 0}}, run, InterestSource("oracle"))


def _visual_cues(data: Data) -> list[str]:
    if data.shop is None:
        raise ValueError(f"visual cues need item images; dataset {data.key} has none")
    from digr_utils.interests.visual import visual_cues_all

    return visual_cues_all(data.shop.images)


def shipped_llm_answers(data: Data) -> Path | None:
    """The bundled SmolLM2's precomputed answers for this shop (None for other data)."""
    from digr_utils.data.world import DATA_DIR

    if data.shop is None:
        return None
    name = data.key.split("-")[0].removeprefix("shop_")
    path = DATA_DIR / "llm" / f"smollm2_{name}.jsonl"
    return path if path.exists() else None


def shipped_smollm2(preset: str | Preset | None = None) -> tuple[list, dict]:
    """The bundled SmolLM2's precomputed answers for every item of the preset's shop, in item
    order, and the settings they were made with (see :func:`shipped_answers`)."""
    return shipped_answers(load_data(as_preset(preset)))


def shipped_answers(data: Data) -> tuple[list, dict]:
    """The SmolLM2 answers shipped for this shop, written by ``scripts/precompute_smollm2.py``.

    No model is loaded. The raw answers are parsed again with the current parser, so an
    improved parser applies to the shipped answers too.
    """
    from digr_utils.interests.mining import cached_items
    from digr_utils.interests.parse import to_mined

    path = shipped_llm_answers(data)
    record_path = path.with_suffix(".json") if path else None
    if record_path is None or not record_path.exists():
        raise FileNotFoundError(f"no SmolLM2 answers are shipped for dataset {data.key}; mine "
                                "them with `digr mine --interests smollm2` (slow on a CPU), or for "
                                "a bundled shop run `python scripts/precompute_smollm2.py`")
    record = json.loads(record_path.read_text())
    ids = data.dataset.items["item_id"]
    mined = cached_items(data.dataset, path, record["backend"], record["model"],
                         record["prompt_key"], n_examples=record["n_examples"])
    missing = [i for i, m in zip(ids, mined) if m is None]
    if missing:
        raise ValueError(f"{path}: no answer for {len(missing)} items ({missing[0]} first); finish "
                         "it with `python scripts/precompute_smollm2.py` (it resumes)")
    return [to_mined(m.entity, m.backend, m.model, m.raw, m.tokens) for m in mined], record


def mine_stage(preset: str | Preset | None = None, source: InterestSource = InterestSource(),
               spec: DataSpec | None = None, seed: int | None = None,
               progress: bool = True) -> dict:
    """``digr mine``: mine with ``source`` and score the answers; figures saved with the run.

    The panel is also merged across its annotators (interests at least two agree on). On the
    bundled shop every answer set is scored against the hidden motives with one matcher
    (:mod:`digr_utils.interests.scoring`); on real data only counts and failures are reported.
    """
    from digr_utils.interests import merge
    from digr_utils.interests.scoring import minilm_matcher, score, user_truth

    p = as_preset(preset)
    seed = p.seed if seed is None else seed
    data = load_data(p, spec)
    mined = mine(data, source, seed, progress)
    answers = dict(mined.items)
    if source.name == "panel":
        merged = merge.merge_interests(answers, cache_dir=cache_dir())
        answers["merged (support >= 2)"] = merge.to_mined(merged, data.dataset.items["item_id"], 2)
    quality, user_quality = {}, {}
    if data.shop is not None:
        matcher = minilm_matcher(cache_dir())
        truth = data.shop.motive_sets()
        quality = {name: score(m, truth, matcher) for name, m in answers.items()}
        if mined.users:
            truth_u = user_truth(data.shop, data.split.train)  # motives training items show
            user_quality = {name: _rounded(score(m, truth_u, matcher))
                            for name, m in mined.users.items()}
    figures = {"interests": source.label, "dataset": data.key, "run": str(mined.run.folder),
               "llms": {name: {**_rounded(quality.get(name, {})), **mined.runs.get(name, {})}
                        for name in answers}}
    if user_quality:
        figures["users"] = user_quality
    return mined.run.save_metrics(figures)


def _rounded(figures: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}
