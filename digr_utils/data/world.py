"""The bundled shop: a synthetic store whose customers buy for hidden reasons.

Real review data never says *why* something was bought, so the course ships a shop generated
from a seed where it does. Items have a surface (product type, brand, title, description,
image) and one or two hidden motives that show only through clues; users have one to three
motives and buy along them. Surface similarity (same type) and deep similarity (same motive)
disagree on purpose: that gap is what the course is about.

Files written (``write_shop``) mirror what a real dataset is loaded from, with the ground truth
kept apart under ``truth/`` so a model can be given the data without the answers.
"""
from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from digr_utils.config import REPO_ROOT, Preset, get_preset
from digr_utils.data.dataset import Dataset, from_sequences, k_core
from digr_utils.data.vocabulary import (
    BRAND_ENDINGS, BRAND_SYLLABLES, MOTIVES, PRODUCT_TYPES, clues_for,
)
from digr_utils.io import write_bytes_atomic

DATA_DIR = REPO_ROOT / "data"
IMAGE_SIZE = 32
_DAY = 86_400
_START = 1_577_836_800  # 2020-01-01, so timestamps look like a real log


@dataclass(frozen=True)
class ShopConfig:
    """Knobs of the generator; the defaults are what the committed data was made with."""

    n_users: int
    n_items: int
    seed: int = 0
    new_item_share: float = 0.10  # items that only ever appear as test targets
    two_motive_share: float = 0.10  # items that serve two motives
    use_case_share: float = 0.12  # descriptions that state the use case outright
    clues_per_item: int = 2
    mean_length: float = 9.5  # mean sequence length (min 5)
    noise: float = 0.08  # chance a step ignores the user's motives
    stickiness: float = 0.6  # chance the next step keeps the current motive
    popularity_sigma: float = 0.9  # log-normal spread of item appeal (the long tail)
    k_core: int = 5

    @classmethod
    def from_preset(cls, preset: Preset) -> "ShopConfig":
        return cls(n_users=preset.n_users, n_items=preset.n_items, seed=preset.seed,
                   k_core=preset.k_core)


@dataclass
class Shop:
    """The generated shop: the visible dataset, item images and the hidden ground truth."""

    dataset: Dataset
    images: np.ndarray  # (n_items, IMAGE_SIZE, IMAGE_SIZE, 3) uint8
    item_motives: list[tuple[str, ...]]  # hidden: each item's motives, strongest first
    user_motives: list[tuple[str, ...]]  # hidden: each user's motives
    new_items: np.ndarray  # bool per item: a new arrival (only ever a test target)

    @property
    def motives(self) -> dict[str, str]:
        """Motive key -> its ground-truth wording."""
        return {k: m.name for k, m in MOTIVES.items()}

    def motive_sets(self) -> list[set[str]]:
        return [set(m) for m in self.item_motives]

    def motive_ids(self) -> list[tuple[int, ...]]:
        """Each item's motives as integer ids (positions in :data:`MOTIVES`)."""
        index = {k: j for j, k in enumerate(MOTIVES)}
        return [tuple(index[m] for m in ms) for ms in self.item_motives]

    def motive_matrix(self) -> np.ndarray:
        """A multi-hot ``(n_items, n_motives)`` matrix of the hidden motives."""
        matrix = np.zeros((len(self.item_motives), len(MOTIVES)), dtype=np.float32)
        for i, ids in enumerate(self.motive_ids()):
            matrix[i, list(ids)] = 1.0
        return matrix


def generate_shop(config: ShopConfig) -> Shop:
    """Generate a shop from ``config`` (the same config always gives the same shop)."""
    rng = np.random.default_rng(config.seed)
    items = _make_items(config, rng)
    sequences, user_motives = _make_sequences(config, items, rng)
    return _assemble(config, items, sequences, user_motives, rng)


# --- items ---------------------------------------------------------------------------------

def _make_items(config: ShopConfig, rng: np.random.Generator) -> pd.DataFrame:
    """One row per item: type, motives, brand, title, description, price, appeal, new flag."""
    pairs = [(m, t) for m, mot in MOTIVES.items() for t in mot.types]
    brands = _brands(rng)
    rows = []
    for i in range(config.n_items):
        # every (motive, type) pair gets one item first, then pairs are drawn at random
        motive, ptype = pairs[i] if i < len(pairs) else pairs[rng.integers(len(pairs))]
        motives = [motive]
        others = [m for m, mot in MOTIVES.items() if ptype in mot.types and m != motive]
        if rng.random() < config.two_motive_share and others:
            motives.append(others[rng.integers(len(others))])
        pt = PRODUCT_TYPES[ptype]
        title, description = _write_item(pt, motives, brands[pt.category], config, rng)
        rows.append({
            "product_type": ptype,
            "category": pt.category,
            "brand": title.split(" ")[0],
            "title": title,
            "description": description,
            "price": round(float(pt.base_price * rng.lognormal(0, 0.25)), 2),
            "motives": tuple(motives),
            "appeal": float(rng.lognormal(0, config.popularity_sigma)),
        })
    items = pd.DataFrame(rows).sample(frac=1.0, random_state=rng).reset_index(drop=True)
    new = np.zeros(len(items), dtype=bool)
    n_new = int(round(config.new_item_share * len(items)))
    new[rng.choice(len(items), size=n_new, replace=False)] = True
    items["new"] = new
    return items


def _brands(rng: np.random.Generator) -> dict[str, list[str]]:
    """A few made-up brands per category; brand says nothing about the motive."""
    categories = sorted({p.category for p in PRODUCT_TYPES.values()})
    names = sorted({s + e for s in BRAND_SYLLABLES for e in BRAND_ENDINGS})
    picked = rng.choice(names, size=6 * len(categories), replace=False)
    return {c: list(picked[6 * k: 6 * k + 6]) for k, c in enumerate(categories)}


def _write_item(pt, motives, brands, config, rng) -> tuple[str, str]:
    """A title (brand, variant, type: no motive words) and a description with clues."""
    variant = pt.variants[rng.integers(len(pt.variants))]
    title = f"{brands[rng.integers(len(brands))]} {variant} {pt.name.title()}"
    clues: list[str] = []
    for motive in motives:
        pool = [c for c in clues_for(motive, pt.name) if c not in clues]
        take = config.clues_per_item if motive == motives[0] else 1
        clues += list(rng.choice(pool, size=min(take, len(pool)), replace=False))
    rng.shuffle(clues)
    blurb = pt.blurbs[rng.integers(len(pt.blurbs))]
    article = "An" if variant[0].lower() in "aeiou" else "A"
    sentences = [f"{article} {variant.lower()} {pt.name} from {title.split(' ')[0]}.", blurb,
                 _clue_sentence(clues, rng)]
    if rng.random() < config.use_case_share:
        use = MOTIVES[motives[0]].use_case
        sentences.append(use[rng.integers(len(use))])
    return title, " ".join(sentences)


def _clue_sentence(clues: list[str], rng: np.random.Generator) -> str:
    listed = clues[0] if len(clues) == 1 else ", ".join(clues[:-1]) + " and " + clues[-1]
    frames = ("Highlights: {}.", "Key details: {}.", "Worth knowing: {}.", "Details: {}.")
    return frames[rng.integers(len(frames))].format(listed)


# --- users and sequences -------------------------------------------------------------------

def _make_sequences(config, items, rng) -> tuple[list[list[int]], list[tuple[str, ...]]]:
    """Each user follows their motives step by step, with noise and popularity bias.

    A step keeps the current motive (``stickiness``) or switches to another of the user's;
    the item is drawn from that motive's warm items by appeal, never of the previous item's
    type. New arrivals are drawn only for the last step, and each is handed to at least
    ``k_core`` users so it survives the k-core filter.
    """
    motive_keys = list(MOTIVES)
    by_motive = {m: np.flatnonzero(items["motives"].map(lambda ms, m=m: m in ms)) for m in motive_keys}
    warm = ~items["new"].to_numpy()
    appeal = items["appeal"].to_numpy()
    types = items["product_type"].to_numpy()
    motive_pop = rng.dirichlet(np.full(len(motive_keys), 3.0))

    new_ids = np.flatnonzero(~warm)
    new_targets = _new_arrival_targets(config, new_ids, rng)
    sequences, user_motives = [], []
    for u in range(config.n_users):
        k = 1 + rng.choice(3, p=[0.45, 0.4, 0.15])
        mine = tuple(rng.choice(motive_keys, size=k, replace=False, p=motive_pop))
        length = 5 + rng.poisson(config.mean_length - 5)
        last = new_targets.get(u)
        current = mine[0] if last is None else items.at[last, "motives"][0]
        if last is not None and current not in mine:
            mine = (current,) + mine[: k - 1]
        seq: list[int] = []
        for _ in range(length - (last is not None)):
            if rng.random() >= config.stickiness:
                current = mine[rng.integers(len(mine))]
            pool = by_motive[current]
            noisy = rng.random() < config.noise  # this step ignores the user's motives
            candidates = np.flatnonzero(warm) if noisy else pool[warm[pool]]
            if seq:
                candidates = candidates[types[candidates] != types[seq[-1]]]
            candidates = candidates[~np.isin(candidates, seq)]
            if not len(candidates):  # the motive is used up for this user: any fresh warm item
                candidates = np.setdiff1d(np.flatnonzero(warm), seq)
            p = appeal[candidates] / appeal[candidates].sum()
            seq.append(int(rng.choice(candidates, p=p)))
        if last is not None:
            seq.append(int(last))
        sequences.append(seq)
        user_motives.append(mine)
    return sequences, user_motives


def _new_arrival_targets(config, new_ids, rng) -> dict[int, int]:
    """Which users end on which new arrival: each new item goes to ``k_core`` random users."""
    users = rng.permutation(config.n_users)
    need = config.k_core * len(new_ids)
    if need > config.n_users:
        raise ValueError(
            f"{len(new_ids)} new arrivals need {need} users (k_core={config.k_core} each) but "
            f"the shop has {config.n_users}; lower new_item_share or raise n_users")
    return {int(users[j]): int(new_ids[j % len(new_ids)]) for j in range(need)}


# --- assembling, images, files -------------------------------------------------------------

def _assemble(config, items, sequences, user_motives, rng) -> Shop:
    """k-core filter the raw shop and give items and users their public ids."""
    days = {str(u): list(np.cumsum(rng.integers(1, 30, size=len(s))) + rng.integers(0, 400))
            for u, s in enumerate(sequences)}
    raw = from_sequences(
        "shop", {str(u): [str(i) for i in s] for u, s in enumerate(sequences)},
        timestamps={u: [_START + int(d) * _DAY for d in ds] for u, ds in days.items()},
    )
    ds = k_core(raw, config.k_core)
    # keep generation order (items were shuffled when made), not order of first purchase
    src_items = ds.items["item_id"].astype(int).to_numpy()
    order = np.argsort(src_items, kind="stable")
    remap = np.empty(len(order), dtype=np.int64)
    remap[order] = np.arange(len(order))
    ds.interactions["item"] = remap[ds.interactions["item"].to_numpy()]
    src_items = src_items[order]
    src_users = ds.users["user_id"].astype(int).to_numpy()
    table = items.iloc[src_items].reset_index(drop=True)
    ds.items = pd.DataFrame({
        "item_id": [f"I{i:04d}" for i in range(len(table))],
        "title": table["title"], "description": table["description"],
        "brand": table["brand"], "category": table["category"],
        "product_type": table["product_type"], "price": table["price"],
    }).rename_axis("item")
    ds.users = pd.DataFrame({"user_id": [f"U{u:05d}" for u in range(len(src_users))]}).rename_axis("user")
    ds.meta = {"source": "bundled shop", "seed": config.seed, "k_core": config.k_core}
    images = np.stack([_draw_image(r.product_type, r.motives, rng) for r in table.itertuples()])
    return Shop(
        dataset=ds,
        images=images,
        item_motives=list(table["motives"]),
        user_motives=[user_motives[u] for u in src_users],
        new_items=table["new"].to_numpy(),
    )


_SHAPES = {"wearable": "triangle", "skincare": "tube", "drinkware": "cylinder",
           "audio": "ring", "lighting": "lamp", "textile": "square", "bag": "bag",
           "kitchen": "disc", "paper": "page", "storage": "grid"}


def _draw_image(ptype: str, motives: tuple[str, ...], rng: np.random.Generator) -> np.ndarray:
    """A tiny picture: the shape follows the product kind, the palette leans on the motive."""
    size = IMAGE_SIZE
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1  # coordinates in [-1, 1]
    palette = MOTIVES[motives[0]].palette
    if rng.random() < 0.75:
        main = np.array(palette[rng.integers(len(palette))], dtype=float)
    else:  # some items come in a neutral colour whatever their motive
        main = np.full(3, rng.integers(90, 200), dtype=float)
    main = np.clip(main + rng.normal(0, 12, 3), 0, 255)
    accent = np.array(palette[-1], dtype=float)
    img = np.empty((size, size, 3))
    img[:] = np.array([245, 245, 240]) - rng.integers(0, 15)
    shape = _SHAPES[PRODUCT_TYPES[ptype].kind]
    masks = {
        "triangle": (yy > -0.7) & (np.abs(xx) < (yy + 0.7) * 0.6),
        "tube": (np.abs(xx) < 0.25) & (np.abs(yy) < 0.8),
        "cylinder": (np.abs(xx) < 0.4) & (np.abs(yy) < 0.7),
        "ring": (np.hypot(xx, yy) < 0.75) & (np.hypot(xx, yy) > 0.45),
        "lamp": ((yy < -0.1) & (yy > -0.7) & (np.abs(xx) < (yy + 1.0) * 0.8)) | ((np.abs(xx) < 0.08) & (yy >= -0.1)),
        "square": (np.abs(xx) < 0.7) & (np.abs(yy) < 0.7),
        "bag": (np.abs(xx) < 0.6) & (yy > -0.3) & (yy < 0.75) | ((np.hypot(xx, yy + 0.3) < 0.4) & (np.hypot(xx, yy + 0.3) > 0.3) & (yy < -0.3)),
        "disc": np.hypot(xx, yy) < 0.7,
        "page": (np.abs(xx) < 0.5) & (np.abs(yy) < 0.75),
        "grid": (np.abs(xx) < 0.75) & (np.abs(yy) < 0.55),
    }
    mask = masks[shape]
    img[mask] = main
    stripes = mask & ((np.round((yy + 1) * 4) % 3) == 0)
    img[stripes] = 0.5 * main + 0.5 * accent
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


_FILES = ("items.csv", "interactions.csv", "images.npy",
          "truth/motives.csv", "truth/item_motives.csv", "truth/user_motives.csv")


def write_shop(shop: Shop, folder: Path) -> dict[str, str]:
    """Write the shop's files into ``folder`` atomically and return their sha256 checksums.

    Each file is written to a temporary name and moved into place, so an interrupted run
    never leaves a half-written file; ``checksums.json`` lists every file's sha256.
    """
    folder = Path(folder)
    ds = shop.dataset
    inter = ds.interactions.assign(user_id=ds.users["user_id"].to_numpy()[ds.interactions["user"]],
                                   item_id=ds.items["item_id"].to_numpy()[ds.interactions["item"]])
    tables = {
        "items.csv": ds.items.assign(new_arrival=shop.new_items.astype(int)),
        "interactions.csv": inter[["user_id", "item_id", "timestamp"]],
        "truth/motives.csv": pd.DataFrame(
            [{"motive": k, "name": m.name} for k, m in MOTIVES.items()]),
        "truth/item_motives.csv": pd.DataFrame(
            [{"item_id": iid, "motive": m, "rank": r}
             for iid, ms in zip(ds.items["item_id"], shop.item_motives) for r, m in enumerate(ms)]),
        "truth/user_motives.csv": pd.DataFrame(
            [{"user_id": uid, "motive": m, "rank": r}
             for uid, ms in zip(ds.users["user_id"], shop.user_motives) for r, m in enumerate(ms)]),
    }
    sums = {}
    for name, table in tables.items():
        data = table.to_csv(index=False, float_format="%.2f", lineterminator="\n").encode()
        sums[name] = _atomic_write(folder / name, data)
    buf = io.BytesIO()
    np.save(buf, shop.images, allow_pickle=False)
    sums["images.npy"] = _atomic_write(folder / "images.npy", buf.getvalue())
    meta = {"files": {k: sums[k] for k in _FILES}, **ds.stats(), "seed": ds.meta["seed"]}
    _atomic_write(folder / "checksums.json", (json.dumps(meta, indent=2) + "\n").encode())
    return sums


def _atomic_write(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically; returns its sha256 for ``checksums.json``."""
    write_bytes_atomic(path, data)
    return hashlib.sha256(data).hexdigest()


def read_shop(folder: Path, verify: bool = True) -> Shop:
    """Read a shop written by :func:`write_shop`; ``verify`` checks the files' checksums."""
    folder = Path(folder)
    missing = [f for f in (*_FILES, "checksums.json") if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {', '.join(missing)}. Regenerate the shop with "
            f"`digr data --preset <name> --regenerate`.")
    if verify:
        expected = json.loads((folder / "checksums.json").read_text())["files"]
        for name, digest in expected.items():
            actual = hashlib.sha256((folder / name).read_bytes()).hexdigest()
            if actual != digest:
                raise ValueError(
                    f"{folder / name}: checksum differs from checksums.json (the file was "
                    "edited or damaged). Restore it with `git checkout data/` or regenerate it "
                    "with `digr data --regenerate`.")
    items = _read_csv(folder / "items.csv", ["item_id", "title", "description", "brand",
                                             "category", "product_type", "price", "new_arrival"])
    inter = _read_csv(folder / "interactions.csv", ["user_id", "item_id", "timestamp"])
    item_truth = _read_csv(folder / "truth/item_motives.csv", ["item_id", "motive", "rank"])
    user_truth = _read_csv(folder / "truth/user_motives.csv", ["user_id", "motive", "rank"])
    item_index = pd.Series(np.arange(len(items)), index=items["item_id"])
    unknown = ~inter["item_id"].isin(item_index.index)
    if unknown.any():
        line = int(np.flatnonzero(unknown)[0]) + 2  # 1-based, after the header
        raise ValueError(f"{folder / 'interactions.csv'} line {line}: item_id "
                         f"{inter['item_id'][line - 2]!r} is not in items.csv")
    users = pd.DataFrame({"user_id": np.sort(inter["user_id"].unique())}).rename_axis("user")
    user_index = pd.Series(np.arange(len(users)), index=users["user_id"])
    interactions = pd.DataFrame({
        "user": user_index[inter["user_id"]].to_numpy(),
        "item": item_index[inter["item_id"]].to_numpy(),
        "timestamp": inter["timestamp"].to_numpy(),
    }).sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    new_items = items.pop("new_arrival").astype(bool).to_numpy()
    ds = Dataset("shop", items.rename_axis("item"), interactions, users,
                 {"source": "bundled shop", "folder": str(folder)})
    by_item = item_truth.sort_values("rank").groupby("item_id")["motive"].agg(tuple)
    by_user = user_truth.sort_values("rank").groupby("user_id")["motive"].agg(tuple)
    return Shop(
        dataset=ds,
        images=np.load(folder / "images.npy"),
        item_motives=[by_item[i] for i in items["item_id"]],
        user_motives=[by_user[u] for u in users["user_id"]],
        new_items=new_items,
    )


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path, keep_default_na=False)
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected {columns}")
    return table


def shop_folder(preset: str) -> Path:
    """Where the committed shop of a preset lives: ``data/shop_<preset>/``."""
    return DATA_DIR / f"shop_{preset}"


def load_shop(preset: str | Preset | None = None) -> Shop:
    """The bundled shop of a preset: read from ``data/`` if committed, else generated there."""
    p = preset if isinstance(preset, Preset) else get_preset(preset)
    folder = shop_folder(p.name)
    if not (folder / "checksums.json").exists():
        write_shop(generate_shop(ShopConfig.from_preset(p)), folder)
    return read_shop(folder)
