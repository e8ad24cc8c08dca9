"""Amazon loaders: tiny hand-made files in every format, then the shared benchmark folders."""
from __future__ import annotations

import csv
import gzip
import json

import pytest

from digr_utils.data.amazon import (
    detect,
    load,
    load_amazon_2014,
    load_amazon_2018,
    load_amazon_2023,
    load_letter,
    load_minionerec,
    shared_benchmarks,
)
from digr_utils.data.dataset import dataset_digest


def _write(path, lines, gz=True):
    text = "".join(line + "\n" for line in lines)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")


def _jsonl(path, records, gz=True):
    _write(path, [json.dumps(r) for r in records], gz)


def _seqs(ds):
    """Each user's sequence as source ids, keyed by source user id."""
    ids = ds.items["item_id"].to_numpy()
    return {ds.users.loc[u, "user_id"]: list(ids[s]) for u, s in enumerate(ds.sequences())}


def _text(ds, item_id):
    row = ds.items.set_index("item_id").loc[item_id]
    return row["title"], row["description"], row["brand"], row["category"]


def _review14(user, asin, t):
    return {"reviewerID": user, "asin": asin, "unixReviewTime": t, "overall": 5.0,
            "reviewText": "ok"}


@pytest.fixture
def folder_2014(tmp_path):
    _jsonl(tmp_path / "reviews_Beauty_5.json.gz", [
        _review14("u1", "A", 300),
        _review14("u1", "B", 100),
        _review14("u2", "C", 200),
        _review14("u2", "A", 200),
        _review14("u2", "B", 200),
        _review14("u1", "C", 200),
        _review14("u3", "D", 50),
        _review14("u3", "A", 60),
    ])
    _write(tmp_path / "meta_Beauty.json.gz", [
        repr({"asin": "A", "title": "Rose <b>Lip</b>  Balm", "description": "Soft &amp; smooth",
              "brand": "Acme", "categories": [["Beauty", "Skin Care"], ["Beauty", "Lips"]],
              "price": 3.5, "imUrl": "http://x/a.jpg"}),
        repr({"asin": "D", "title": "Dropped by the k-core"}),
        repr({"asin": "B", "title": "Night Cream", "categories": [["Beauty"]]}),
    ])
    return tmp_path


def test_2014_orders_by_time_breaks_ties_by_file_order_and_k_cores(folder_2014):
    ds = load_amazon_2014(folder_2014, "Beauty", k=2)
    # u3 has D (seen once, dropped) and A; without D u3 has one item and goes too.
    assert _seqs(ds) == {"u1": ["B", "C", "A"], "u2": ["C", "A", "B"]}
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == (2, 3, 6)
    assert ds.interactions["timestamp"].tolist() == [100, 200, 300, 200, 200, 200]
    assert ds.meta["format"] == "amazon2014" and ds.meta["k_core"] == 2


def test_2014_text_from_python_literal_meta(folder_2014):
    ds = load_amazon_2014(folder_2014, "Beauty", k=2)
    assert _text(ds, "A") == ("Rose Lip Balm", "Soft & smooth", "Acme",
                              "Beauty > Skin Care; Beauty > Lips")
    assert _text(ds, "B") == ("Night Cream", "", "", "Beauty")
    assert _text(ds, "C") == ("", "", "", "")  # no metadata line: empty text


def test_2014_default_5_core_keeps_nothing_here(folder_2014):
    with pytest.raises(ValueError, match="5-core filtering removed every interaction"):
        load_amazon_2014(folder_2014, "Beauty")


def test_2018_drops_duplicate_reviews_and_joins_description_list(tmp_path):
    _jsonl(tmp_path / "Musical_Instruments_5.json.gz", [
        {"reviewerID": "u1", "asin": "X", "unixReviewTime": 10, "verified": True},
        {"reviewerID": "u1", "asin": "Y", "unixReviewTime": 5},
        {"reviewerID": "u1", "asin": "X", "unixReviewTime": 10},  # the 2018 files repeat reviews
        {"reviewerID": "u2", "asin": "Y", "unixReviewTime": 7},
        {"reviewerID": "u2", "asin": "X", "unixReviewTime": 3},
    ])
    _jsonl(tmp_path / "meta_Musical_Instruments.json.gz", [
        {"asin": "X", "title": "Guitar Strings", "brand": "Fender", "price": "$9.99",
         "description": ["Bright tone.", "<p>Nickel\n  wound</p>"],
         "category": ["Musical Instruments", "Strings"]},
        {"asin": "X", "title": "A later duplicate line"},
        {"asin": "Y", "title": "Capo", "description": [], "brand": "", "category": []},
    ])
    ds = load_amazon_2018(tmp_path, "Musical_Instruments", k=None)
    assert _seqs(ds) == {"u1": ["Y", "X"], "u2": ["X", "Y"]}
    assert len(ds.interactions) == 4
    assert _text(ds, "X") == ("Guitar Strings", "Bright tone. Nickel wound", "Fender",
                              "Musical Instruments > Strings")
    assert _text(ds, "Y") == ("Capo", "", "", "")


def test_2023_plain_reviews_gzipped_meta_store_and_categories(tmp_path):
    _jsonl(tmp_path / "All_Beauty.jsonl", [
        {"user_id": "u1", "parent_asin": "P", "asin": "P1", "timestamp": 1_600_000_000_000},
        {"user_id": "u1", "parent_asin": "Q", "asin": "Q", "timestamp": 1_500_000_000_000},
        {"user_id": "u2", "parent_asin": "Q", "asin": "Q", "timestamp": 2},
        {"user_id": "u2", "parent_asin": "P", "asin": "P2", "timestamp": 1},
    ], gz=False)
    _jsonl(tmp_path / "meta_All_Beauty.jsonl.gz", [
        {"parent_asin": "P", "title": "Shampoo", "description": ["Gentle", "formula"],
         "store": "Suds Co", "main_category": "All Beauty", "categories": []},
        {"parent_asin": "Q", "title": "Comb", "description": [], "store": None,
         "main_category": "All Beauty", "categories": ["Beauty", "Hair Care"]},
    ])
    ds = load_amazon_2023(tmp_path, "All_Beauty", k=None)
    assert _seqs(ds) == {"u1": ["Q", "P"], "u2": ["P", "Q"]}
    assert ds.interactions["timestamp"].tolist()[:2] == [1_500_000_000_000, 1_600_000_000_000]
    assert ds.meta["time_unit"] == "ms"
    assert _text(ds, "P") == ("Shampoo", "Gentle formula", "Suds Co", "All Beauty")
    assert _text(ds, "Q") == ("Comb", "", "", "Beauty > Hair Care")


def test_malformed_review_line_names_file_line_and_field(tmp_path):
    _jsonl(tmp_path / "reviews_Beauty_5.json.gz", [
        _review14("u1", "A", 1), _review14("u1", "B", 2), {"reviewerID": "u2", "unixReviewTime": 3},
    ])
    _write(tmp_path / "meta_Beauty.json.gz", [])
    expected = r"reviews_Beauty_5\.json\.gz line 3: missing field 'asin'"
    with pytest.raises(ValueError, match=expected):
        load_amazon_2014(tmp_path, "Beauty")


def test_bad_time_and_bad_json_name_the_line(tmp_path):
    _write(tmp_path / "Toys_5.json.gz", [
        json.dumps({"reviewerID": "u", "asin": "A", "unixReviewTime": "soon"}),
    ])
    _write(tmp_path / "meta_Toys.json.gz", [])
    with pytest.raises(ValueError, match=r"Toys_5\.json\.gz line 1: field 'unixReviewTime'"):
        load_amazon_2018(tmp_path, "Toys")
    _write(tmp_path / "Toys_5.json.gz", [json.dumps(_review14("u", "A", 1)), "{not json"])
    with pytest.raises(ValueError, match=r"Toys_5\.json\.gz line 2: not a JSON object"):
        load_amazon_2018(tmp_path, "Toys")


def test_malformed_meta_line_for_a_kept_item(folder_2014):
    _write(folder_2014 / "meta_Beauty.json.gz", [repr({"asin": "B"}), "{'asin': 'A', 'title': 'x'"])
    with pytest.raises(ValueError, match=r"meta_Beauty\.json\.gz line 2: not a Python dict"):
        load_amazon_2014(folder_2014, "Beauty", k=2)


def test_missing_files_name_the_expected_path(folder_2014, tmp_path_factory):
    empty = tmp_path_factory.mktemp("empty")
    with pytest.raises(FileNotFoundError) as err:
        load_amazon_2014(empty, "Beauty")
    assert str(empty / "reviews_Beauty_5.json.gz") in str(err.value)
    assert "Amazon 2014 reviews" in str(err.value)
    (folder_2014 / "meta_Beauty.json.gz").unlink()
    with pytest.raises(FileNotFoundError, match="Amazon 2014 metadata") as err:
        load_amazon_2014(folder_2014, "Beauty")
    assert str(folder_2014 / "meta_Beauty.json.gz") in str(err.value)
    with pytest.raises(FileNotFoundError, match=r"Amazon 2023 reviews .*All_Beauty\.jsonl"):
        load_amazon_2023(empty, "All_Beauty")


def test_unknown_category_lists_those_found(folder_2014):
    _jsonl(folder_2014 / "reviews_Toys_5.json.gz", [])
    with pytest.raises(FileNotFoundError, match="names found in that folder: Beauty, Toys"):
        load_amazon_2014(folder_2014, "Sports")


@pytest.fixture
def folder_letter(tmp_path):
    (tmp_path / "Toy.inter.json").write_text(json.dumps({"0": [0, 1, 2], "1": [2, 0], "2": [1]}))
    (tmp_path / "Toy.index.json").write_text(json.dumps({
        "0": ["<a_1>", "<b_2>"], "1": ["<a_1>", "<b_3>"], "2": ["<a_4>", "<b_2>"],
        "9": ["<a_9>", "<b_9>"]}))
    (tmp_path / "Toy.item.json").write_text(json.dumps({
        "0": {"title": "Pen", "description": "Blue <i>ink</i>", "brand": "Bic",
              "categories": "Office"}}))
    return tmp_path


def test_letter_loads_as_is_with_sids_and_text(folder_letter):
    ds = load_letter(folder_letter, "Toy")
    assert _seqs(ds) == {"0": ["0", "1", "2"], "1": ["2", "0"], "2": ["1"]}
    assert ds.meta["sids"] == {"0": ["<a_1>", "<b_2>"], "1": ["<a_1>", "<b_3>"],
                               "2": ["<a_4>", "<b_2>"]}
    assert _text(ds, "0") == ("Pen", "Blue ink", "Bic", "Office")
    assert _text(ds, "1") == ("", "", "", "")


def test_letter_k_core_when_asked(folder_letter):
    ds = load(folder_letter, "letter", "Toy", k=2)
    # user 2 has one item; without it item 1 is seen once, and goes too.
    assert _seqs(ds) == {"0": ["0", "2"], "1": ["2", "0"]}
    assert set(ds.meta["sids"]) == {"0", "2"}


def test_letter_missing_and_bad_json(folder_letter):
    with pytest.raises(FileNotFoundError, match=r"Tool\.inter\.json.*found in that folder: Toy"):
        load_letter(folder_letter, "Tool")
    (folder_letter / "Toy.inter.json").write_text('{\n"0": [1, 2],\n"1": [3 4]\n}')
    with pytest.raises(ValueError, match=r"Toy\.inter\.json line 3: not valid JSON"):
        load_letter(folder_letter, "Toy")


def _minionerec_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "history_item_title", "item_title", "history_item_id", "item_id",
                    "history_item_sid", "item_sid"])
        for user, history, item in rows:
            w.writerow([user, "['t']", "t", history, item, "['<a_1>']", "<a_1>"])


@pytest.fixture
def folder_minionerec(tmp_path):
    (tmp_path / "Shop.item.json").write_text(json.dumps({
        "0": {"title": "Drill", "description": "['Cordless.', 'Two  batteries.']",
              "brand": "Bosch", "categories": ""},
        "1": {"title": "Saw", "description": "Sharp", "brand": "", "categories": ""},
    }))
    _minionerec_csv(tmp_path / "valid_Shop_5_2016-10-2018-11.csv", [
        ("uA", "[0, 1]", 2), ("uB", "[3]", 0), ("uA", "[0, 1, 2]", 3)])
    _minionerec_csv(tmp_path / "test_Shop_5_2016-10-2018-11.csv", [
        ("uA", "[1, 2, 3]", 4),  # a truncated history that still ends the sequence so far
        ("uB", "[5, 6]", 1)])    # does not continue [3, 0]; the longer [5, 6, 1] wins
    return tmp_path


def test_minionerec_rebuilds_sequences_without_train_file(folder_minionerec):
    ds = load_minionerec(folder_minionerec, "Shop")
    assert _seqs(ds) == {"uA": ["0", "1", "2", "3", "4"], "uB": ["5", "6", "1"]}
    assert _text(ds, "0") == ("Drill", "Cordless. Two batteries.", "Bosch", "")
    assert _text(ds, "1") == ("Saw", "Sharp", "", "")


def test_the_data_stage_does_not_k_core_minionerec_rows_again(folder_minionerec):
    from digr_utils.data.stage import DataSpec, load_data

    # uB's 3 items and items bought once would not survive a 5-core; the rows are kept whole
    data = load_data("ci", DataSpec(folder_minionerec))
    assert (data.dataset.n_users, data.dataset.n_items) == (2, 7)
    assert data.key.startswith("Shop-") and data.dataset.meta["cored_at_source"]


def test_minionerec_bad_history_and_missing_splits(folder_minionerec):
    _minionerec_csv(folder_minionerec / "test_Shop_5_2016-10-2018-11.csv", [
        ("uA", "[1, 2, 3]", 4), ("uB", "[5, 6", 1)])
    with pytest.raises(ValueError, match=r"test_Shop_5_2016-10-2018-11\.csv line 3: field "
                                         r"'history_item_id'"):
        load_minionerec(folder_minionerec, "Shop")
    for p in folder_minionerec.glob("*.csv"):
        p.unlink()
    with pytest.raises(FileNotFoundError, match=r"valid_Shop\*\.csv"):
        load_minionerec(folder_minionerec, "Shop")


# --- detection ---------------------------------------------------------------------------------

@pytest.fixture
def folder_2018(tmp_path):
    _jsonl(tmp_path / "Toys_5.json.gz", [{"reviewerID": "u", "asin": "A", "unixReviewTime": 1}])
    _jsonl(tmp_path / "meta_Toys.json.gz", [{"asin": "A", "title": "Kite"}])
    return tmp_path


@pytest.fixture
def folder_2023(tmp_path):
    _jsonl(tmp_path / "All_Beauty.jsonl", [{"user_id": "u", "parent_asin": "P", "timestamp": 1}],
           gz=False)
    _jsonl(tmp_path / "meta_All_Beauty.jsonl.gz", [{"parent_asin": "P", "title": "Comb"}])
    return tmp_path


@pytest.mark.parametrize("fixture,expected", [
    ("folder_2014", ("amazon2014", "Beauty")),
    ("folder_2018", ("amazon2018", "Toys")),
    ("folder_2023", ("amazon2023", "All_Beauty")),
    ("folder_letter", ("letter", "Toy")),
    ("folder_minionerec", ("minionerec", "Shop")),
])
def test_detect_names_format_and_dataset(fixture, expected, request):
    assert detect(request.getfixturevalue(fixture)) == expected


def test_load_without_format_and_name_detects_them(folder_minionerec):
    ds = load(folder_minionerec)
    assert ds.meta["format"] == "minionerec" and ds.name == "Shop"
    assert _seqs(ds) == {"uA": ["0", "1", "2", "3", "4"], "uB": ["5", "6", "1"]}


def test_detect_several_datasets_lists_the_exact_flags(folder_letter):
    (folder_letter / "Pet.inter.json").write_text(json.dumps({"0": [0, 1]}))
    flags = "choose one: --format letter --name Pet; --format letter --name Toy"
    with pytest.raises(ValueError, match=flags):
        detect(folder_letter)
    with pytest.raises(ValueError, match=flags):
        load(folder_letter, "letter")
    assert load(folder_letter, name="Pet").n_users == 1  # the name alone settles it


def test_detect_name_not_there_lists_what_is(folder_letter):
    with pytest.raises(FileNotFoundError,
                       match="no dataset with --name Tool; it holds: --format letter --name Toy"):
        load(folder_letter, name="Tool")


def test_detect_nothing_lists_what_each_format_expects(tmp_path):
    _jsonl(tmp_path / "reviews_Beauty_5.json.gz", [])  # reviews without their metadata file
    with pytest.raises(FileNotFoundError) as err:
        detect(tmp_path)
    message = str(err.value)
    assert "amazon2014: reviews_<name>_5.json.gz + meta_<name>.json.gz" in message
    assert "amazon2023: <name>.jsonl + meta_<name>.jsonl" in message
    assert "letter: <name>.inter.json" in message
    assert ("minionerec: <name>.item.json + at least one of train_<name>*.csv, "
            "valid_<name>*.csv, test_<name>*.csv") in message


# --- what a dataset was made from ---------------------------------------------------------------

def test_loaders_record_their_files_sorted_and_absolute(folder_letter, folder_minionerec):
    ds = load_letter(folder_letter, "Toy")
    assert ds.meta["source_files"] == [str(folder_letter / f) for f in (
        "Toy.index.json", "Toy.inter.json", "Toy.item.json")]
    ds = load_minionerec(folder_minionerec, "Shop")  # no index.json here
    assert ds.meta["source_files"] == [str(folder_minionerec / f) for f in (
        "Shop.item.json", "test_Shop_5_2016-10-2018-11.csv", "valid_Shop_5_2016-10-2018-11.csv")]


def test_raw_loader_records_files_and_k_core_keeps_them(folder_2014):
    ds = load_amazon_2014(folder_2014, "Beauty", k=2)
    assert ds.meta["source_files"] == [str(folder_2014 / "meta_Beauty.json.gz"),
                                       str(folder_2014 / "reviews_Beauty_5.json.gz")]


def test_digest_follows_bytes_and_settings_not_the_folder(folder_letter, tmp_path_factory):
    first = dataset_digest(load_letter(folder_letter, "Toy"))
    assert len(first) == 16 and int(first, 16) >= 0
    copy = tmp_path_factory.mktemp("copy")
    for f in folder_letter.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert dataset_digest(load_letter(copy, "Toy")) == first  # same bytes elsewhere
    assert dataset_digest(load_letter(copy, "Toy", k=2)) != first
    (copy / "Toy.item.json").write_text(json.dumps({"0": {"title": "Pencil"}}))
    assert dataset_digest(load_letter(copy, "Toy")) != first


# --- no silent wrong data -----------------------------------------------------------------------

def test_items_file_with_other_ids_names_both_forms(folder_letter):
    (folder_letter / "Toy.item.json").write_text(json.dumps({"B001": {"title": "Pen"},
                                                             "B002": {"title": "Ink"}}))
    with pytest.raises(ValueError, match=r"Toy\.item\.json: 0 of 2 item ids match .*ids like "
                                         r"'B001' there; ids like '0' in Toy\.inter\.json"):
        load_letter(folder_letter, "Toy")


def test_sid_file_with_other_ids_is_an_error(folder_letter):
    (folder_letter / "Toy.index.json").write_text(json.dumps({"B001": ["<a_1>"]}))
    with pytest.raises(ValueError, match=r"Toy\.index\.json: 0 of 1 item ids match"):
        load_letter(folder_letter, "Toy")


def test_minionerec_items_file_with_other_ids(folder_minionerec):
    (folder_minionerec / "Shop.item.json").write_text(json.dumps({"x": {"title": "Drill"}}))
    with pytest.raises(ValueError, match=r"Shop\.item\.json: 0 of 1 item ids match .*'x' there"):
        load_minionerec(folder_minionerec, "Shop")


def test_raw_metadata_with_other_ids(folder_2014):
    _write(folder_2014 / "meta_Beauty.json.gz", [repr({"asin": "Z1", "title": "a"}),
                                                 repr({"asin": "Z2", "title": "b"})])
    with pytest.raises(ValueError, match=r"meta_Beauty\.json\.gz: 0 of 2 item ids match .*ids "
                                         r"like 'Z1' there; ids like 'A' in reviews_Beauty"):
        load_amazon_2014(folder_2014, "Beauty", k=2)


@pytest.mark.parametrize("file,text,key", [
    ("Toy.index.json", '{"0": ["<a_1>"], "1": ["<a_2>"], "0": ["<a_3>"]}', "'0'"),
    ("Toy.item.json", '{"0": {"title": "Pen", "title": "Ink"}}', "'title'"),
    ("Toy.inter.json", '{"0": [0, 1], "0": [1, 0]}', "'0'"),
])
def test_duplicate_json_keys_are_an_error(folder_letter, file, text, key):
    (folder_letter / file).write_text(text)
    with pytest.raises(ValueError, match=rf"{file}: key {key} appears twice"):
        load_letter(folder_letter, "Toy")


def _truncate_gzip(path, keep=0.6):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


def test_truncated_gzip_names_the_file(folder_2014):
    _jsonl(folder_2014 / "reviews_Beauty_5.json.gz",
           [_review14(f"u{n}", f"A{n % 7}", n) for n in range(2000)])
    _truncate_gzip(folder_2014 / "reviews_Beauty_5.json.gz")
    with pytest.raises(ValueError, match=r"reviews_Beauty_5\.json\.gz: the gzip data is cut off "
                                         r"or damaged after \d+ lines .*download the file again"):
        load_amazon_2014(folder_2014, "Beauty")


def test_truncated_gzipped_json_names_the_file(folder_letter):
    inter = folder_letter / "Toy.inter.json"
    _write(folder_letter / "Toy.inter.json.gz", [inter.read_text()])
    inter.unlink()
    _truncate_gzip(folder_letter / "Toy.inter.json.gz")
    with pytest.raises(ValueError, match=r"Toy\.inter\.json\.gz: the gzip data is cut off"):
        load_letter(folder_letter, "Toy")


def test_non_utf8_bytes_name_file_and_line(folder_letter, folder_minionerec, folder_2018):
    inter = folder_letter / "Toy.inter.json"
    inter.write_bytes(b'{"0": [0, 1],\n"1": [2],\n"2\xff": [1]}')
    with pytest.raises(ValueError, match=r"Toy\.inter\.json line 3: not UTF-8 text \(byte 0xff\)"):
        load_letter(folder_letter, "Toy")
    split = folder_minionerec / "test_Shop_5_2016-10-2018-11.csv"
    split.write_bytes(split.read_bytes().replace(b"uB", b"u\xe9B"))  # Latin-1, not UTF-8
    with pytest.raises(ValueError, match=r"test_Shop_5_2016-10-2018-11\.csv line 3: not UTF-8"):
        load_minionerec(folder_minionerec, "Shop")
    _write(folder_2018 / "Toys_5.json.gz", [json.dumps(_review14("u", "A", 1))] * 2)
    with gzip.open(folder_2018 / "Toys_5.json.gz", "ab") as f:
        f.write(b'{"reviewerID": "\xff", "asin": "A", "unixReviewTime": 2}\n')
    with pytest.raises(ValueError, match=r"Toys_5\.json\.gz line 3: not UTF-8"):
        load_amazon_2018(folder_2018, "Toys")


def test_load_rejects_unknown_format(tmp_path):
    with pytest.raises(ValueError, match="use one of amazon2014, amazon2018, amazon2023, letter"):
        load(tmp_path, "amazon2020", "Beauty")


def test_shared_benchmarks_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGR_BENCHMARKS", str(tmp_path))
    assert shared_benchmarks() == tmp_path
    (tmp_path / "amazon").mkdir()
    assert shared_benchmarks() == tmp_path / "amazon"


# --- the shared benchmark folders (skipped where they are absent) -------------------------------

SHARED = shared_benchmarks()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no benchmark folder at {SHARED}")


@needs_shared
@pytest.mark.parametrize("folder,name,sizes", [
    ("instruments", "Instruments", (24_772, 9_922, 206_153)),  # from SOURCE.md
    ("beauty", "Beauty", (22_363, 12_101, 198_502)),
])
def test_shared_letter_sizes_and_sids(folder, name, sizes):
    ds = load_letter(SHARED / folder, name)
    assert (ds.n_users, ds.n_items, len(ds.interactions)) == sizes
    assert len(ds.meta["sids"]) == ds.n_items
    assert all(len(codes) == 4 for codes in ds.meta["sids"].values())
    with pytest.raises(ValueError, match="no item text.*--sids published"):
        ds.require_text("item vectors")  # these folders ship no item text


@needs_shared
@pytest.mark.parametrize("folder,expected", [
    ("beauty", ("letter", "Beauty")),
    ("instruments", ("letter", "Instruments")),
    ("industrial_and_scientific", ("minionerec", "Industrial_and_Scientific")),
])
def test_shared_folders_are_detected_and_digested(folder, expected):
    assert detect(SHARED / folder) == expected
    ds = load(SHARED / folder)
    assert all(f.startswith(str(SHARED / folder)) for f in ds.meta["source_files"])
    assert dataset_digest(ds) == dataset_digest(load(SHARED / folder))


@needs_shared
def test_shared_industrial_has_text_and_rebuilt_sequences():
    ds = load_minionerec(SHARED / "industrial_and_scientific", "Industrial_and_Scientific")
    assert ds.n_users == 3_285  # valid + test users, from SOURCE.md
    assert (ds.items["title"] != "").all()
    ds.require_text("item vectors")
    # the first 8 items of user A4042 are its valid rows' history + targets, read off the CSV
    assert _seqs(ds)["A4042"][:8] == ["3112", "114", "2697", "2393", "2660", "3167", "2058", "1487"]
    assert _text(ds, "0")[0].startswith("SUPCO SPP6 Relay/Capacitor Hard Start Kit")
    assert all(len(codes) == 3 for codes in ds.meta["sids"].values())


@needs_shared
def test_the_data_stage_keeps_the_industrial_rows_whole_and_k_cores_letter_data_as_before():
    from digr_utils.data.stage import DataSpec, load_data

    data = load_data("ci", DataSpec(SHARED / "industrial_and_scientific"))
    # a 5-core of these valid + test rows alone would leave 342 users and 180 items
    assert data.dataset.n_users == 3_285 and data.dataset.meta["cored_at_source"]
    assert all(len(h) >= 1 for h in data.split.train)
