"""Explanations and beyond-accuracy figures for any set of recommenders (notebook 08).

An explanation links a recommended item to the user's history through what a DeepInterestGR
model shares between items: a prefix of their semantic IDs and an interest RLDI kept. On the
bundled shop the explaining interest is checked against the user's true motives, read from the
motives of their *training* items only (never the validation or test item), so an explanation
is never graded with the answer it is explaining.
"""
from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from digr_utils.metrics import coverage, intra_list_diversity

#: Cosine similarity two interest statements need to count as the same interest; the motive
#: matcher of :mod:`digr_utils.interests.scoring` uses the same bar for statement vs motive.
LINK_THRESHOLD = 0.5
#: A motive counts as the user's when at least this many training items carry it: one item
#: alone may be a noise or popularity purchase.
MIN_MOTIVE_COUNT = 2


@dataclass(frozen=True)
class Explanation:
    """Why ``item`` was recommended: the history item ``anchor`` it is linked to, how many SID
    levels the two share, and the pair of kept interests that links them (None: none does)."""

    item: int
    anchor: int | None
    shared_levels: int
    interest: str | None
    anchor_interest: str | None
    similarity: float


class InterestLinks:
    """Each item's kept interests as unit vectors, so any two items' interests compare by meaning
    (paraphrases such as "weekend trail walks" / "hill walking" link; exact text rarely does)."""

    def __init__(self, interests: Sequence[Sequence[str]],
                 embed: Callable[[list[str]], np.ndarray], threshold: float = LINK_THRESHOLD):
        self.texts = [list(t) for t in interests]
        self.threshold = threshold
        owners = np.array([i for i, t in enumerate(self.texts) for _ in t], dtype=np.int64)
        flat = [s for t in self.texts for s in t]
        vectors = _unit(np.asarray(embed(flat), dtype=np.float64)) if flat else np.zeros((0, 1))
        self._vectors = [vectors[owners == i] for i in range(len(self.texts))]
        self.similarity = _max_by_owner(vectors @ vectors.T, owners, len(self.texts))

    def pair(self, a: int, b: int) -> tuple[str, str, float] | None:
        """The most similar (interest of ``a``, interest of ``b``, cosine), or None when they
        share none above the threshold."""
        if self.similarity[a, b] < self.threshold:
            return None
        sims = self._vectors[a] @ self._vectors[b].T
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        return self.texts[a][i], self.texts[b][j], float(sims[i, j])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)


def _max_by_owner(sims: np.ndarray, owners: np.ndarray, n: int) -> np.ndarray:
    """``(n, n)``: for items a, b the largest entry of ``sims`` between their rows (-inf if
    either has no interest)."""
    out = np.full((n, n), -np.inf)
    if not len(owners):
        return out
    rows = np.full((n, sims.shape[1]), -np.inf)
    np.maximum.at(rows, owners, sims)
    np.maximum.at(out.T, owners, rows.T)
    return out


def explain(history: Sequence[int], item: int, codes: np.ndarray, links: InterestLinks,
            levels: int | None = None) -> Explanation:
    """Link ``item`` to ``history``: the history item sharing a kept interest with it (above the
    link threshold) and the longest SID prefix, the most recent on a tie; without a shared
    interest, the longest prefix alone. ``item`` itself, if bought before, is no anchor.

    ``levels`` SID positions are compared (default all but the last, the collision suffix,
    which carries no meaning).
    """
    return _explain_list(np.asarray(history, dtype=np.int64), np.array([item]), codes, links,
                         levels)[0]


def _explain_list(history: np.ndarray, items: np.ndarray, codes: np.ndarray,
                  links: InterestLinks, levels: int | None) -> list[Explanation]:
    if not len(history):
        return [_unexplained(i) for i in items]
    levels = codes.shape[1] - 1 if levels is None else levels
    same = codes[items][:, None, :levels] == codes[history][None, :, :levels]
    prefix = np.cumprod(same, axis=2).sum(axis=2)  # (items, history)
    linked = links.similarity[np.ix_(items, history)] >= links.threshold
    recency = np.arange(len(history))  # later in the history = more recent = preferred
    key = (linked * (levels + 1) + prefix) * len(history) + recency
    key[items[:, None] == history[None, :]] = -1  # an item bought before does not explain itself
    out = []
    for row, item in enumerate(items):
        col = int(np.argmax(key[row]))
        if key[row, col] < 0:
            out.append(_unexplained(item))
            continue
        anchor = int(history[col])
        link = links.pair(int(item), anchor)
        out.append(Explanation(int(item), anchor, int(prefix[row, col]),
                               link[0] if link else None, link[1] if link else None,
                               link[2] if link else float("nan")))
    return out


def _unexplained(item) -> Explanation:
    return Explanation(int(item), None, 0, None, None, float("nan"))


def explain_lists(histories: Sequence[np.ndarray], topk: np.ndarray, codes: np.ndarray,
                  links: InterestLinks, levels: int | None = None) -> pd.DataFrame:
    """Every recommendation of every user explained: one row per (user, rank)."""
    rows = []
    for user, (history, items) in enumerate(zip(histories, np.asarray(topk))):
        items = items[items >= 0]
        for rank, e in enumerate(_explain_list(np.asarray(history, dtype=np.int64), items, codes,
                                               links, levels)):
            rows.append({"user": user, "rank": rank + 1, **e.__dict__})
    return pd.DataFrame(rows, columns=["user", "rank", *Explanation.__dataclass_fields__])


# --- explanations against the hidden motives ---------------------------------------------------

def training_motive_counts(train: Sequence[np.ndarray],
                           item_motives: Sequence[Iterable[str]]) -> list[Counter]:
    """Per user, how many of their training items carry each motive."""
    return [Counter(m for i in items for m in item_motives[int(i)]) for items in train]


def user_motives(counts: Sequence[Counter], min_count: int = MIN_MOTIVE_COUNT) -> list[set[str]]:
    """Each user's motives: those at least ``min_count`` training items carry."""
    return [{m for m, n in c.items() if n >= min_count} for c in counts]


#: Why an explanation is judged as it is, in the order the checks run.
REASONS = ("right", "no shared interest", "names no motive", "wrong for the item",
           "wrong for the history item", "never in the user's training items",
           "one-off in the user's training items")


def judge(explanations: pd.DataFrame, match: Callable[[list[str]], list[str | None]],
          counts: Sequence[Counter], item_motives: Sequence[Iterable[str]],
          min_count: int = MIN_MOTIVE_COUNT) -> pd.DataFrame:
    """``explanations`` with the motive each interest names (``match``), ``hit`` (it is one of
    the user's motives; NaN without an interest) and the ``reason`` from :data:`REASONS`: a
    motive that the recommended or the history item does not have is a mining error RLDI kept."""
    texts = sorted({t for t in explanations["interest"] if isinstance(t, str)})
    named = dict(zip(texts, match(texts)))
    motive = [named.get(t) if isinstance(t, str) else None for t in explanations["interest"]]
    reason = [_reason(t, m, counts[u][m] if m else 0, m in set(item_motives[i]),
                      a == a and m in set(item_motives[int(a)]), min_count)  # a == a: not NaN
              for t, m, u, i, a in zip(explanations["interest"], motive, explanations["user"],
                                       explanations["item"], explanations["anchor"])]
    has = explanations["interest"].map(lambda t: isinstance(t, str))
    hit = np.where(has, [r == "right" for r in reason], np.nan)
    return explanations.assign(motive=motive, hit=hit, reason=reason)


def _reason(text, motive: str | None, user_count: int, on_item: bool, on_anchor: bool,
            min_count: int) -> str:
    if not isinstance(text, str):
        return "no shared interest"
    if motive is None:
        return "names no motive"
    if user_count >= min_count:
        return "right"
    if not on_item:
        return "wrong for the item"
    if not on_anchor:
        return "wrong for the history item"
    return "never in the user's training items" if user_count == 0 else \
        "one-off in the user's training items"


def per_user_hit_rate(judged: pd.DataFrame) -> pd.DataFrame:
    """Per user: share of their explained recommendations whose interest is one of their motives
    (``hit_rate``, NaN when none is explained) and share explained at all (``explained``)."""
    grouped = judged.groupby("user")
    return pd.DataFrame({"hit_rate": grouped["hit"].mean(),
                         "explained": grouped["interest"].apply(lambda s: s.notna().mean())})


def bootstrap_mean(values: Sequence[float], n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` (NaN dropped) and its percentile bootstrap interval, resampling the
    values (here: users) with replacement."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    draws = np.random.default_rng(seed).choice(v, size=(n_boot, len(v))).mean(axis=1)
    tail = (1 - level) / 2 * 100
    return float(v.mean()), float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


# --- beyond accuracy ---------------------------------------------------------------------------

def recommendation_counts(topk: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists each item appears in (-1 padding ignored)."""
    flat = np.asarray(topk).ravel()
    return np.bincount(flat[flat >= 0], minlength=n_items)


def gini(counts: Sequence[float]) -> float:
    """Gini coefficient of ``counts``: 0 when every item is recommended equally often, towards 1
    when a few items take every slot."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n, total = len(x), x.sum()
    if not n or not total:
        return 0.0
    return float(2 * np.sum(np.arange(1, n + 1) * x) / (n * total) - (n + 1) / n)


def head_items(train_counts: np.ndarray, head: float = 0.2) -> np.ndarray:
    """Mask of the most bought ``head`` share of the catalogue (by training count; ties by id)."""
    order = np.argsort(-np.asarray(train_counts), kind="stable")
    mask = np.zeros(len(order), dtype=bool)
    mask[order[:int(round(head * len(order)))]] = True
    return mask


def head_share(topk: np.ndarray, train_counts: np.ndarray, head: float = 0.2) -> float:
    """Share of recommended slots taken by the head (:func:`head_items`)."""
    flat = np.asarray(topk).ravel()
    flat = flat[flat >= 0]
    return float(head_items(train_counts, head)[flat].mean())


def novelty(topk: np.ndarray, train_counts: np.ndarray) -> float:
    """Mean -log2 p(i) over recommended slots, p(i) the item's share of training interactions
    with add-one smoothing (a new arrival, never bought, has a finite, high novelty)."""
    c = np.asarray(train_counts, dtype=np.float64)
    p = (c + 1) / (c.sum() + len(c))
    flat = np.asarray(topk).ravel()
    return float(np.mean(-np.log2(p[flat[flat >= 0]])))


def label_coverage(topk: np.ndarray, item_labels: Sequence[Iterable[str]], n_labels: int) -> float:
    """Share of ``n_labels`` labels (motives, categories) that some user's list reaches."""
    flat = np.unique(np.asarray(topk).ravel())
    return len({lab for i in flat[flat >= 0] for lab in item_labels[i]}) / n_labels


def labels_per_list(topk: np.ndarray, item_labels: Sequence[Iterable[str]]) -> float:
    """Mean number of distinct labels in one list: a narrow list repeats a motive or category."""
    return float(np.mean([len({lab for i in row if i >= 0 for lab in item_labels[i]})
                          for row in np.asarray(topk)]))


def on_motive_share(topk: np.ndarray, motives: Sequence[set[str]],
                    item_motives: Sequence[Iterable[str]]) -> float:
    """Share of recommended items carrying one of their user's motives: how tightly lists hug
    what the user already bought for."""
    return float(np.mean([bool(motives[u] & set(item_motives[i]))
                          for u, row in enumerate(np.asarray(topk)) for i in row if i >= 0]))


def beyond_accuracy(topk: np.ndarray, train_counts: np.ndarray, surface: np.ndarray,
                    categories: Sequence[str], item_motives: Sequence[Iterable[str]] | None = None,
                    motives: Sequence[set[str]] | None = None, n_motives: int = 0,
                    head: float = 0.2) -> dict:
    """One model's filter-bubble figures over all its lists: diversity, coverage, popularity
    bias (``head`` share of the catalogue) and novelty; the motive figures only where the
    hidden motives are known (``motives``: one set per row of ``topk``)."""
    cats = [(c,) for c in categories]
    figures = {"ILD (surface text)": intra_list_diversity(topk, surface),
               "item coverage": coverage(topk, len(train_counts)),
               "category coverage": label_coverage(topk, cats, len(set(categories))),
               "categories per list": labels_per_list(topk, cats),
               "head share": head_share(topk, train_counts, head),
               "Gini": gini(recommendation_counts(topk, len(train_counts))),
               "novelty (bits)": novelty(topk, train_counts)}
    if item_motives is not None:
        figures.update({"motive coverage": label_coverage(topk, item_motives, n_motives),
                        "motives per list": labels_per_list(topk, item_motives),
                        "on-motive share": on_motive_share(topk, motives, item_motives)})
    return figures


# --- the models to explore ---------------------------------------------------------------------

@dataclass
class Model:
    """A named recommender for the explorer: what ranks (``recommender``), the semantic IDs it
    ranks by (None for ID-free baselines), and the interest source its IDs were made from."""

    name: str
    recommender: object
    ids: object | None
    source: str


@dataclass
class Interests:
    """One interest source's RLDI-kept interests per item, linked by meaning (``links``)."""

    source: object
    kept: list[list[str]]
    links: InterestLinks


def load_interests(data, sources: Sequence[str], seed: int = 0,
                   threshold: float = LINK_THRESHOLD) -> dict[str, Interests]:
    """The kept interests of each source in ``sources`` (reused from their RLDI runs), embedded
    with the bundled MiniLM (cached) to link items by meaning."""
    from digr_utils.embed import encode
    from digr_utils.interests.stage import InterestSource
    from digr_utils.labeling.stage import kept_interests
    from digr_utils.runs import cache_dir

    def embed(texts: list[str]) -> np.ndarray:
        return encode(texts, cache_dir=cache_dir())

    out = {}
    for name in sources:
        source = InterestSource(name)
        kept = kept_interests(data, source, seed)[0]
        out[name] = Interests(source, kept, InterestLinks(kept, embed, threshold))
    return out


def top_lists(models: dict[str, Model], histories: Sequence[np.ndarray], k: int = 10) -> dict[str, np.ndarray]:
    """Each model's top-``k`` list for every history."""
    return {name: np.asarray(m.recommender.recommend(histories, k)) for name, m in models.items()}


def explaining_ids(model: Model, models: dict[str, Model], source: str):
    """The semantic IDs an explanation of ``model`` compares: its own, or for an ID-free
    baseline the IDs of DeepInterestGR on ``source`` (SFT)."""
    if model.ids is not None:
        return model.ids
    return next(m.ids for m in models.values() if m.source == source and m.ids is not None)


def hit_rates(models: dict[str, Model], lists: dict[str, np.ndarray], histories: Sequence[np.ndarray],
              users: np.ndarray, interests: dict[str, Interests], match, counts: Sequence[Counter],
              item_motives, min_count: int = MIN_MOTIVE_COUNT) -> pd.DataFrame:
    """Every recommendation of every model explained with each source's interests (a deep model
    only with its own source) and judged: one row per (model, source, user, rank)."""
    frames = []
    for name, model in models.items():
        for src, chosen in interests.items():
            if model.source not in ("none", src):
                continue
            ids = explaining_ids(model, models, src)
            table = explain_lists(histories, lists[name], ids.codes, chosen.links)
            table["user"] = users[table["user"].to_numpy()]
            frames.append(judge(table, match, counts, item_motives, min_count)
                          .assign(model=name, source=chosen.source.description))
    return pd.concat(frames, ignore_index=True)


def hit_rate_summary(judged: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per (model, source): mean explanation hit rate over users with its bootstrap 95 % interval,
    and the share of recommendations explained by a shared interest at all."""
    rows = []
    for (model, source), part in judged.groupby(["model", "source"], sort=False):
        per_user = per_user_hit_rate(part)
        mean, lo, hi = bootstrap_mean(per_user["hit_rate"], n_boot, seed)
        rows.append({"model": model, "interests": source, "hit rate": mean, "95% low": lo,
                     "95% high": hi, "explained share": float(per_user["explained"].mean()),
                     "users": int(per_user["hit_rate"].notna().sum())})
    return pd.DataFrame(rows)


def grpo_available() -> bool:
    """Whether the GRPO stage exists in this checkout (notebook 06's models can be loaded)."""
    return importlib.util.find_spec("digr_utils.gen.grpo_stage") is not None


def load_models(data, preset, sources: Sequence[str], seed: int = 0, sasrec=None,
                train_grpo: bool = False, grpo: Sequence[str] | None = None) -> dict[str, Model]:
    """Every model the explorer compares, reused from their runs: popularity, SASRec, TIGER
    (shallow IDs) and DeepInterestGR after SFT for each interest source in ``sources``; after
    GRPO too when the GRPO stage exists: every finished run on that SFT model (notebook 06's),
    or with ``train_grpo`` the interest-aware reward with and without the quality bonus.
    ``grpo``, when given, keeps only the GRPO models of those names (:func:`grpo_name`, e.g.
    ``("GRPO α=0.5",)``): each model kept costs a beam search per user downstream."""
    from digr_utils.baselines.popularity import Popularity
    from digr_utils.baselines.stage import SASRecConfig, train_sasrec
    from digr_utils.gen.stage import run_sft
    from digr_utils.interests.stage import InterestSource

    sasrec = sasrec or SASRecConfig(epochs=preset.epochs, batch_size=preset.batch_size)
    models = [Model("popularity", Popularity().fit(data.split), None, "none"),
              Model("SASRec (item IDs)", train_sasrec(data, sasrec, seed, max_len=preset.max_history)[0],
                    None, "none")]
    for name in ("none", *sources):
        source = InterestSource(name)
        sft = run_sft(preset, source, seed=seed, progress=False)
        title = "TIGER (shallow IDs)" if name == "none" else f"DeepInterestGR · {source.label}"
        ids = _bundle_ids(sft.run)
        models.append(Model(f"{title} · SFT", sft.recommender, ids, name))
        if name != "none" and grpo_available():
            models += [Model(f"{title} · {stage}", rec, ids, name)
                       for stage, rec in _grpo(data, preset, source, sft.run, seed, train_grpo,
                                               grpo).items()]
    return {m.name: m for m in models}


def _bundle_ids(run):
    """The semantic IDs a model bundle decodes (saved in its folder)."""
    from digr_utils.sid import SemanticIds

    return SemanticIds.load(run.path("sids.npz"))


def _grpo(data, preset, source, sft_run, seed: int, train: bool,
          keep: Sequence[str] | None = None) -> dict:
    """Stage name -> recommender of the GRPO runs on ``sft_run``: trained now (quality bonus
    0.5 and 0) when ``train``, else whichever finished (never retrained); only the names in
    ``keep`` when given."""
    from digr_utils.gen.stage import load_recommender

    wanted = (lambda name: True) if keep is None else (lambda name: name in keep)
    if train:
        from digr_utils.gen.grpo import RewardConfig
        from digr_utils.gen.grpo_stage import run_grpo

        runs = {bonus: run_grpo(preset, source, reward=RewardConfig(quality_bonus=bonus),
                                seed=seed, progress=False) for bonus in (0.5, 0.0)
                if wanted(grpo_name({"kind": "interest-aware", "quality_bonus": bonus}))}
        return {grpo_name(r.run.recipe["reward"]): r.recommender for r in runs.values()}
    return {name: load_recommender(folder, data)
            for name, folder in finished_grpo(data.key, sft_run.key).items() if wanted(name)}


def grpo_name(reward: dict) -> str:
    """A GRPO model named by its reward: ``GRPO α=0.5``, ``GRPO α=0.5 ungated``, ``GRPO rule``."""
    if reward.get("kind") != "interest-aware":
        return f"GRPO {reward.get('kind')}"
    bonus = reward.get("quality_bonus", 0)
    return f"GRPO α={bonus:g}" + ("" if reward.get("gated", True) or not bonus else " ungated")


def finished_grpo(dataset: str, sft_key: str) -> dict:
    """Name (:func:`grpo_name`) -> folder of the newest finished GRPO run per reward that
    refines SFT run ``sft_key``: reuse, never retrain."""
    from digr_utils.runs import artifacts_root, load_run, safe_name

    found: dict = {}
    records = (artifacts_root() / safe_name(dataset) / "grpo").glob("*/run.json")
    for record in sorted(records, key=lambda r: r.stat().st_mtime):
        run = load_run(record.parent, dataset, "grpo")
        if run.finished and run.recipe.get("sft") == sft_key:
            found[grpo_name(run.recipe.get("reward", {}))] = run.folder
    return found


def code_path(codes: np.ndarray, i: int) -> list[tuple[int, int]]:
    """Item ``i``'s SID as (code, how many items share the prefix up to it) per position: the
    trie path a beam search walks down to reach the item."""
    same = np.cumprod(codes == codes[i], axis=1).astype(bool)
    return [(int(codes[i, p]), int(same[:, p].sum())) for p in range(codes.shape[1])]


def widest_interests(kept: Sequence[Sequence[str]], item_motives: Sequence[Iterable[str]],
                     top: int = 5) -> pd.DataFrame:
    """The kept interests attached to most items, with how many different true motives those
    items have and the share of them carrying the commonest one: a real motive's items all
    share it; a stock phrase ("a quality product") links items with no reason to buy in common."""
    owners: dict[str, set[int]] = {}
    for i, texts in enumerate(kept):
        for t in set(texts):
            owners.setdefault(t, set()).add(i)
    rows = []
    for t, items in owners.items():
        motives = Counter(m for i in items for m in set(item_motives[i]))
        rows.append({"interest": t, "items": len(items), "motives among them": len(motives),
                     "share with the commonest motive": max(motives.values()) / len(items)})
    columns = ["interest", "items", "motives among them", "share with the commonest motive"]
    return (pd.DataFrame(rows, columns=columns).sort_values(["items", "interest"], ascending=[False, True])
            .head(top).reset_index(drop=True))
