"""The interest source as a recipe field: the panel's quality dial and the taxonomy matcher."""
from dataclasses import asdict

import pytest

from digr_utils.data.stage import load_data
from digr_utils.interests.simulated import default_panel, dial_panel
from digr_utils.interests.stage import INTEREST_SOURCES, InterestSource, mine, mining_run


@pytest.fixture(scope="module")
def data():
    return load_data("ci")


def test_default_panel_recipe_is_unchanged_by_the_dial(data):
    # runs made before the dial existed keep their names: no quality means the default panel
    source = InterestSource("panel")
    assert source.quality is None and source.label == "panel"
    assert source.description == "simulated panel (knows the hidden motives)"
    assert mining_run(data, source, 0).recipe == {
        "interests": "panel", "annotators": [asdict(a) for a in default_panel(0)]}


def test_dial_source_is_named_and_checked(data):
    source = InterestSource("panel", quality=0.5)
    assert source.label == "panel-q050"
    assert source.description == "simulated panel at quality 0.50 (knows the hidden motives)"
    assert mining_run(data, source, 3).recipe["annotators"] == [asdict(a) for a in dial_panel(0.5, 3)]
    assert mining_run(data, source, 0).folder != mining_run(data, InterestSource("panel"), 0).folder
    with pytest.raises(ValueError, match="outside"):
        InterestSource("panel", quality=-0.1)
    with pytest.raises(ValueError, match="panel's dial"):
        InterestSource("smollm2", quality=0.5)


def test_mining_at_full_quality_names_every_true_motive(data):
    mined = mine(data, InterestSource("panel", quality=1.0), seed=0, progress=False)
    assert mined.source == InterestSource("panel", quality=1.0)
    assert set(mined.items) == {a.model for a in dial_panel(1.0)} == set(mined.users)
    from digr_utils.interests.simulated import truth_for

    answers = next(iter(mined.items.values()))
    assert [{truth_for(i.text) for i in a.interests} for a in answers] == data.shop.motive_sets()


def test_taxonomy_is_a_source_named_as_what_it_is(data):
    assert "taxonomy" in INTEREST_SOURCES
    source = InterestSource("taxonomy")
    assert source.description == "zero-shot taxonomy matcher (sentence encoder, no LLM)"
    mined = mine(data, source, seed=0, progress=False)
    assert list(mined.items) == ["taxonomy-minilm"] and mined.users is None
    answers = mined.items["taxonomy-minilm"]
    assert len(answers) == data.dataset.n_items
    assert all(len(a.interests) <= 2 and a.backend == "zero-shot" for a in answers)
