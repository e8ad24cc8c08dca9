"""Notebook 04's prose against the figures it recorded (artifacts/notebooks/<preset>/04.json)."""
import pytest

SHALLOW_V = "neighbour motive agreement · shallow (title + description)"
APPENDED_V = "neighbour motive agreement · interests appended to the text"
FUSED_V = "neighbour motive agreement · deep (fused, IEID)"


@pytest.fixture(scope="module")
def f(recorded):
    return recorded("04")


def test_appending_moves_little_and_fusing_moves_far_more(f):
    # "Appending lifts the share ... a little; fusing lifts it far more"
    assert f[SHALLOW_V] <= f[APPENDED_V] < f[FUSED_V]
    assert f[FUSED_V] - f[APPENDED_V] > 2 * (f[APPENDED_V] - f[SHALLOW_V])
    assert f[FUSED_V] > 1.5 * f[SHALLOW_V]
    # "the fused vector puts fewer neighbours next to the same product type"
    assert (f["neighbour type agreement · deep (fused, IEID)"]
            < f["neighbour type agreement · shallow (title + description)"])


def test_shallow_codes_are_product_type_codes(f):
    # "nearly every pair under a level-1 code is the same kind of product, and only a minority
    # shares a motive — more than random pairs"
    assert f["shallow · type_share_l1"] > 0.9
    assert f["shallow · motive_floor"] < f["shallow · motive_share_l1"] < 0.5


def test_deep_codes_add_the_motive_and_keep_the_type(f):
    # "far more pairs under a deep level-1 code share a motive, more still under a level-1+2 prefix"
    assert f["deep · motive_share_l1"] > 1.5 * f["shallow · motive_share_l1"]
    assert f["deep · motive_share_l2"] > f["deep · motive_share_l1"]
    # "the type does not move to the finer levels: pairs under a deep level-1 code are still the
    # same type many times more often than random pairs"; "a level-1+2 prefix is almost always
    # one type"
    assert f["deep · type_share_l1"] > 5 * f["deep · type_floor"]
    assert f["deep · type_share_l2"] >= 0.85


def test_codes_are_healthy(f):
    # "(nearly) every entry of every level, with collisions below the ~30 %"
    for run in ("shallow", "deep"):
        assert min(f[f"{run} · used_l{lvl}"] for lvl in (1, 2, 3)) >= 0.9
        assert f[f"{run} · collision_rate"] < 0.3


def test_residual_kmeans_collides_more_and_groups_about_as_well(f):
    assert f["kmeans · collision_rate"] > f["deep · collision_rate"]
    assert abs(f["kmeans · motive_share_l1"] - f["deep · motive_share_l1"]) < 0.2


def test_the_collapse_after_kmeans_start_is_explained(f):
    c = {k.split(" · ", 1)[1]: v for k, v in f.items() if k.startswith("rqvae collapse · ")}
    # level-1 use collapses after epoch 1, the first restart brings it back, the end is healthy
    assert c["used_l1 min before restart"] < 0.5 * c["used_l1 epoch 1"]
    assert c["used_l1 after restart"] > 2 * c["used_l1 min before restart"]
    assert c["used_l1 last epoch"] >= 0.9
    # an untrained encoder's latents sit in a cloud a few percent as wide as its distance from
    # the origin; training spreads them many times wider
    assert c["untrained latent spread"] < 0.2 * c["untrained latent offset"]
    assert c["trained latent spread"] > 5 * c["untrained latent spread"]
    # the commitment loss rises, but falls against the squared spread
    assert c["commit last epoch"] > c["commit epoch 1"]
    assert (c["commit last epoch"] / c["trained latent spread"] ** 2
            < c["commit epoch 1"] / c["untrained latent spread"] ** 2)


def test_visual_cues_carry_the_motive_but_barely_move_the_deep_vector(f):
    def cue(view, column="motive · all items"):
        return f[f"visual cues · {view} · {column}"]
    groups = ("all items", "no telling clue", "interests miss the motive")
    # "alone they group items by motive better than the description does ... while their
    # silhouette says little about the product type"
    assert cue("cue phrase alone") > cue("shallow")
    assert cue("cue phrase alone", "type · all items") < 0.5 * cue("shallow", "type · all items")
    # "Added to the shallow vector at weight 1 they raise its motive agreement"
    assert cue("shallow + cues (weight 1)") > cue("shallow")
    # "at the course's weight the cues do not matter on this shop: no group moves by as much as 0.03"
    for g in groups:
        assert abs(cue("deep, cue weight 0.2", f"motive · {g}") - cue("deep, cue weight 0", f"motive · {g}")) < 0.03
    # "Its interest part already names the motive for nearly every item"
    assert f["visual cues · items · interests miss the motive"] < 0.1 * f["visual cues · items · all items"]
    assert f["visual cues · items · interests miss the motive"] > 0
    # "where the kept interests miss the motive ... a heavier cue weight helps, paid for in type
    # agreement over all items"
    miss = "motive · interests miss the motive"
    assert cue("deep, cue weight 1", miss) > cue("deep, cue weight 0", miss) + 0.03
    assert cue("deep, cue weight 1", "type · all items") < cue("deep, cue weight 0", "type · all items")
