"""from_sequences, k_core, leave_one_out, require_text and dataset_digest on datasets small
enough to follow by hand."""
import pandas as pd
import pytest

from digr_utils.data.dataset import (
    ITEM_TEXT_COLUMNS,
    EmptyDatasetError,
    dataset_digest,
    from_sequences,
    k_core,
    leave_one_out,
)


def _seqs(ds):
    return [s.tolist() for s in ds.sequences()]


# --- from_sequences ----------------------------------------------------------------------------

def test_from_sequences_numbers_items_in_first_appearance_order():
    ds = from_sequences("toy", {"alice": ["b", "a", "b"], "bob": ["c", "a"]})
    # b first (0), then a (1), then c (2); users in dict order
    assert ds.items["item_id"].tolist() == ["b", "a", "c"]
    assert ds.users["user_id"].tolist() == ["alice", "bob"]
    assert ds.interactions["user"].tolist() == [0, 0, 0, 1, 1]
    assert ds.interactions["item"].tolist() == [0, 1, 0, 2, 1]
    assert (ds.n_users, ds.n_items) == (2, 3)


def test_from_sequences_timestamps_default_to_positions():
    ds = from_sequences("toy", {"alice": ["b", "a", "b"], "bob": ["c", "a"]})
    assert ds.interactions["timestamp"].tolist() == [0, 1, 2, 0, 1]


def test_from_sequences_orders_by_given_timestamps_keeping_ties_in_list_order():
    ds = from_sequences("toy", {"u": ["x", "y", "z"]}, timestamps={"u": [5, 5, 1]})
    # ids by first appearance in the list: x=0, y=1, z=2; time order z(1), x(5), y(5)
    assert _seqs(ds) == [[2, 0, 1]]
    assert ds.interactions["timestamp"].tolist() == [1, 5, 5]


def test_from_sequences_fills_text_columns_with_empty_strings():
    items = pd.DataFrame({"title": ["Red Mug", None]}, index=[7, 8])  # int ids, like a loader
    ds = from_sequences("toy", {"u": ["8", "7", "9"]}, items=items)
    assert ds.items["item_id"].tolist() == ["8", "7", "9"]
    assert ds.items["title"].tolist() == ["", "Red Mug", ""]  # None and "no row" both become ""
    for col in ITEM_TEXT_COLUMNS:
        assert ds.items[col].map(type).eq(str).all(), col
    assert ds.items["description"].tolist() == ["", "", ""]


def test_from_sequences_rejects_timestamps_of_the_wrong_length():
    with pytest.raises(ValueError, match="timestamp"):
        from_sequences("toy", {"u": ["a", "b", "c"]}, timestamps={"u": [1]})


# --- Dataset.sequences / text ------------------------------------------------------------------

def test_sequences_are_per_user_in_time_order():
    ds = from_sequences("toy", {"u": ["a", "b"], "v": ["c", "a", "d"]},
                        timestamps={"u": [10, 20], "v": [3, 1, 2]})
    # a=0 b=1 c=2 d=3; v's order by time: a(1), d(2), c(3)
    assert _seqs(ds) == [[0, 1], [0, 3, 2]]


def test_users_with_an_empty_sequence_are_left_out():
    # otherwise list position in sequences() would stop matching the user id
    ds = from_sequences("toy", {"u": ["a"], "v": [], "w": ["b"]})
    assert ds.users["user_id"].tolist() == ["u", "w"]
    assert _seqs(ds) == [[0], [1]]


def test_text_joins_title_and_description():
    items = pd.DataFrame({"title": ["Red Mug", "", "Lamp"],
                          "description": ["Holds tea.", "Bright.", ""],
                          "brand": ["Cor", "Vel", ""]}, index=["a", "b", "c"])
    ds = from_sequences("toy", {"u": ["a", "b", "c"]}, items=items)
    # ". " joins; leading/trailing ". " (an empty field, the final full stop) is stripped
    assert ds.text() == ["Red Mug. Holds tea", "Bright", "Lamp"]
    assert ds.text(("brand", "title")) == ["Cor. Red Mug", "Vel", "Lamp"]


def test_text_skips_an_empty_middle_field():
    items = pd.DataFrame({"title": ["Red Mug"], "brand": [""], "description": ["Holds tea"]},
                         index=["a"])
    ds = from_sequences("toy", {"u": ["a"]}, items=items)
    assert ds.text(("title", "brand", "description")) == ["Red Mug. Holds tea"]


def test_require_text_passes_when_some_item_has_text():
    items = pd.DataFrame({"title": ["", "Lamp"]}, index=["a", "b"])
    from_sequences("toy", {"u": ["a", "b"]}, items=items).require_text("shallow vectors")


def test_require_text_names_the_empty_columns_the_files_and_the_fix():
    # a brand alone is not what item vectors read (title + description)
    items = pd.DataFrame({"brand": ["Cor", "Vel"]}, index=["a", "b"])
    ds = from_sequences("Beauty", {"u": ["a", "b"]}, items=items,
                        meta={"source_files": ["/data/beauty/Beauty.inter.json"]})
    with pytest.raises(ValueError) as err:
        ds.require_text("deep item vectors")
    assert str(err.value).startswith(
        "deep item vectors: dataset 'Beauty' has no item text: column(s) title, description empty "
        "for all 2 items (files read: Beauty.inter.json). Fix: use the folder's published "
        "semantic IDs")
    assert "--sids published" in str(err.value)
    ds.require_text("brand vectors", fields=("brand",))


# --- dataset_digest ----------------------------------------------------------------------------

def _with_files(tmp_path, files, **meta):
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    return from_sequences("Toy", {"u": ["a", "b"]},
                          meta={"format": "letter", "source_files": sorted(paths), **meta})


def test_digest_is_short_hex_and_depends_on_bytes_names_and_settings(tmp_path_factory):
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    files = {"Toy.inter.json": b'{"u": ["a", "b"]}', "Toy.index.json": b"{}"}
    digest = dataset_digest(_with_files(one, files))
    assert len(digest) == 16 and int(digest, 16) >= 0
    assert dataset_digest(_with_files(two, files)) == digest  # another folder, same files
    assert dataset_digest(_with_files(two, files, format="minionerec")) != digest
    assert dataset_digest(_with_files(two, files, k_core=5)) != digest
    renamed = {"Toy.inter.json": files["Toy.inter.json"], "Toy.item.json": b"{}"}
    assert dataset_digest(_with_files(two, renamed)) != digest
    changed = {**files, "Toy.index.json": b"{ }"}
    assert dataset_digest(_with_files(two, changed)) != digest


def test_digest_needs_the_recorded_files(tmp_path):
    with pytest.raises(ValueError, match=r"no meta\['source_files'\].*Fix: load it with"):
        dataset_digest(from_sequences("Toy", {"u": ["a"]}))
    ds = _with_files(tmp_path, {"Toy.inter.json": b"{}"})
    (tmp_path / "Toy.inter.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"Toy\.inter\.json \(a source file of 'Toy'\)"):
        dataset_digest(ds)


# --- k_core ------------------------------------------------------------------------------------

def test_k_core_iterates_until_stable():
    # k=2. Pass 1: only u4 (1 item) falls. Then C has 1 user (u3) and falls in pass 2, which
    # leaves u3 with one item, so u3 falls in pass 3. B keeps u1 and u2: 2 >= k.
    ds = from_sequences("toy", {"u1": ["A", "B"], "u2": ["A", "B"], "u3": ["B", "C"],
                                "u4": ["C"]})
    core = k_core(ds, 2)
    assert core.users["user_id"].tolist() == ["u1", "u2"]
    assert core.items["item_id"].tolist() == ["A", "B"]
    assert _seqs(core) == [[0, 1], [0, 1]]
    assert core.meta["k_core"] == 2
    assert core.name == "toy"


def test_k_core_keeps_text_and_renumbers_densely():
    items = pd.DataFrame({"title": ["alpha", "beta", "gamma"]}, index=["A", "B", "C"])
    # C is bought once (dropped); A and B twice each
    ds = from_sequences("toy", {"u1": ["C", "A", "B"], "u2": ["A", "B"]}, items=items)
    core = k_core(ds, 2)
    assert core.items["item_id"].tolist() == ["A", "B"]
    assert core.items["title"].tolist() == ["alpha", "beta"]
    assert core.items.index.tolist() == [0, 1]
    assert _seqs(core) == [[0, 1], [0, 1]]


def test_k_core_that_removes_everything_names_the_threshold():
    ds = from_sequences("tiny", {"u": ["a", "b"], "v": ["a"]})
    with pytest.raises(EmptyDatasetError, match=r"tiny: 5-core filtering .*3 before.*k_core"):
        k_core(ds, 5)


# --- leave_one_out / Split ---------------------------------------------------------------------

@pytest.fixture
def split():
    # ids: a..f = 0..5 (first user), g = 6
    ds = from_sequences("toy", {"u": list("abcdef"), "v": ["c", "g", "a"]})
    return leave_one_out(ds, max_history=3)


def test_leave_one_out_train_is_all_but_last_two(split):
    assert [s.tolist() for s in split.train] == [[0, 1, 2, 3], [2]]
    assert split.valid_target.tolist() == [4, 6]
    assert split.test_target.tolist() == [5, 0]
    assert (split.n_items, split.max_history) == (7, 3)


def test_leave_one_out_histories_are_capped_and_test_includes_valid_item(split):
    assert [h.tolist() for h in split.valid_history] == [[1, 2, 3], [2]]
    assert [h.tolist() for h in split.test_history] == [[2, 3, 4], [2, 6]]
    assert [h.tolist() for h in split.histories("valid")] == [[1, 2, 3], [2]]
    assert split.targets("valid").tolist() == [4, 6]
    assert split.targets().tolist() == [5, 0]


def test_new_items_are_those_never_in_training(split):
    assert split.train_counts.tolist() == [1, 1, 2, 1, 0, 0, 0]
    assert split.new_items.tolist() == [False] * 4 + [True] * 3
    assert split.target_is_new("test").tolist() == [True, False]  # 5 is new, 0 is not
    assert split.target_is_new("valid").tolist() == [True, True]  # 4 and 6 are new


def test_leave_one_out_needs_three_items_per_user():
    ds = from_sequences("toy", {"u": ["a", "b", "c"], "v": ["a", "b"]})
    with pytest.raises(EmptyDatasetError, match=r"1 users have fewer than 3.*user 1.*k_core"):
        leave_one_out(ds)


def test_unknown_split_part_is_rejected(split):
    with pytest.raises(ValueError, match=r"'bogus'.*'valid' or 'test'"):
        split.histories("bogus")
    with pytest.raises(ValueError, match="'bogus'"):
        split.targets("bogus")
