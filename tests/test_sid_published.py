"""published_sids: hand-made ``meta["sids"]``, then the shared LETTER and MiniOneRec folders."""
from __future__ import annotations

import pytest

from digr_utils.data.amazon import load_letter, load_minionerec, shared_benchmarks
from digr_utils.data.dataset import from_sequences
from digr_utils.sid.published import published_sids


def _toy(sids):
    """Items x, y, z in that order (first appearance), with ``sids`` as the published IDs."""
    return from_sequences("toy", {"u": ["x", "y", "z"]}, meta={"sids": sids})


def test_codes_follow_the_dataset_item_order_and_sizes_are_max_plus_one():
    ids = published_sids(_toy({"z": ["<a_2>", "<b_0>"], "x": ["<a_1>", "<b_3>"],
                               "y": ["<a_0>", "<b_1>"], "gone": ["<a_9>", "<b_9>"]}))
    assert ids.codes.tolist() == [[1, 3], [0, 1], [2, 0]]  # no collision: no suffix
    assert ids.item_ids.tolist() == ["x", "y", "z"]
    assert ids.sizes == (3, 4)
    assert ids.label(0) == "<a_1><b_3>"


def test_colliding_ids_get_the_suffix_level():
    ids = published_sids(_toy({"x": ["<a_1>", "<b_3>"], "y": ["<a_0>", "<b_1>"],
                               "z": ["<a_1>", "<b_3>"]}))
    # x and z share <a_1><b_3>: suffix 0 for x (first), 1 for z; y alone gets 0
    assert ids.codes.tolist() == [[1, 3, 0], [0, 1, 0], [1, 3, 1]]
    assert ids.sizes == (2, 4, 2)


def test_items_without_a_published_id_are_counted_and_named():
    with pytest.raises(ValueError, match=r"2 of 3 items of 'toy' have no published ID "
                                         r"\(item 'x' first\)\. Fix: use the index\.json"):
        published_sids(_toy({"y": ["<a_0>"]}))


def test_no_published_ids_at_all():
    ds = from_sequences("toy", {"u": ["x"]})
    with pytest.raises(ValueError, match=r"no published semantic IDs \(meta\['sids'\]\)"):
        published_sids(ds)


@pytest.mark.parametrize("bad,token,level,letter", [
    (["<a_1>", "<b-3>"], "<b-3>", 2, "b"),
    (["<a_1>", "<c_3>"], "<c_3>", 2, "b"),  # the letter must name the level
    (["a_1", "<b_3>"], "a_1", 1, "a"),
])
def test_unparseable_tokens_name_item_and_token(bad, token, level, letter):
    sids = {"x": bad, "y": ["<a_0>", "<b_1>"], "z": ["<a_2>", "<b_0>"]}
    with pytest.raises(ValueError, match=rf"item 'x': token '{token}' at level {level} does not "
                                         rf"parse; expected <{letter}_N>"):
        published_sids(_toy(sids))


def test_ids_must_be_token_lists_of_one_depth():
    with pytest.raises(ValueError, match=r"item 'x': ID '<a_1><b_3>' must be a non-empty list"):
        published_sids(_toy({"x": "<a_1><b_3>", "y": ["<a_0>"], "z": ["<a_2>"]}))
    with pytest.raises(ValueError, match=r"IDs of \[1, 2\] levels"):
        published_sids(_toy({"x": ["<a_1>"], "y": ["<a_0>", "<b_1>"], "z": ["<a_2>"]}))


# --- the shared benchmark folders (skipped where they are absent) -------------------------------

SHARED = shared_benchmarks()
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no benchmark folder at {SHARED}")


def _row(ds, item_id):
    return int(ds.items.index[ds.items["item_id"] == item_id][0])


@needs_shared
@pytest.mark.parametrize("folder,name,first,shared", [
    # item "0"'s published ID, and how many items repeat an earlier item's ID (read off the files)
    ("beauty", "Beauty", [183, 70, 232, 6], 13),
    ("instruments", "Instruments", [128, 241, 146, 235], 25),
])
def test_shared_letter_ids_are_distinct_with_published_levels(folder, name, first, shared):
    ds = load_letter(SHARED / folder, name)
    ids = published_sids(ds)
    assert ids.item_ids.tolist() == ds.items["item_id"].tolist()
    assert ids.depth == 5 and ids.sizes[:4] == (256, 256, 256, 256)  # 4 published + suffix
    assert len({tuple(row) for row in ids.codes.tolist()}) == ds.n_items
    assert int((ids.codes[:, -1] > 0).sum()) == shared
    assert ids.codes[_row(ds, "0")].tolist()[:4] == first


@needs_shared
def test_shared_minionerec_collisions_are_separated():
    ds = load_minionerec(SHARED / "industrial_and_scientific", "Industrial_and_Scientific")
    ids = published_sids(ds)
    assert ids.depth == 4 and ids.sizes[1:3] == (256, 256)
    # items 7 and 8 share <a_210><b_231><c_0> in the index.json; the suffix tells them apart
    rows = [ids.codes[_row(ds, i)].tolist() for i in ("7", "8")]
    assert [r[:3] for r in rows] == [[210, 231, 0]] * 2 and {rows[0][3], rows[1][3]} == {0, 1}
    assert len({tuple(row) for row in ids.codes.tolist()}) == ds.n_items
