"""The course's shared plot style and bar helpers (digr_utils.viz)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from digr_utils import viz


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _rows_top_to_bottom(ax):
    """Y tick labels in the order a reader sees them, top first."""
    ticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()]),
                   key=lambda t: t[0], reverse=bool(ax.get_ylim()[0] < ax.get_ylim()[1]))
    return [name for _, name in ticks]


def test_use_style_sets_palette_and_sizes():
    viz.use_style()
    assert matplotlib.rcParams["axes.titlesize"] == viz.STYLE["axes.titlesize"]
    cycle = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert cycle[:3] == list(viz.PALETTE[:3])


def test_barh_reads_top_to_bottom_and_writes_values():
    ax = viz.barh({"first": 0.5, "second": 0.25, "third": 1.0}, "t", "x")
    assert _rows_top_to_bottom(ax) == ["first", "second", "third"]
    texts = [t.get_text().strip() for t in ax.texts]
    assert texts == ["0.500", "0.250", "1.000"]
    assert ax.get_xlim()[1] > 1.0  # room for the last value's label


def test_barh_handles_nan_and_negative_values():
    ax = viz.barh({"gain": -0.2, "missing": float("nan"), "loss": 0.1}, "t", "x")
    assert ax.get_xlim()[0] < -0.2
    assert [t.get_text().strip() for t in ax.texts][1] == "nan"


def test_bar_table_is_barh():
    ax = viz.bar_table({"a": 1.0, "b": 2.0}, "t", "x")
    assert _rows_top_to_bottom(ax) == ["a", "b"] and ax.get_title() == "t"


def test_grouped_barh_has_one_legend_entry_per_column_in_reading_order():
    table = pd.DataFrame({"SFT": [0.1, 0.2], "GRPO": [0.15, np.nan]}, index=["panel", "shallow"])
    ax = viz.grouped_barh(table, "t", "NDCG@10", legend_title="model")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["SFT", "GRPO"]
    assert _rows_top_to_bottom(ax) == ["panel", "shallow"]
    assert len(ax.patches) == 4 and len(ax.texts) == 3  # no label for the missing value


def test_rotate_ticks_right_aligns_x_labels():
    fig, ax = plt.subplots()
    ax.bar(["a long name", "another long name"], [1, 2])
    viz.rotate_ticks(ax, rotation=30)
    assert all(t.get_rotation() == 30 and t.get_horizontalalignment() == "right"
               for t in ax.get_xticklabels())


def test_legend_outside_places_legend_beside_the_axes():
    fig, ax = plt.subplots()
    ax.plot([0, 1], label="a")
    viz.legend_outside(ax, title="series")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "series"
    fig.canvas.draw()
    assert legend.get_window_extent().x0 >= ax.get_window_extent().x1 - 1


def test_save_writes_png_when_asked(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGR_FIGURES", str(tmp_path))
    fig, _ = plt.subplots()
    assert viz.save(fig, "x") is fig
    assert (tmp_path / "x.png").exists()
