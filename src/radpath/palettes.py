"""One palette per label set, shared by every picture that shows it, each with its legend.

Label sets: the Tumour–TIL map (`TUMOR_TIL`), the tissue compartments (`COMPARTMENTS`, TIGER's labels) and
the cell classes (`CELLS`). The viewer's layers and legends, the report's montage, the overlay PNGs that
score-wsi and segment-wsi write and the classifications of the QuPath GeoJSON files all take their colours
and names from here, so a colour means the same thing in every picture.

The Tumour–TIL map is drawn as the paper draws it (Fig. 6D): tumour yellow, TIL-positive patches red on top,
other tissue grey, glass left clear. `tumor_til_labels` turns the probability maps into those classes at the
run's thresholds (a patch is tumour at tumour probability >= the tumour threshold, TIL-positive at lymphocyte
probability >= the lymphocyte threshold), so the picture shows exactly the regions the TIL scores count.
`decode_tumor_til_map` reads the paper's combined RGB map file (R = lymphocyte probability x 255, G = tumour
probability x 255, B = 255 tissue / 0 glass), which stays the data format score-wsi writes and
import-til-maps reads.

No import-time work, numpy only (PIL and matplotlib inside the functions that draw).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    """A label set's colours: `entries` are (key, name, RGB); key 0 of an integer label set is glass /
    background and is drawn clear."""

    name: str
    title: str
    entries: tuple[tuple[int | str, str, RGB], ...]

    def colour(self, key: int | str) -> RGB:
        for k, _, rgb in self.entries:
            if k == key:
                return rgb
        raise KeyError(f"{self.name}: no colour for {key!r}")

    def label_name(self, key: int | str) -> str:
        for k, name, _ in self.entries:
            if k == key:
                return name
        raise KeyError(f"{self.name}: no label {key!r}")

    @property
    def shown(self) -> tuple[tuple[int | str, str, RGB], ...]:
        """The entries a legend lists (all but the clear background 0)."""
        return tuple(e for e in self.entries if e[0] != 0)

    def legend(self) -> list[tuple[str, str]]:
        """(name, CSS colour) of every shown entry, for HTML legends."""
        return [(name, css(rgb)) for _, name, rgb in self.shown]

    def lut(self, alpha: int = 255) -> np.ndarray:
        """(256, 4) RGBA look-up table of an integer label set; unlisted values and 0 are clear."""
        table = np.zeros((256, 4), np.uint8)
        for key, _, rgb in self.shown:
            if isinstance(key, int):
                table[key] = (*rgb, alpha)
        return table


def css(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


TUMOR_TIL = Palette("tumor_til", "Tumour–TIL map", (
    (0, "glass", (255, 255, 255)),
    (1, "other tissue", (150, 150, 150)),
    (2, "tumour", (255, 210, 0)),
    (3, "TIL-positive", (220, 30, 30)),
))

COMPARTMENTS = Palette("compartments", "Tissue compartments", (
    (0, "glass / unannotated", (0, 0, 0)),
    (1, "invasive tumour", (228, 26, 28)),
    (2, "tumour-associated stroma", (255, 127, 0)),
    (3, "in-situ tumour", (152, 78, 163)),
    (4, "healthy glands", (77, 175, 74)),
    (5, "necrosis", (60, 60, 60)),
    (6, "inflamed stroma", (55, 126, 184)),
    (7, "rest", (166, 206, 227)),
))

CELLS = Palette("cells", "Detected cells", (
    ("ki67_positive", "Ki-67 positive", (139, 69, 19)),
    ("ki67_negative", "Ki-67 negative", (31, 119, 180)),
    ("lymphocyte", "lymphocyte", (214, 39, 40)),
    ("plasma_cell", "plasma cell", (148, 103, 189)),
    ("other", "other", (127, 127, 127)),
))

PALETTES: dict[str, Palette] = {p.name: p for p in (TUMOR_TIL, COMPARTMENTS, CELLS)}


def tumor_til_labels(tumour: np.ndarray, lymph: np.ndarray, tissue: np.ndarray, *,
                     tumour_threshold: float = 0.5, lymphocyte_threshold: float = 0.5) -> np.ndarray:
    """TUMOR_TIL classes (uint8) of maps on one grid: 0 glass, 1 other tissue, 2 tumour, 3 TIL-positive."""
    tissue = np.asarray(tissue, bool)
    labels = np.where(tissue, 1, 0).astype(np.uint8)
    labels[tissue & (np.nan_to_num(tumour, nan=0.0) >= tumour_threshold)] = 2
    labels[tissue & (np.nan_to_num(lymph, nan=0.0) >= lymphocyte_threshold)] = 3
    return labels


def decode_tumor_til_map(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tumour, lymphocyte, tissue) of the paper's combined map; probabilities NaN on glass (B < 128)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise ValueError(f"a Tumour-TIL map is an RGB image, got an array of shape {rgb.shape}")
    tissue = rgb[..., 2] >= 128
    tumour = np.where(tissue, rgb[..., 1] / 255.0, np.nan).astype(np.float32)
    lymph = np.where(tissue, rgb[..., 0] / 255.0, np.nan).astype(np.float32)
    return tumour, lymph, tissue


def map_labels(rgb: np.ndarray, tumour_threshold: float = 0.5, lymphocyte_threshold: float = 0.5) -> np.ndarray:
    """TUMOR_TIL classes of a combined map image (`decode_tumor_til_map`, then `tumor_til_labels`)."""
    tumour, lymph, tissue = decode_tumor_til_map(rgb)
    return tumor_til_labels(tumour, lymph, tissue, tumour_threshold=tumour_threshold,
                            lymphocyte_threshold=lymphocyte_threshold)


def colourise(labels: np.ndarray, palette: Palette, alpha: int = 255) -> np.ndarray:
    """RGBA image of an integer label array (background clear)."""
    return palette.lut(alpha)[np.asarray(labels).astype(np.uint8)]


def blend(thumb: np.ndarray, labels: np.ndarray, palette: Palette, alpha: float = 0.45) -> np.ndarray:
    """The thumbnail with every non-background label tinted in its colour (labels resampled, nearest, to the
    thumbnail's size)."""
    h, w = thumb.shape[:2]
    labels = np.asarray(labels)
    ry = np.minimum(((np.arange(h) + 0.5) / h * labels.shape[0]).astype(int), labels.shape[0] - 1)
    rx = np.minimum(((np.arange(w) + 0.5) / w * labels.shape[1]).astype(int), labels.shape[1] - 1)
    small = labels[ry][:, rx]
    lut = palette.lut()
    tint = lut[small.astype(np.uint8)]
    out = thumb[..., :3].astype(np.float32)
    on = tint[..., 3] > 0
    out[on] = (1 - alpha) * out[on] + alpha * tint[on][:, :3].astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def with_legend(rgb: np.ndarray, palette: Palette, title: str | None = None) -> np.ndarray:
    """`rgb` with the palette's legend (a swatch and name per shown entry) in a white band below it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default()
    entries = palette.shown
    line = 14
    lines = [title or palette.title] + [name for _, name, _ in entries]
    band = line * len(lines) + 8
    h, w = rgb.shape[:2]
    width = max(w, 220)
    image = Image.new("RGB", (width, h + band), (255, 255, 255))
    image.paste(Image.fromarray(np.ascontiguousarray(rgb[..., :3])), (0, 0))
    draw = ImageDraw.Draw(image)
    y = h + 4
    draw.text((4, y), lines[0], fill=(0, 0, 0), font=font)
    for _, name, colour in entries:
        y += line
        draw.rectangle((6, y + 2, 16, y + 11), fill=colour, outline=(80, 80, 80))
        draw.text((22, y), name, fill=(0, 0, 0), font=font)
    return np.asarray(image)


def legend_handles(palette: Palette, alpha: float = 1.0) -> list[Any]:
    """matplotlib legend handles (one Patch per shown entry) for figures."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=css(rgb), edgecolor="grey", alpha=alpha, label=name) for _, name, rgb in palette.shown]
