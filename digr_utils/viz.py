"""Plots the notebooks share, so that a cell reads like a sentence and a figure looks the same
wherever it appears. Every function returns its figure (or axes); :func:`save` also writes it to
``$DIGR_FIGURES`` (``make run`` sets it to ``build/figures``).

The course's one style lives here: :func:`use_style` (called once at the top of a notebook) sets
font sizes, the colour cycle and the grid; :func:`barh` draws horizontal bars in reading order
(the first row on top, its value written at the end); :func:`grouped_barh` does the same for a
table whose columns are coloured series with a legend; :func:`rotate_ticks` and
:func:`legend_outside` keep tick labels and legends off the data.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

#: The course's colours, in the order series take them: Okabe & Ito's palette, which stays
#: distinguishable under the common colour-vision deficiencies and in greyscale print.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000")

#: Matplotlib settings :func:`use_style` applies: readable sizes at notebook width, a light grid
#: behind the data, no top/right frame, figures saved trimmed.
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "legend.title_fontsize": 9,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
}


def use_style() -> None:
    """Apply the course's style (:data:`STYLE`, :data:`PALETTE`) to every figure that follows."""
    mpl.rcParams.update(STYLE)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=list(PALETTE))


def colour(i: int) -> str:
    """The ``i``-th course colour (wrapping round the palette)."""
    return PALETTE[i % len(PALETTE)]


def rotate_ticks(ax: plt.Axes, axis: str = "x", rotation: float = 30) -> plt.Axes:
    """Rotate ``ax``'s tick labels on ``axis`` so long names do not overlap; x labels are
    right-aligned to their tick so each still points at its bar."""
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    for label in labels:
        label.set_rotation(rotation)
        if axis == "x" and rotation:
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    return ax


def legend_outside(ax: plt.Axes, title: str | None = None, where: str = "right") -> plt.Axes:
    """Put ``ax``'s legend beside the plot (``where="right"``) or under it (``"below"``), where
    it cannot cover data."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return ax
    if where == "below":
        ax.legend(handles, labels, title=title, loc="upper center", bbox_to_anchor=(0.5, -0.2),
                  ncol=min(len(labels), 3))
    else:
        ax.legend(handles, labels, title=title, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def barh(values: Mapping[str, float], title: str, xlabel: str, ax: plt.Axes | None = None,
         colour: str | Sequence[str] | None = None, fmt: str = ".3f",
         xlim: tuple[float, float] | None = None) -> plt.Axes:
    """Horizontal bars in reading order (the first key on top), each value written at the end of
    its bar; for a handful of figures. ``colour`` is one colour or one per bar."""
    names = [str(n) for n in values]
    numbers = np.array([float(v) for v in values.values()], dtype=float)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1))
    shown = np.nan_to_num(numbers)
    ax.barh(range(len(names)), shown, color=colour or PALETTE[0])
    ax.set_yticks(range(len(names)), names)
    for y, v in enumerate(numbers):
        ax.text(0 if np.isnan(v) else v, y, f" {v:{fmt}}", va="center", fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)  # first row on top
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    top = float(np.nanmax(shown)) if len(shown) else 0.0
    low = min(0.0, float(np.nanmin(shown)) * 1.3) if len(shown) else 0.0
    ax.set_xlim(*(xlim or (low, (top * 1.3) or 1)))
    return ax


def grouped_barh(table, title: str, xlabel: str, ax: plt.Axes | None = None,
                 legend_title: str | None = None, fmt: str = ".3f") -> plt.Axes:
    """One group of horizontal bars per row of ``table`` (a DataFrame), one coloured bar per
    column, rows in reading order (first on top), values at the bar ends, legend beside."""
    rows, cols = list(table.index), list(table.columns)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.32 * len(rows) * len(cols) + 1.2))
    height = 0.8 / max(len(cols), 1)
    for k, col in enumerate(cols):
        ys = np.arange(len(rows)) + (k - (len(cols) - 1) / 2) * height
        vals = table[col].to_numpy(dtype=float)
        ax.barh(ys, np.nan_to_num(vals), height=height, color=colour(k), label=str(col))
        for y, v in zip(ys, vals):
            if not np.isnan(v):
                ax.text(v, y, f" {v:{fmt}}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    top = np.nanmax(table.to_numpy(dtype=float)) if table.size else 1.0
    ax.set_xlim(0, (top * 1.25) or 1)
    ax.set(xlabel=xlabel, title=title)
    return legend_outside(ax, legend_title)


def save(fig: plt.Figure, name: str) -> plt.Figure:
    """Save ``fig`` as ``$DIGR_FIGURES/<name>.png`` when that variable is set; return it."""
    folder = os.environ.get("DIGR_FIGURES")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(folder) / f"{name}.png", dpi=120, bbox_inches="tight")
    return fig


def pipeline_diagram() -> plt.Figure:
    """The DeepInterestGR pipeline on one page: stages, what flows between them, notebooks."""
    stages = [
        ("Items & users\n(shallow text)", "01"),
        ("MLIM\nLLMs mine\ndeep interests", "02"),
        ("RLDI\nreward-label\ninterests", "03"),
        ("IEID\nRQ-VAE\nsemantic IDs", "04"),
        ("SFT\nseq2seq over\nSID tokens", "05"),
        ("GRPO\ninterest-aware\nreward", "06"),
        ("Evaluate\nHR / NDCG", "07"),
    ]
    fig, ax = plt.subplots(figsize=(13, 2.8))
    ax.set_xlim(0, len(stages) * 1.9)
    ax.set_ylim(0, 2.4)
    ax.axis("off")
    colours = plt.cm.viridis(np.linspace(0.15, 0.85, len(stages)))
    for i, ((label, nb), colour) in enumerate(zip(stages, colours)):
        x = i * 1.9 + 0.1
        ax.add_patch(plt.Rectangle((x, 0.5), 1.5, 1.4, color=colour, alpha=0.25, ec=colour, lw=2))
        ax.text(x + 0.75, 1.2, label, ha="center", va="center", fontsize=9)
        ax.text(x + 0.75, 0.25, f"notebook {nb}", ha="center", fontsize=8, color="dimgray")
        if i:
            ax.annotate("", xy=(x, 1.2), xytext=(x - 0.4, 1.2),
                        arrowprops={"arrowstyle": "->", "lw": 1.5})
    ax.text(0.1, 2.2, "Item quality q_i from RLDI feeds the GRPO reward; "
            "interest text feeds the SIDs", fontsize=9, color="dimgray")
    ax.set_title("DeepInterestGR: from shallow text to deep-interest semantic IDs")
    return save(fig, "pipeline")


def image_grid(images: np.ndarray, titles: Sequence[str], ncols: int = 8,
               name: str | None = None) -> plt.Figure:
    """A grid of small item images with a caption under each."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.9 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=7)
    fig.tight_layout()
    return save(fig, name) if name else fig


def scatter_by(coords: np.ndarray, labels: Sequence, ax: plt.Axes, title: str,
               max_legend: int = 0) -> None:
    """Scatter 2-D points coloured by a categorical label (legend only when few labels)."""
    labels = np.asarray(labels)
    names = sorted(set(labels))
    cmap = plt.get_cmap("tab20", len(names))
    for k, name in enumerate(names):
        mask = labels == name
        ax.scatter(coords[mask, 0], coords[mask, 1], s=9, color=cmap(k), label=name, alpha=0.8)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(names) <= max_legend:
        ax.legend(fontsize=6, markerscale=1.5, loc="best")


def bar_table(values: dict[str, float], title: str, xlabel: str, ax: plt.Axes | None = None,
              colour: str = PALETTE[0]) -> plt.Axes:
    """Horizontal bars with their value written at the end (the name earlier notebooks use for
    :func:`barh`)."""
    return barh(values, title, xlabel, ax=ax, colour=colour)


def grader_curves(scores: dict[str, np.ndarray], labels: np.ndarray) -> plt.Figure:
    """ROC and precision-recall curves of several interest graders on the same held-out labels."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    fig, (roc, pr) = plt.subplots(1, 2, figsize=(11, 4))
    for name, proba in scores.items():
        fpr, tpr, _ = roc_curve(labels, proba)
        roc.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.3f})")
        precision, recall, _ = precision_recall_curve(labels, proba)
        pr.plot(recall, precision, label=name)
    roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    pr.axhline(np.mean(labels), color="grey", lw=0.8, ls="--", label="keep everything")
    roc.set(xlabel="false positive rate (bad interests kept)", ylabel="true positive rate (good kept)",
            title="ROC, held-out interests")
    pr.set(xlabel="recall of good interests", ylabel="precision of kept interests",
           title="Precision-recall, held-out interests")
    roc.legend(fontsize=8)
    pr.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reliability(tables: dict[str, "pd.DataFrame"], ax: plt.Axes | None = None) -> plt.Axes:
    """Calibration curves from :func:`digr_utils.labeling.calibration` tables, with the diagonal."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4.5))
    for name, table in tables.items():
        ax.plot(table["predicted"], table["observed"], marker="o", label=name)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    ax.set(xlabel="predicted P(good)", ylabel="observed share of good interests",
           title="Calibration, held-out interests", xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=8)
    return ax


def residual_toy(points: np.ndarray, codes: np.ndarray, centroids: Sequence[np.ndarray]) -> plt.Figure:
    """Two-level residual quantisation of 2-D points: level-1 cells, then the level-2 codebook
    fitted to what is left (the residuals), and every point's reconstruction."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    first = centroids[0][codes[:, 0]]
    residual = points - first
    axes[0].scatter(*points.T, c=codes[:, 0], cmap="tab10", s=12)
    axes[0].scatter(*centroids[0].T, marker="X", s=160, c="black", label="level-1 codebook")
    axes[0].set_title("Level 1: nearest of K centroids")
    axes[1].scatter(*residual.T, c=codes[:, 1], cmap="Set2", s=12)
    axes[1].scatter(*centroids[1].T, marker="X", s=160, c="black", label="level-2 codebook")
    axes[1].set_title("Level 2: quantise the residuals (point − level-1 centroid)")
    recon = first + centroids[1][codes[:, 1]]
    axes[2].scatter(*points.T, s=8, c="lightgrey", label="points")
    axes[2].scatter(*recon.T, s=40, c="tab:red", marker="+", label="code tuple's reconstruction")
    axes[2].set_title(f"{len(np.unique(codes, axis=0))} distinct (level-1, level-2) codes")
    for ax in axes:
        ax.set(xlabel="x₁", ylabel="x₂")
        ax.legend(fontsize=8, loc="center")  # the toy's clusters leave the middle empty
    fig.tight_layout()
    return fig


def codebook_heatmap(codes: np.ndarray, codebook_size: int, title: str,
                     ax: plt.Axes | None = None) -> plt.Axes:
    """Items per code at every level (rows = levels): an even band means every code is used."""
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * codes.shape[1] + 1.2))
    counts = np.stack([np.bincount(codes[:, lvl], minlength=codebook_size)
                       for lvl in range(codes.shape[1])])
    image = ax.imshow(counts, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_yticks(range(codes.shape[1]), [f"level {lvl + 1}" for lvl in range(codes.shape[1])])
    ax.set(xlabel="code", title=title)
    ax.figure.colorbar(image, ax=ax, label="items", fraction=0.03)
    return ax


def beam_search_steps(steps: Sequence["pd.DataFrame"], titles: Sequence[str] | None = None) -> plt.Figure:
    """One panel per decoding step: the surviving prefixes and their summed log-probability
    (from :func:`digr_utils.gen.explain.beam_steps`)."""
    fig, axes = plt.subplots(1, len(steps), figsize=(4.2 * len(steps), 0.45 * max(map(len, steps)) + 1.6))
    for t, (ax, step) in enumerate(zip(np.atleast_1d(axes), steps)):
        labels = list(step["prefix"])
        if titles is not None and "item" in step:
            labels = [f"{p}\n{titles[i][:28]}" for p, i in zip(labels, step["item"])]
        ax.barh(range(len(step)), step["log_prob"], color=PALETTE[0])
        ax.set_yticks(range(len(step)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set(title=f"step {t + 1}: {len(step)} beams kept", xlabel="summed log-probability")
    fig.tight_layout()
    return fig
