"""Visual cues: hand-made pictures whose colours and shapes a person can name, plus the ci shop."""
import numpy as np
import pytest

from digr_utils.interests.visual import cue_table, visual_cues, visual_cues_all

RED, NAVY, YELLOW = (220, 30, 30), (30, 45, 105), (250, 225, 20)


def _canvas() -> np.ndarray:
    return np.full((32, 32, 3), 250, dtype=np.uint8)


def test_red_square_on_white_is_a_solid_red_square():
    img = _canvas()
    img[8:24, 8:24] = RED
    row = cue_table(img[None]).iloc[0]
    assert (row.main_colour, row.second_colour, row.pattern, row["shape"]) == (
        "red", None, "solid", "square")
    # the 3x3 majority vote that removes noise also drops the 4 corner pixels (4 of 9 votes)
    assert row.coverage == pytest.approx((16 * 16 - 4) / 1024, abs=5e-4)
    assert visual_cues(img) == "red, bright, solid, square"


def test_wide_bar_reads_wide_and_flat():
    img = _canvas()
    img[12:20, 4:28] = RED  # 8 rows x 24 columns: aspect 1/3
    assert visual_cues(img).endswith("wide and flat")


def test_two_colour_stripes_are_named_with_both_colours():
    img = _canvas()
    for top in range(6, 26, 6):  # bands of 3 navy rows then 3 yellow rows
        img[top:top + 3, 6:26] = NAVY
        img[top + 3:top + 6, 6:26] = YELLOW
    row = cue_table(img[None]).iloc[0]
    assert {row.main_colour, row.second_colour} == {"navy", "yellow"}
    assert row.pattern == "two-tone stripes"
    assert "stripes" in visual_cues(img)


def test_top_and_bottom_halves_are_two_tone_not_stripes():
    img = _canvas()
    img[6:16, 6:26] = NAVY
    img[16:26, 6:26] = YELLOW
    assert cue_table(img[None]).iloc[0].pattern == "two-tone"


def test_blank_image_has_no_object():
    assert visual_cues(_canvas()) == "no clear object"


def test_same_pixels_same_words():
    rng = np.random.default_rng(0)
    img = _canvas()
    img[8:24, 10:22] = NAVY
    noisy = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    stack = np.stack([noisy, noisy.copy()])
    first, second = visual_cues_all(stack), visual_cues_all(stack)
    assert first == second and first[0] == first[1]
    assert first[0].startswith("navy")


def test_bad_shapes_say_what_to_pass():
    with pytest.raises(ValueError, match=r"\(h, w, 3\)"):
        visual_cues(np.zeros((32, 32)))
    with pytest.raises(ValueError, match=r"\(n, h, w, 3\)"):
        cue_table(np.zeros((32, 32, 3)))


def test_ci_shop_colour_words_follow_the_motive():
    """Item palettes lean on the first motive, so the colour word should too.

    Measured on ci (225 items): 0.19 of same-motive pairs share the main colour word,
    0.05 of other pairs (a quarter of items are drawn in a neutral grey whatever the motive).
    """
    from digr_utils.data.world import load_shop

    shop = load_shop("ci")
    words = cue_table(shop.images)["main_colour"].to_numpy(object)
    motive = np.array([m[0] for m in shop.item_motives], dtype=object)
    upper = np.triu_indices(len(words), 1)
    same_word = (words[:, None] == words[None, :])[upper]
    same_motive = (motive[:, None] == motive[None, :])[upper]
    within, across = same_word[same_motive].mean(), same_word[~same_motive].mean()
    assert within > 2 * across
