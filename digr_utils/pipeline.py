"""One function per stage of the course; each loads what earlier stages made or builds it.

Notebooks and the ``digr`` command call the same functions, so a figure in a notebook and the
JSON line printed by the command come from one code path.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from digr_utils.config import Preset, artifacts_dir, get_preset
from digr_utils.data.dataset import Dataset, Split, k_core, leave_one_out
from digr_utils.data.world import Shop, generate_shop, load_shop, ShopConfig, shop_folder, write_shop


@dataclass
class DataSpec:
    """A dataset other than the bundled shop: a folder, its format and its category/file stem."""

    folder: Path
    fmt: str
    name: str


@dataclass
class Data:
    """What the data stage hands on: the dataset, its split, and the shop if it is the shop."""

    dataset: Dataset
    split: Split
    shop: Shop | None


def load_data(preset: str | Preset | None = None, spec: DataSpec | None = None,
              regenerate: bool = False) -> Data:
    """The preset's bundled shop (or the real dataset ``spec`` names), k-cored and split."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    if spec is None:
        if regenerate:
            write_shop(generate_shop(ShopConfig.from_preset(p)), shop_folder(p.name))
        shop = load_shop(p)
        ds = shop.dataset
    else:
        from digr_utils.data.amazon import load

        shop = None
        ds = k_core(load(spec.folder, spec.fmt, spec.name, k=None), p.k_core)
    return Data(ds, leave_one_out(ds, p.max_history), shop)


def data_stage(preset: str | Preset | None = None, spec: DataSpec | None = None,
               regenerate: bool = False) -> dict:
    """Load or generate the data, and write and return its statistics (``metrics.json``)."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    start = time.perf_counter()
    data = load_data(p, spec, regenerate)
    figures = {"dataset": data.dataset.name, **data.dataset.stats(),
               "new_arrival_test_share": round(float(data.split.target_is_new().mean()), 4),
               "seconds": round(time.perf_counter() - start, 2)}
    if data.shop is not None:
        from digr_utils.data.diagnostics import behaviour_report

        figures.update({k: round(v, 4) for k, v in behaviour_report(data.shop).items()})
    save_metrics(p, "data" if spec is None else f"data-{spec.fmt}-{spec.name}", figures)
    return figures


def _rounded(figures: dict) -> dict:
    return {k: round(v, 4) for k, v in figures.items()}


def save_metrics(preset: Preset, stage: str, figures: dict) -> Path:
    """Write a stage's key figures as ``artifacts/<preset>/<stage>/metrics.json``."""
    path = artifacts_dir(preset, stage) / "metrics.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path


def shipped_llm_answers(preset: Preset) -> Path:
    """Where the precomputed answers of the bundled SmolLM2 for a preset's shop are shipped."""
    from digr_utils.data.world import DATA_DIR

    return DATA_DIR / "llm" / f"smollm2_{preset.name}.jsonl"


def mine_stage(preset: str | Preset | None = None, backend: str = "simulated",
               base_url: str | None = None, model: str | None = None,
               spec: DataSpec | None = None, visual: bool = False, progress: bool = True) -> dict:
    """MLIM: mine every item with ``backend`` (simulated | smollm2 | openai) and score it.

    The simulated panel is also merged across its annotators (interests at least two agree on)
    and mines users too. On the bundled shop every answer set is scored against the hidden
    motives with one matcher (:mod:`digr_utils.interests.judge`); on real data only counts and
    failures are reported. ``visual`` adds each item's visual cues to a real LLM's prompt (the
    answers shipped for SmolLM2 were made without them, so turning it on re-mines).
    """
    import shutil

    from digr_utils.interests import mining
    from digr_utils.interests.judge import minilm_matcher, score

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    data = load_data(p, spec)
    folder = artifacts_dir(p, "mine")
    answers: dict[str, list] = {}
    runs: dict[str, dict] = {}
    if backend == "simulated":
        if data.shop is None:
            raise ValueError("the simulated panel reads the bundled shop's hidden motives; it "
                             "cannot mine a real dataset: use --backend smollm2 or openai")
        from digr_utils.interests.simulated import default_panel

        from digr_utils.interests import merge

        panel = default_panel(p.seed)
        for annotator in panel:
            answers[annotator.model], runs[annotator.model] = mining.mine_simulated(
                annotator, data.shop, folder / f"{annotator.model}.jsonl", progress=progress)
        merged = merge.merge_interests(answers, cache_dir=artifacts_dir(p, "embeddings"))
        answers["merged (support >= 2)"] = merge.to_mined(merged, data.dataset.items["item_id"], 2)
        user_answers = {a.model: mining.mine_simulated(a, data.shop, folder / f"{a.model}-users.jsonl",
                                                       users=True, progress=progress)[0]
                        for a in panel}
    else:
        cues = None
        if visual:
            if data.shop is None:
                raise ValueError("visual cues need item images; real datasets here have none")
            from digr_utils.interests.visual import visual_cues_all

            cues = visual_cues_all(data.shop.images)
        if backend == "smollm2":
            from digr_utils.interests.backends import LocalHF

            llm = LocalHF()
            cache = folder / "smollm2.jsonl"
            shipped = shipped_llm_answers(p)
            if data.shop is not None and not cache.exists() and shipped.exists():
                shutil.copyfile(shipped, cache)  # start from the answers shipped in data/
        elif backend == "openai":
            from digr_utils.interests.openai_client import OpenAICompatible

            if not (base_url and model):
                raise ValueError("--backend openai needs --base-url and --model")
            llm = OpenAICompatible(base_url, model)
            cache = folder / "openai.jsonl"
        else:
            raise ValueError(f"unknown backend {backend!r}; use simulated, smollm2 or openai")
        answers[llm.model], runs[llm.model] = mining.mine_items(
            data.dataset, llm, cache, visual_cues=cues, progress=progress)
    quality, user_quality = {}, {}
    if data.shop is not None:
        matcher = minilm_matcher(artifacts_dir(p, "embeddings"))
        truth = data.shop.motive_sets()
        quality = {name: score(mined, truth, matcher) for name, mined in answers.items()}
        if backend == "simulated":
            user_truth = [set(m) for m in data.shop.user_motives]
            user_quality = {name: _rounded(score(mined, user_truth, matcher))
                            for name, mined in user_answers.items()}
    figures = {"backend": backend, "dataset": data.dataset.name,
               "llms": {name: {**_rounded(quality.get(name, {})), **runs.get(name, {})}
                        for name in answers}}
    if user_quality:
        figures["users"] = user_quality
    save_metrics(p, "mine", figures)
    return figures


def shipped_smollm2(preset: str | Preset | None = None) -> tuple[list, dict]:
    """The bundled SmolLM2's precomputed answers for every item of the preset's shop.

    Returns the answers in item order and the settings they were made with; written by
    ``scripts/precompute_smollm2.py``. No model is loaded. The raw answers are parsed again
    with the current parser, so an improved parser applies to the shipped answers too.
    """
    from digr_utils.interests.cache import MiningCache
    from digr_utils.interests.parse import to_mined

    p = preset if isinstance(preset, Preset) else get_preset(preset)
    path = shipped_llm_answers(p)
    record_path = path.with_suffix(".json")
    if not record_path.exists():
        raise FileNotFoundError(f"{record_path} is missing; make it with "
                                f"`python scripts/precompute_smollm2.py --preset {p.name}`")
    record = json.loads(record_path.read_text())
    cache = MiningCache(path)
    ids = load_shop(p).dataset.items["item_id"]
    mined = [cache.get((record["backend"], record["model"], record["prompt_key"], i)) for i in ids]
    missing = [i for i, m in zip(ids, mined) if m is None]
    if missing:
        raise ValueError(f"{path}: no answer for {len(missing)} items ({missing[0]} first); finish "
                         f"it with `python scripts/precompute_smollm2.py --preset {p.name}` (it resumes)")
    return [to_mined(m.entity, m.backend, m.model, m.raw, m.tokens) for m in mined], record
