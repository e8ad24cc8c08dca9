"""Real Amazon review data read into the course's one in-memory form, :class:`Dataset`.

Raw releases (2014, 2018, 2023) are streamed line by line (gzip or plain, told apart by their
first bytes), ordered by time per user with ties kept in file order, k-cored, and given item
text from the metadata file. The processed LC-Rec/LETTER and MiniOneRec files load as they are.
Items without metadata keep empty text, but an items file that matches no item is an error.
:func:`detect` names the format and dataset from a folder's files; every loader records the files
it read in ``meta["source_files"]`` (see :func:`digr_utils.data.dataset.dataset_digest`).
"""
from __future__ import annotations

import ast
import csv
import glob
import gzip
import html
import io
import json
import os
import re
import zlib
from array import array
from collections import Counter
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

# Processed files' names ("{}" = the dataset's name) and MiniOneRec's split CSVs, in reading order.
_INTER, _ITEMS, _INDEX = "{}.inter.json", "{}.item.json", "{}.index.json"
_SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class _Layout:
    """The files that show a folder holds one format's dataset ("{}" = its name), for detect."""

    required: tuple[str, ...]  # gzipped or not; the first one's matches are the candidate names
    splits: bool = False  # MiniOneRec: also at least one {train,valid,test}_<name>*.csv

    def fits(self, folder: Path, name: str) -> bool:
        return (all(_present(folder, t, name) for t in self.required[1:])
                and (not self.splits or any(_split_glob(folder, p, name) for p in _SPLITS)))

    def expects(self) -> str:
        files = [t.format("<name>") for t in self.required]
        if self.splits:
            files.append("at least one of " + ", ".join(f"{p}_<name>*.csv" for p in _SPLITS))
        return " + ".join(files)


_LAYOUTS = {
    **{r.fmt: _Layout((r.reviews, r.meta)) for r in (_2014, _2018, _2023)},
    "letter": _Layout((_INTER,)),
    "minionerec": _Layout((_ITEMS,), splits=True),
}


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
    path = _find(folder, _INTER, name, "LC-Rec/LETTER interactions ({user: [item ids]})")
    sequences = {}
    for user, seq in _read_json(path).items():
        if not isinstance(seq, list):
            raise ValueError(f"{path}: user {user!r}: field value must be a list of item ids, got "
                             f"{type(seq).__name__}; fix the file (LETTER .inter.json format)")
        sequences[str(user)] = [str(i) for i in seq]
    item_path, index_path = _present(folder, _ITEMS, name), _present(folder, _INDEX, name)
    texts = _read_item_json(item_path) if item_path else {}
    ds = from_sequences(name, sequences, items=_text_table(texts) if item_path else None,
                        meta=_meta("letter", path, item_path, index_path))
    if item_path:
        _require_match(item_path, texts, ds, path)
    return _finish(ds, k, index_path, path)


def load_minionerec(folder: str | Path, name: str, k: int | None = None) -> Dataset:
    """MiniOneRec files: ``<name>.item.json`` (text), ``{train,valid,test}_<name>*.csv`` (those that
    exist) and optional ``<name>.index.json`` (semantic IDs, kept in ``meta["sids"]``).

    The CSVs hold one row per (history of up to 10 items, next item) and no timestamps, so each
    user's sequence is rebuilt: rows are read train → valid → test in file order, a row whose
    history is the tail of the sequence so far extends it by its target, any other row starts a
    new sequence (its history + target), and each user's longest sequence is kept (the first on
    ties). History before a user's first row is lost beyond those 10 items. Only items that
    occur in some row are kept. The rows are taken as cored at the source (``meta
    ["cored_at_source"]``): the shared folder's valid + test rows keep 3,285 users, a 5-core of
    them 342.
    """
    folder = Path(folder)
    item_path = _find(folder, _ITEMS, name, "MiniOneRec items ({id: {title, ...}})")
    csvs = [p for part in _SPLITS for p in _split_csv(folder, part, name)]
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
    texts = _read_item_json(item_path)
    index_path = _present(folder, _INDEX, name)
    ds = from_sequences(name, sequences, items=_text_table(texts),
                        meta=_meta("minionerec", item_path, *csvs, index_path))
    # the rows come from a dataset already 5-cored whole; a second k-core over a part of them
    # (the shared folder has no train file) would drop most users, so the data stage skips it
    ds.meta["cored_at_source"] = True
    _require_match(item_path, texts, ds, csvs[0])
    return _finish(ds, k, index_path, csvs[0])


def load(folder: str | Path, fmt: str | None = None, name: str | None = None,
         **kwargs) -> Dataset:
    """Any format in one call: ``fmt`` is a key of :data:`FORMATS`, ``name`` the category/stem;
    whichever is left out is read off the folder's files by :func:`detect`."""
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown Amazon format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt is None or name is None:
        fmt, name = detect(folder, fmt, name)
    return FORMATS[fmt](folder, name, **kwargs)


FORMATS: dict[str, Callable[..., Dataset]] = {
    "amazon2014": load_amazon_2014,
    "amazon2018": load_amazon_2018,
    "amazon2023": load_amazon_2023,
    "letter": load_letter,
    "minionerec": load_minionerec,
}


def detect(folder: str | Path, fmt: str | None = None, name: str | None = None) -> tuple[str, str]:
    """(format, name) of the one dataset whose files are in ``folder`` (restricted to ``fmt``
    and/or ``name`` when given); an error listing the choices, or what each format expects."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder; pass the folder holding the data files")
    found = [(f, n) for f, layout in _LAYOUTS.items()
             for n in _names_in(folder, layout.required[0]) if layout.fits(folder, n)]
    fits = [(f, n) for f, n in found if fmt in (None, f) and name in (None, n)]
    if len(fits) == 1:
        return fits[0]
    choices = "; ".join(f"--format {f} --name {n}" for f, n in (fits or found))
    if len(fits) > 1:
        raise ValueError(f"{folder} holds several datasets; choose one: {choices}")
    asked = " and ".join(f"{flag} {v}" for flag, v in (("--format", fmt), ("--name", name)) if v)
    if found:
        raise FileNotFoundError(f"{folder} has no dataset with {asked}; it holds: {choices}")
    expects = "; ".join(f"{f}: {layout.expects()}" for f, layout in _LAYOUTS.items())
    raise FileNotFoundError(f"{folder} holds no Amazon dataset in a format the course reads. "
                            f"Each format expects (gzipped or not): {expects}")


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
                     {**_meta(rel.fmt, reviews, meta), "time_unit": rel.time_unit})
    if k:
        ds = k_core(ds, k)
    needed = set(ds.items["item_id"])
    texts = {}
    for n, rec in _records(meta, literal=rel.literal_meta, only=(rel.item, needed)):
        item = _str_field(rec, rel.item, meta, n)
        if item in needed and item not in texts:  # the 2018 files repeat some items; keep the first
            texts[item] = _item_text(rec)
    if not texts:
        raise _no_match(meta, *_count_ids(meta, rel.item), ds, reviews)
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
    quick = _id_pattern(only[0]) if only else None
    kind = "a Python dict literal" if literal else "a JSON object"
    for n, line in _lines(path):
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


def _id_pattern(field: str) -> re.Pattern:
    """Finds ``"field": "value"`` in a JSON or Python-literal line without parsing it."""
    return re.compile(rf"""["']{re.escape(field)}["']\s*:\s*["']([^"']*)["']""")


def _count_ids(path: Path, field: str) -> tuple[int, str | None]:
    """(records, the first record's ``field``) of a JSON-lines file: what an error shows."""
    pattern, count, first = _id_pattern(field), 0, None
    for _, line in _lines(path):
        if line.strip():
            count += 1
            first = first or ((m := pattern.search(line)) and m.group(1))
    return count, first


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
    found = _split_glob(folder, part, name)
    if len(found) > 1:
        raise ValueError(f"several {part} files for {name!r} in {folder}: "
                         f"{', '.join(p.name for p in found)}; keep one per split")
    return found


def _csv_rows(path: Path) -> Iterator[tuple[str, list[str], str]]:
    """(user, history item ids, target item id) for each row of a MiniOneRec split CSV."""
    reader = csv.DictReader(line for _, line in _lines(path))
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


def _split_glob(folder: Path, part: str, name: str) -> list[Path]:
    return sorted(folder.glob(f"{part}_{glob.escape(name)}*.csv"))


def _ends_with(seq: list[str], tail: list[str]) -> bool:
    return len(tail) <= len(seq) and seq[len(seq) - len(tail):] == tail


class _DuplicateKey(Exception):
    """A JSON object names the same key twice (``json`` would silently keep the last value)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    data = dict(pairs)
    if len(data) != len(pairs):
        raise _DuplicateKey(next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1))
    return data


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(_read_text(path), object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} line {err.lineno}: not valid JSON ({err.msg}); "
                         "fix the file or download it again") from None
    except _DuplicateKey as err:
        raise ValueError(f"{path}: key {err.args[0]!r} appears twice in one object; JSON readers "
                         "keep one of the values silently. Fix: remove the wrong entry") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected one JSON object keyed by id, got {type(data).__name__}")
    return data


def _read_item_json(path: Path) -> dict[str, dict[str, str]]:
    """{item_id: text fields} from an LC-Rec/MiniOneRec ``.item.json``."""
    texts = {}
    for item, rec in _read_json(path).items():
        if not isinstance(rec, dict):
            raise ValueError(f"{path}: item {item!r}: field value must be an object with title, "
                             f"description...; got {type(rec).__name__}")
        texts[str(item)] = _item_text(rec)
    return texts


def _read_sids(path: Path) -> dict[str, list[str]]:
    sids = {}
    for item, codes in _read_json(path).items():
        if not isinstance(codes, list):
            raise ValueError(f"{path}: item {item!r}: field value must be a list of code strings "
                             f"like ['<a_1>', '<b_2>']; got {type(codes).__name__}")
        sids[str(item)] = [str(c) for c in codes]
    return sids


def _finish(ds: Dataset, k: int | None, index_path: Path | None, interactions: Path) -> Dataset:
    """k-core when asked, and the published IDs of the items that remain in ``meta["sids"]``."""
    sids = _read_sids(index_path) if index_path else None
    if sids is not None:
        _require_match(index_path, sids, ds, interactions)
    if k:
        ds = k_core(ds, k)
    if sids is not None:
        ds.meta["sids"] = {i: sids[i] for i in ds.items["item_id"] if i in sids}
    return ds


def _require_match(path: Path, file_ids: dict[str, object], ds: Dataset,
                   interactions: Path) -> None:
    """An items or SID file none of whose ids is an interacted item would leave every item
    bare; raise instead (usually a file from another release or preprocessing)."""
    if not ds.items["item_id"].isin(list(file_ids)).any():
        raise _no_match(path, len(file_ids), next(iter(file_ids), None), ds, interactions)


def _no_match(path: Path, n: int, example: str | None, ds: Dataset,
              interactions: Path) -> ValueError:
    theirs = f"ids like {example!r} there" if example is not None else "no ids there"
    return ValueError(
        f"{path}: 0 of {n} item ids match an item of the interactions ({theirs}; ids like "
        f"{ds.items['item_id'].iloc[0]!r} in {interactions.name}), so every item would be left "
        "without text or ID. Fix: use the file made with the same release and preprocessing "
        "(the same item ids) as the interactions")


def _meta(fmt: str, *paths: Path | None) -> dict:
    """A loader's ``meta``: its format and the files it read (absolute, sorted)."""
    return {"format": fmt, "source_files": sorted(str(p.absolute()) for p in paths if p)}


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

def _present(folder: Path, template: str, name: str) -> Path | None:
    """The file ``template.format(name)`` in ``folder``, gzipped or not; None if neither is."""
    base = template.format(name).removesuffix(".gz")
    return next((p for p in (folder / base, folder / f"{base}.gz") if p.is_file()), None)


def _find(folder: Path, template: str, name: str, what: str, url: str | None = None) -> Path:
    """The file ``template.format(name)`` in ``folder``, gzipped or not; a clear error otherwise."""
    path = _present(folder, template, name)
    if path:
        return path
    base = template.format(name).removesuffix(".gz")
    candidates = [folder / base, folder / f"{base}.gz"]
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


def _open_binary(path: Path):
    """Open for reading, gunzipping when the file starts with the gzip magic bytes (not by name)."""
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each line; bad bytes or a cut-off gzip name the file and line."""
    n = 0
    try:
        with io.TextIOWrapper(_open_binary(path), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                yield n, line
    except UnicodeDecodeError as err:
        raise _not_utf8(path, _first_bad_line(path), err) from None
    except _GZIP_ERRORS as err:
        raise _damaged(path, f" after {n} lines", err) from None


def _first_bad_line(path: Path) -> int:
    """The first line that is not UTF-8 (the text reader decodes ahead, so it cannot tell)."""
    with _open_binary(path) as f:
        for n, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return n


def _read_text(path: Path) -> str:
    """The whole file as UTF-8 text, with the same errors as :func:`_lines`."""
    with _open_binary(path) as f:
        try:
            data = f.read()
        except _GZIP_ERRORS as err:
            raise _damaged(path, "", err) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _not_utf8(path, data.count(b"\n", 0, err.start) + 1, err) from None


def _not_utf8(path: Path, line: int, err: UnicodeDecodeError) -> ValueError:
    return ValueError(f"{path} line {line}: not UTF-8 text (byte 0x{err.object[err.start]:02x}); "
                      "the file is damaged or in another encoding: download it again or "
                      "convert it to UTF-8")


def _damaged(path: Path, where: str, err: Exception) -> ValueError:
    return ValueError(f"{path}: the gzip data is cut off or damaged{where} ({err}); the download "
                      "is incomplete: download the file again")
