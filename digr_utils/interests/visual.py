"""Visual cues: what an item's picture shows (colours, tone, pattern, silhouette), in words.

Plain image analysis, no model download: the object is separated from its light background,
its pixels are clustered into two colours (k-means in CIE Lab, where distance follows what the
eye sees) and each colour gets the nearest word of a small fixed palette. The phrase feeds the
mining prompts and the interest embedding, so an item's look can count beside its text.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

#: Colour words and a typical sRGB value for each; a pixel cluster takes the nearest in Lab.
COLOUR_WORDS: dict[str, tuple[int, int, int]] = {
    "red": (210, 35, 35), "burnt orange": (205, 90, 30), "mustard yellow": (215, 170, 30),
    "yellow": (250, 225, 20), "cream": (240, 230, 205), "tan": (200, 160, 110),
    "brown": (115, 75, 40), "olive": (115, 125, 70), "sage green": (150, 185, 150),
    "green": (70, 160, 70), "forest green": (40, 95, 50), "neon green": (20, 220, 120),
    "teal": (20, 130, 130), "sky blue": (140, 195, 235), "royal blue": (55, 100, 225),
    "navy": (30, 45, 105), "slate blue": (95, 110, 135), "lavender": (175, 160, 215),
    "purple": (115, 55, 155), "blush pink": (245, 205, 215), "rose pink": (225, 115, 150),
    "white": (250, 250, 250), "light grey": (190, 190, 190), "grey": (128, 128, 128),
    "charcoal": (55, 55, 60), "black": (15, 15, 15),
}

_BG_MIN_DISTANCE = 20.0  # RGB distance from the background colour; pixel noise stays below ~16
_MIN_FOREGROUND = 8  # pixels; fewer means there is no object worth describing
_SECOND_MIN_SHARE = 0.08  # a second colour covering less than this is noise or an edge
_SECOND_MIN_DELTA = 12.0  # Lab distance under which two clusters are one colour


@dataclass(frozen=True)
class Cues:
    """The parsed parts of one image's description (``phrase`` joins them)."""

    main_colour: str
    second_colour: str | None
    tone: str
    pattern: str
    shape: str
    coverage: float
    aspect: float
    phrase: str


def visual_cues(image: np.ndarray) -> str:
    """A short description of one ``(h, w, 3)`` uint8 image, e.g. "navy and lavender, dark, ...".

    Deterministic: the same pixels always give the same words.
    """
    return _analyse(image).phrase


def visual_cues_all(images: np.ndarray) -> list[str]:
    """:func:`visual_cues` of every image in an ``(n, h, w, 3)`` stack."""
    return [_analyse(img).phrase for img in _check_stack(images)]


def cue_table(images: np.ndarray) -> pd.DataFrame:
    """One row per image with the parsed cues (colours, tone, pattern, shape, coverage, aspect)."""
    return pd.DataFrame([asdict(_analyse(img)) for img in _check_stack(images)])


def _check_stack(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"visual cues: images must be (n, h, w, 3) uint8, got shape {images.shape}; "
                         "pass shop.images, or one image to visual_cues")
    return images


def _analyse(image: np.ndarray) -> Cues:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3 or min(img.shape[:2]) < 3:
        raise ValueError(f"visual_cues: image must be (h, w, 3) with h, w >= 3, got shape "
                         f"{img.shape}; pass one image of the stack, e.g. shop.images[0]")
    rgb = img.astype(np.float64)
    mask = _foreground(rgb)
    if mask.sum() < _MIN_FOREGROUND:
        return Cues("none", None, "plain", "no clear object", "none", 0.0, 0.0, "no clear object")
    lab = _to_lab(rgb[mask])
    labels, centres = _two_means(lab)
    counts = np.bincount(labels, minlength=2)
    order = np.argsort(-counts, kind="stable")
    main, other = centres[order[0]], centres[order[1]]
    two_colours = (counts[order[1]] / counts.sum() >= _SECOND_MIN_SHARE
                   and np.linalg.norm(main - other) >= _SECOND_MIN_DELTA)
    main_word = _colour_word(main)
    second_word = _colour_word(other) if two_colours else None
    if second_word == main_word:
        second_word = None
    minority = np.zeros(mask.shape, dtype=bool)
    minority[mask] = labels == order[1]
    pattern = _pattern(mask, minority) if two_colours else "solid"
    shape, coverage, aspect = _silhouette(mask)
    colours = f"{main_word} and {second_word}" if second_word else main_word
    tone = _tone(main)
    phrase = f"{colours}, {tone}, {pattern}, {shape}"
    return Cues(main_word, second_word, tone, pattern, shape, coverage, aspect, phrase)


def _foreground(rgb: np.ndarray) -> np.ndarray:
    """Pixels far from the border's median colour, cleaned by a 3x3 majority vote."""
    border = np.concatenate([rgb[0], rgb[-1], rgb[1:-1, 0], rgb[1:-1, -1]])
    raw = np.linalg.norm(rgb - np.median(border, axis=0), axis=-1) > _BG_MIN_DISTANCE
    padded = np.pad(raw, 1).astype(int)
    h, w = raw.shape
    votes = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    # a majority of the 3x3 window removes lone noisy pixels without eroding 2-pixel-wide parts
    return votes >= 5


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-255) rows to CIE Lab (D65)."""
    c = rgb / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192],
                        [0.1805, 0.0722, 0.9505]])
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])],
                    axis=1)


_WORDS = list(COLOUR_WORDS)
_WORD_LAB = _to_lab(np.array(list(COLOUR_WORDS.values()), dtype=np.float64))


def _colour_word(lab: np.ndarray) -> str:
    return _WORDS[int(np.argmin(np.linalg.norm(_WORD_LAB - lab, axis=1)))]


def _two_means(x: np.ndarray, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """2-means with a deterministic farthest-point start (no random seed to carry around)."""
    a = x[np.argmax(np.linalg.norm(x - x.mean(axis=0), axis=1))]
    b = x[np.argmax(np.linalg.norm(x - a, axis=1))]
    centres = np.stack([a, b])
    labels = np.zeros(len(x), dtype=int)
    for _ in range(iters):
        labels = np.argmin(np.linalg.norm(x[:, None] - centres[None], axis=2), axis=1)
        new = np.stack([x[labels == k].mean(axis=0) if (labels == k).any() else centres[k]
                        for k in range(2)])
        if np.allclose(new, centres):
            break
        centres = new
    return labels, centres


def _tone(lab: np.ndarray) -> str:
    lightness, chroma = lab[0], float(np.hypot(lab[1], lab[2]))
    if lightness < 35:
        return "dark"
    if lightness > 80 and chroma < 30:
        return "pastel" if chroma > 6 else "pale"
    if chroma > 55:
        return "bright"
    if chroma < 25:
        return "muted"
    return "mid-tone"


def _pattern(mask: np.ndarray, minority: np.ndarray) -> str:
    """'two-tone stripes' when the second colour fills whole rows (or columns) in >= 2 bands."""
    for axis in (1, 0):  # rows first: horizontal stripes
        if _banded(mask, minority, axis):
            return "two-tone stripes"
    return "two-tone"


def _banded(mask: np.ndarray, minority: np.ndarray, axis: int) -> bool:
    size = mask.sum(axis=axis)
    lines = size >= 2
    if lines.sum() < 4:
        return False
    share = minority.sum(axis=axis)[lines] / size[lines]
    pure = np.maximum(share, 1 - share).mean() >= 0.85
    band = (share > 0.5).astype(int)
    n_bands = int(band[0] + np.sum(np.diff(band) == 1))
    return bool(pure and n_bands >= 2)


def _silhouette(mask: np.ndarray) -> tuple[str, float, float]:
    """A shape word from the bounding box: aspect (height/width), fill, hollowness, taper."""
    ys, xs = np.nonzero(mask)
    height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    box = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    aspect, fill = height / width, float(box.mean())
    coverage = float(mask.mean())
    cy, cx = height // 2, width // 2
    hollow = height >= 5 and width >= 5 and box[cy - 1:cy + 2, cx - 1:cx + 2].mean() < 0.2
    third = max(height // 3, 1)
    top, bottom = box[:third].sum(axis=1).mean(), box[-third:].sum(axis=1).mean()
    if hollow and fill < 0.75:
        shape = "ring shape"
    elif aspect >= 2.2:
        shape = "tall and narrow"
    elif aspect <= 0.45:
        shape = "wide and flat"
    elif fill >= 0.9:
        shape = ("square" if 0.85 <= aspect <= 1.18
                 else "tall rectangle" if aspect > 1.18 else "wide rectangle")
    elif fill >= 0.7 and 0.85 <= aspect <= 1.18:
        shape = "round shape"
    elif fill < 0.7 and bottom > 1.6 * top:
        shape = "tapering to the top"
    elif fill < 0.7 and top > 1.6 * bottom:
        shape = "top-heavy on a thin base"
    else:
        shape = "tall shape" if aspect > 1.18 else "wide shape" if aspect < 0.85 else "compact shape"
    return shape, round(coverage, 3), round(float(aspect), 3)
