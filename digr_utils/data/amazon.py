"""Real Amazon review data read into the course's one in-memory form, :class:`Dataset`.

Raw releases (2014, 2018, 2023) are streamed line by line (gzip or plain, told apart by their
first bytes), ordered by time per user with ties kept in file order, k-cored, and given item
text from the metadata file. The processed LC-Rec/LETTER and MiniOneRec files load as they are.
Items without metadata keep empty text.
"""
from __future__ import annotations

import ast
import csv
import gzip
import html
import json
import os
import re
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from digr_utils.config import REPO_ROOT
from digr_utils.data.dataset import ITEM_TEXT_COLUMNS, Dataset, from_sequences, k_core


@dataclass(frozen=True)
class _Release:
    """Where one raw release keeps its files and fields."""

    fmt: str  # the key in FORMATS
    label: str
    reviews: str  # file name template, "{}" = category; a ".gz" twin is accepted too
    meta: str
    user: str
    item: str
    time: str
    time_unit: str
    literal_meta: bool  # 2014 metadata lines are Python literals, not JSON
    url: str


_2014 = _Release("amazon2014", "Amazon 2014", "reviews_{}_5.json.gz", "meta_{}.json.gz",
                 "reviewerID", "asin", "unixReviewTime", "s", True,
                 "https://jmcauley.ucsd.edu/data/amazon/")
_2018 = _Release("amazon2018", "Amazon 2018", "{}_5.json.gz", "meta_{}.json.gz",
                 "reviewerID", "asin", "unixReviewTime", "s", False,
                 "https://nijianmo.github.io/amazon/")
_2023 = _Release("amazon2023", "Amazon 2023", "{}.jsonl", "meta_{}.jsonl",
                 "user_id", "parent_asin", "timestamp", "ms", False,
                 "https://amazon-reviews-2023.github.io/")


def load_amazon_2014(folder: str | Path, category: str, k: int | None = 5) -> Dataset:
    """Amazon 2014 ``reviews_<category>_5.json.gz`` + ``meta_<category>.json.gz``.

    The 2014 metadata lines are Python literals, not JSON; they are read with ``ast.literal_eval``.
    """
    return _load_raw(_2014, Path(folder), category, k)


def load_amazon_2018(folder: str | Path, category: str, k: int | None = 5) -> Dataset:
    """Amazon 2018 ``<category>_5.json.gz`` + ``meta_<category>.json.gz`` (JSON lines)."""
    return _load_raw(_2018, Path(folder), category, k)


def load_amazon_2023(folder: str | Path, category: str, k: int | None = 5) -> Dataset:
    """Amazon 2023 ``<category>.jsonl[.gz]`` + ``meta_<category>.jsonl[.gz]``.

    Items are ``parent_asin`` (variants merged, as the release's own benchmarks do); timestamps
    stay in milliseconds (``meta["time_unit"] == "ms"``).
    """
    return _load_raw(_2023, Path(folder), category, k)


def load_letter(folder: str | Path, name: str, k: int | None = None) -> Dataset:
    """LC-Rec/LETTER files: ``<name>.inter.json`` ({user: [items, chronological]}), optional
    ``<name>.index.json`` (semantic IDs, kept in ``meta["sids"]`` as {item_id: [code, ...]})
    and optional ``<name>.item.json`` (text). Already 5-core, so k-core only when ``k`` is given.
    """
    folder = Path(folder)
    path = _find(folder, "{}.inter.json", name, "LC-Rec/LETTER interactions ({user: [item ids]})")
    raw = _read_json(path)
    sequences = {}
    for user, seq in raw.items():
        if not isinstance(seq, list):
            raise ValueError(f"{path}: user {user!r}: field value must be a list of item ids, got "
                             f"{type(seq).__name__}; fix the file (LETTER .inter.json format)")
        sequences[str(user)] = [str(i) for i in seq]
    texts = _read_item_json(folder / f"{name}.item.json")
    ds = from_sequences(name, sequences, items=_text_table(texts) if texts else None,
                        meta={"format": "letter"})
    return _finish(ds, k, _read_sids(folder / f"{name}.index.json"))


def load_minionerec(folder: str | Path, name: str, k: int | None = None) -> Dataset:
    """MiniOneRec files: ``<name>.item.json`` (text), ``{train,valid,test}_<name>*.csv`` (those that
    exist) and optional ``<name>.index.json`` (semantic IDs, kept in ``meta["sids"]``).

    The CSVs hold one row per (history of up to 10 items, next item) and no timestamps, so each
    user's sequence is rebuilt: rows are read train → valid → test in file order, a row whose
    history is the tail of the sequence so far extends it by its target, any other row starts a
    new sequence (its history + target), and each user's longest sequence is kept (the first on
    ties). History before a user's first row is lost beyond those 10 items. Only items that
    occur in some row are kept.
    """
    folder = Path(folder)
    item_path = _find(folder, "{}.item.json", name, "MiniOneRec items ({id: {title, ...}})")
    csvs = [p for part in ("train", "valid", "test") for p in _split_csv(folder, part, name)]
    if not csvs:
        raise FileNotFoundError(
            f"no MiniOneRec split files in {folder}: expected train_{name}*.csv, valid_{name}*.csv "
            f"or test_{name}*.csv (columns user_id, history_item_id, item_id)")
    chains: dict[str, list[list[str]]] = {}
    for path in csvs:
        for user, history, target in _csv_rows(path):
            own = chains.setdefault(user, [])
            seq = own[-1] if own else None
            if seq is not None and history and _ends_with(seq, history):
                seq.append(target)
            else:
                own.append(history + [target])
    sequences = {u: max(own, key=len) for u, own in chains.items()}
    ds = from_sequences(name, sequences, items=_text_table(_read_item_json(item_path)),
                        meta={"format": "minionerec"})
    return _finish(ds, k, _read_sids(folder / f"{name}.index.json"))


def load(folder: str | Path, fmt: str, name: str, **kwargs) -> Dataset:
    """Any format in one call: ``fmt`` is a key of :data:`FORMATS`, ``name`` the category/stem."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown Amazon format {fmt!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[fmt](folder, name, **kwargs)


FORMATS: dict[str, Callable[..., Dataset]] = {
    "amazon2014": load_amazon_2014,
    "amazon2018": load_amazon_2018,
    "amazon2023": load_amazon_2023,
    "letter": load_letter,
    "minionerec": load_minionerec,
}


def shared_benchmarks() -> Path:
    """The shared processed Amazon folders: ``$DIGR_BENCHMARKS`` (or its ``amazon/``) if set,
    else ``<repo>/../shared/benchmarks/amazon``. May not exist."""
    env = os.environ.get("DIGR_BENCHMARKS")
    if env:
        root = Path(env)
        return root / "amazon" if (root / "amazon").is_dir() else root
    return Path(REPO_ROOT).parent / "shared" / "benchmarks" / "amazon"


# --- raw releases -------------------------------------------------------------------------------

def _load_raw(rel: _Release, folder: Path, category: str, k: int | None) -> Dataset:
    reviews = _find(folder, rel.reviews, category, f"{rel.label} reviews", rel.url)
    meta = _find(folder, rel.meta, category, f"{rel.label} metadata", rel.url)
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    u, i, t = array("q"), array("q"), array("q")
    for n, rec in _records(reviews):
        u.append(users.setdefault(_str_field(rec, rel.user, reviews, n), len(users)))
        i.append(items.setdefault(_str_field(rec, rel.item, reviews, n), len(items)))
        t.append(_int_field(rec, rel.time, reviews, n))
    if not users:
        raise ValueError(f"{reviews}: no reviews in the file; check it is the right download")
    ds = _from_codes(category, list(users), list(items), u, i, t,
                     {"format": rel.fmt, "time_unit": rel.time_unit})
    if k:
        ds = k_core(ds, k)
    needed = set(ds.items["item_id"])
    texts = {}
    for n, rec in _records(meta, literal=rel.literal_meta, only=(rel.item, needed)):
        item = _str_field(rec, rel.item, meta, n)
        if item in needed and item not in texts:  # the 2018 files repeat some items; keep the first
            texts[item] = _item_text(rec)
    return _with_text(ds, texts)


def _from_codes(name: str, user_ids: list[str], item_ids: list[str], u: array, i: array,
                t: array, meta: dict) -> Dataset:
    """The :func:`from_sequences` result for coded triples, without a Python loop per row.

    Exact repeats of (user, item, time) are dropped: the 2018 files hold duplicated reviews.
    """
    inter = pd.DataFrame({"user": np.frombuffer(u, np.int64), "item": np.frombuffer(i, np.int64),
                          "timestamp": np.frombuffer(t, np.int64)}).drop_duplicates()
    order = np.lexsort((inter["timestamp"].to_numpy(), inter["user"].to_numpy()))  # stable
    inter = inter.iloc[order].reset_index(drop=True)
    items = pd.DataFrame({"item_id": item_ids, **{c: "" for c in ITEM_TEXT_COLUMNS}})
    items.index.name = "item"
    users = pd.DataFrame({"user_id": user_ids})
    users.index.name = "user"
    return Dataset(name, items, inter, users, meta)


def _records(path: Path, literal: bool = False,
             only: tuple[str, set[str]] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, record) for each non-blank line. With ``only=(field, ids)`` a line whose
    ``field`` visibly holds an id outside ``ids`` is skipped unparsed (metadata files are GBs)."""
    quick = None
    if only:
        quick = re.compile(rf"""["']{re.escape(only[0])}["']\s*:\s*["']([^"']*)["']""")
    kind = "a Python dict literal" if literal else "a JSON object"
    with _open_text(path) as lines:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if quick is not None and (m := quick.search(line)) and m.group(1) not in only[1]:
                continue
            try:
                rec = ast.literal_eval(line) if literal else json.loads(line)
            except (ValueError, SyntaxError, RecursionError, MemoryError) as err:
                raise ValueError(f"{path} line {n}: not {kind} ({err}); "
                                 "fix or delete that line") from None
            if not isinstance(rec, dict):
                raise ValueError(f"{path} line {n}: not {kind} (got {type(rec).__name__}); "
                                 "fix or delete that line")
            yield n, rec


def _str_field(rec: dict, field: str, path: Path, n: int) -> str:
    value = rec.get(field)
    if value is None or value == "" or isinstance(value, (dict, list, bool)):
        problem = "missing field" if value in (None, "") else "non-string field"
        raise ValueError(f"{path} line {n}: {problem} {field!r}; "
                         "fix or delete that line (is this the right release's file?)")
    return str(value)


def _int_field(rec: dict, field: str, path: Path, n: int) -> int:
    value = rec.get(field)
    if value is None:
        raise ValueError(f"{path} line {n}: missing field {field!r}; "
                         "fix or delete that line (is this the right release's file?)")
    try:
        if isinstance(value, bool):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{path} line {n}: field {field!r} is not an integer time ({value!r}); "
                         "fix or delete that line") from None


# --- processed files ----------------------------------------------------------------------------

def _split_csv(folder: Path, part: str, name: str) -> list[Path]:
    found = sorted(folder.glob(f"{part}_{name}*.csv"))
    if len(found) > 1:
        raise ValueError(f"several {part} files for {name!r} in {folder}: "
                         f"{', '.join(p.name for p in found)}; keep one per split")
    return found


def _csv_rows(path: Path) -> Iterator[tuple[str, list[str], str]]:
    """(user, history item ids, target item id) for each row of a MiniOneRec split CSV."""
    with _open_text(path) as f:
        reader = csv.DictReader(f)
        missing = {"user_id", "history_item_id", "item_id"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} line 1: missing column(s) {', '.join(sorted(missing))}; "
                             "expected a MiniOneRec split CSV")
        for row in reader:
            n = reader.line_num
            for field in ("user_id", "item_id"):
                if not row[field]:
                    raise ValueError(f"{path} line {n}: missing field {field!r}; "
                                     "fix or delete that row")
            try:
                history = ast.literal_eval(row["history_item_id"])
                if not isinstance(history, list):
                    raise ValueError
            except (ValueError, SyntaxError, TypeError):
                raise ValueError(f"{path} line {n}: field 'history_item_id' is not a list literal "
                                 f"({row['history_item_id']!r}); fix or delete that row") from None
            yield row["user_id"], [str(h) for h in history], row["item_id"]


def _ends_with(seq: list[str], tail: list[str]) -> bool:
    return len(tail) <= len(seq) and seq[len(seq) - len(tail):] == tail


def _read_json(path: Path) -> dict:
    with _open_text(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {err.lineno}: not valid JSON ({err.msg}); "
                             "fix the file or download it again") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected one JSON object keyed by id, got {type(data).__name__}")
    return data


def _read_item_json(path: Path) -> dict[str, dict[str, str]]:
    """{item_id: text fields} from an LC-Rec/MiniOneRec ``.item.json``; {} if the file is absent."""
    if not path.exists():
        return {}
    texts = {}
    for item, rec in _read_json(path).items():
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: item {item!r}: field value must be an object with title, "
                             f"description...; got {type(rec).__name__}")
        texts[str(item)] = _item_text(rec)
    return texts


def _read_sids(path: Path) -> dict[str, list[str]] | None:
    if not path.exists():
        return None
    sids = {}
    for item, codes in _read_json(path).items():
        if not isinstance(codes, list):
            raise ValueError(f"{path}: item {item!r}: field value must be a list of code strings "
                             f"like ['<a_1>', '<b_2>']; got {type(codes).__name__}")
        sids[str(item)] = [str(c) for c in codes]
    return sids


def _finish(ds: Dataset, k: int | None, sids: dict[str, list[str]] | None) -> Dataset:
    if k:
        ds = k_core(ds, k)
    if sids is not None:
        ds.meta["sids"] = {i: sids[i] for i in ds.items["item_id"] if i in sids}
    return ds


# --- item text ----------------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def _item_text(rec: dict) -> dict[str, str]:
    """The four text columns from any release's metadata record (field names differ by release)."""
    category = next((rec[f] for f in ("categories", "category", "main_category") if rec.get(f)), "")
    return {
        "title": _clean(rec.get("title")),
        "description": _clean(_unrepr_list(rec.get("description"))),
        "brand": _clean(rec.get("brand") or rec.get("store")),
        "category": _category(category),
    }


def _category(value) -> str:
    """2014: list of paths → "a > b; c > d"; 2018/2023: one path → "a > b"; a string stays."""
    if isinstance(value, list):
        if value and all(isinstance(v, list) for v in value):
            return "; ".join(p for p in (_category(v) for v in value) if p)
        return " > ".join(p for p in (_clean(v) for v in value) if p)
    return _clean(value)


def _unrepr_list(value):
    """MiniOneRec stores descriptions as the repr of a list of paragraphs; turn it back into one."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        if isinstance(parsed, list):
            return parsed
    return value


def _clean(value) -> str:
    """Plain text: lists joined by spaces, HTML tags dropped, entities decoded, spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(p for p in (_clean(v) for v in value) if p)
    text = html.unescape(_TAG.sub(" ", str(value)))
    return _SPACE.sub(" ", text).strip()


def _text_table(texts: dict[str, dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(texts, orient="index", columns=list(ITEM_TEXT_COLUMNS))


def _with_text(ds: Dataset, texts: dict[str, dict[str, str]]) -> Dataset:
    items = ds.items[["item_id"]].join(_text_table(texts), on="item_id")
    items[list(ITEM_TEXT_COLUMNS)] = items[list(ITEM_TEXT_COLUMNS)].fillna("")
    return replace(ds, items=items)


# --- files --------------------------------------------------------------------------------------

def _find(folder: Path, template: str, name: str, what: str, url: str | None = None) -> Path:
    """The file ``template.format(name)`` in ``folder``, gzipped or not; a clear error otherwise."""
    base = template.format(name).removesuffix(".gz")
    candidates = [folder / base, folder / f"{base}.gz"]
    for path in candidates:
        if path.is_file():
            return path
    expected = template.format(name)
    known = _names_in(folder, template)
    hint = (f"; {name!r} is not there — names found in that folder: {', '.join(known)}" if known
            else "")
    get = f" (download it from {url})" if url else ""
    raise FileNotFoundError(
        f"{what} file not found: expected {folder / expected} "
        f"(gzipped or not: {' or '.join(p.name for p in candidates)}){hint}. "
        f"Fix: pass the right folder and name, or put {expected} there{get}.")


def _names_in(folder: Path, template: str) -> list[str]:
    """Categories/names whose files in ``folder`` match ``template`` (for error messages)."""
    if not folder.is_dir():
        return []
    prefix, suffix = template.removesuffix(".gz").split("{}")
    pattern = re.compile(re.escape(prefix) + "(.+)" + re.escape(suffix) + r"(\.gz)?$")
    names = set()
    for p in folder.iterdir():
        m = pattern.match(p.name)
        # an empty prefix would also match other releases' and the metadata files
        if m and not (prefix == "" and p.name.startswith(("meta_", "reviews_"))):
            names.add(m.group(1))
    return sorted(names)


def _open_text(path: Path):
    """Open as text, gunzipping when the file starts with the gzip magic bytes (not by its name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")
