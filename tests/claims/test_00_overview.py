"""Notebook 00's claims: everything runs on a CPU, MiniLM is the size the prose says, and the shop
it loads is the preset's."""
import pytest

from digr_utils import config


@pytest.fixture(scope="module")
def figures(recorded):
    return recorded("00")


def test_the_shop_is_sized_by_the_preset(figures, preset):
    p = config.get_preset(preset)
    # k-core filtering only removes: never more users or items than the preset asks for
    assert 0 < figures["users"] <= p.n_users and 0 < figures["items"] <= p.n_items
    assert figures["interactions"] >= figures["users"] * p.k_core


def test_minilm_has_about_22m_parameters(figures):
    # "a sentence encoder of about 22 M parameters"
    assert 20e6 <= figures["minilm parameters"] <= 24e6


def test_the_hardware_table_is_recorded(figures):
    assert figures["device"] in ("cpu", "cuda", "mps")
    assert (figures["gpu"] == "none") == (figures["device"] != "cuda")
