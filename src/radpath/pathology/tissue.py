"""Tissue detection on a thumbnail, the patch grid's geometry, and mask metrics.

Two measures of "not glass", chosen per slide (`find_tissue`, stain "auto") or by the caller:

* saturation (H&E): glass is bright and unsaturated, eosin- and haematoxylin-stained tissue is saturated.
  The threshold is Otsu's on the thumbnail's (lightly smoothed) HSV saturation, clamped to
  [MIN_SATURATION, MAX_SATURATION]: never below the floor, so a glass-only slide (whose saturation is all
  noise) has no tissue instead of half its noise called tissue; never above the ceiling, so a section with
  little glass is not split into "dark nuclei" versus "stroma" (Otsu's two classes) with the stroma called
  glass.
* optical density (IHC): a haematoxylin counterstain (Ki-67, CD3 slides) leaves the tissue between the
  stained nuclei pale grey-blue with a saturation below the H&E floor, so the saturation mask keeps only the
  nuclei. Tissue still absorbs light: OD = sum over R, G, B of -log10(I / I_glass) (clipped at 0), with
  I_glass the colour of the thumbnail's glass (the most common luminance among its brighter half: the
  brightest mode), lightly smoothed, cut at Otsu's threshold clamped to [MIN_OD, MAX_OD] (the same two
  guards as above). The mask is this OD mask united with the saturation mask.

"auto" takes the OD mask when the saturation mask covers less than SATURATED_SHARE of the OD mask's tissue
(pale tissue the saturation floor calls glass); on H&E the two masks cover the same tissue and the
saturation mask, exactly as before, is kept. Which one was used is returned (`TissueMask.method`) for the
caller to record. A thumbnail without glass gives no glass colour to measure against: there the OD mask
is empty and "auto" keeps the saturation mask.

Mask metrics shared by segmentation training, `evaluate-seg` and the tests: `dice_iou` (per-label Dice
and IoU of two label arrays, labels or label groups) and `stromal_til_score` (TIGER's stromal TIL
score from TIL centres and a stroma mask).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_SATURATION = 0.08   # saturation (0-1) below which a pixel is glass whatever Otsu says
MAX_SATURATION = 0.15   # saturation above which a pixel is tissue whatever Otsu says (eosin stroma ~0.3)
MIN_OD = 0.025          # summed optical density (R + G + B) below which a pixel is glass whatever Otsu says
MAX_OD = 0.05           # summed OD above which a pixel is tissue (pale counterstained tissue ~0.08, eosin ~0.3)
SATURATED_SHARE = 0.5   # "auto": OD mask when the saturation mask covers less than this share of its tissue
STAINS = ("auto", "he", "ihc")


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the cut maximising the between-class variance."""
    values = np.asarray(values, float).ravel()
    if values.size == 0:
        return 1.0
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * w1)
    between = np.nan_to_num(between[:-1], nan=0.0)
    return float(edges[int(np.argmax(between)) + 1])


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation in [0, 1] of an RGB uint8 image: (max - min) / max."""
    rgb = rgb.astype(np.float32)
    high = rgb.max(axis=-1)
    low = rgb.min(axis=-1)
    return np.where(high > 0, (high - low) / np.maximum(high, 1.0), 0.0).astype(np.float32)


def saturation_mask(rgb: np.ndarray, min_saturation: float = MIN_SATURATION) -> np.ndarray:
    """Boolean tissue mask of a thumbnail by saturation (the H&E rule; see the module docstring)."""
    from scipy.ndimage import gaussian_filter

    sat = gaussian_filter(saturation(rgb), 1.5)
    cut = min(max(otsu_threshold(sat), min_saturation), max(MAX_SATURATION, min_saturation))
    return np.asarray(sat > cut)


def glass_colour(rgb: np.ndarray) -> np.ndarray | None:
    """Mean RGB of the thumbnail's glass: pixels within 3 levels of the most common luminance among the
    brighter half of the image (the brightest mode). None when that mode is darker than 200 (no glass)."""
    pixels = np.asarray(rgb, np.float32).reshape(-1, 3)
    if len(pixels) == 0:
        return None
    lum = pixels.mean(1)
    bright = lum[lum >= np.median(lum)]
    hist = np.bincount(np.clip(np.round(bright), 0, 255).astype(np.int64), minlength=256).astype(float)
    hist = np.convolve(hist, np.ones(5) / 5, mode="same")          # a mode robust to single-level noise
    mode = float(np.argmax(hist))
    if mode < 200:
        return None
    return np.asarray(pixels[np.abs(lum - mode) <= 3].mean(0), np.float64)


def optical_density(rgb: np.ndarray, glass: np.ndarray) -> np.ndarray:
    """Summed optical density sum_c -log10(I_c / glass_c) per pixel, clipped at 0 (brighter than glass)."""
    intensity = np.maximum(np.asarray(rgb, np.float32), 1.0)
    od = -np.log10(intensity / np.asarray(glass, np.float32).reshape(1, 1, 3))
    return np.asarray(np.clip(od, 0.0, None).sum(-1), np.float32)


def od_mask(rgb: np.ndarray, glass: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Boolean tissue mask of a thumbnail by optical density against its glass, and the OD cut used
    (NaN and an empty mask when the thumbnail has no glass to measure against)."""
    from scipy.ndimage import gaussian_filter

    glass = glass_colour(rgb) if glass is None else glass
    if glass is None:
        return np.zeros(np.asarray(rgb).shape[:2], bool), float("nan")
    od = gaussian_filter(optical_density(rgb, glass), 1.5)
    cut = min(max(otsu_threshold(np.clip(od, 0.0, 1.0)), MIN_OD), MAX_OD)
    return np.asarray(od > cut), float(cut)


@dataclass(frozen=True)
class TissueMask:
    """A thumbnail's tissue mask and how it was found: `method` "saturation" or "optical_density";
    `saturated_share` the fraction of the OD mask's tissue inside the saturation mask (NaN without glass)."""

    mask: np.ndarray
    method: str
    saturated_share: float
    od_cut: float


def find_tissue(rgb: np.ndarray, stain: str = "auto", min_saturation: float = MIN_SATURATION) -> TissueMask:
    """Tissue mask of a thumbnail: "he" saturation, "ihc" optical density (united with saturation), "auto"
    the OD mask when the saturation mask misses most of the OD mask's tissue (see the module docstring)."""
    if stain not in STAINS:
        raise ValueError(f"stain must be one of {STAINS}, got {stain!r}")
    sat = saturation_mask(rgb, min_saturation)
    if stain == "he":
        return TissueMask(sat, "saturation", float("nan"), float("nan"))
    od, cut = od_mask(rgb)
    n_od = int(od.sum())
    share = float((od & sat).sum() / n_od) if n_od else float("nan")
    if stain == "ihc" or (n_od and share < SATURATED_SHARE):
        return TissueMask(od | sat, "optical_density", share, cut)
    return TissueMask(sat, "saturation", share, cut)


def tissue_mask(rgb: np.ndarray, min_saturation: float = MIN_SATURATION, stain: str = "auto") -> np.ndarray:
    """Boolean tissue mask of a thumbnail (`find_tissue(...).mask`)."""
    return find_tissue(rgb, stain, min_saturation).mask


GRIDS = ("radpath", "wsinfer")


@dataclass(frozen=True)
class PatchGrid:
    """Non-overlapping square patches of side `patch0` level-0 pixels laid from the slide's top-left corner.

    Patch (i, j) (row i, column j) has its level-0 top-left corner at (x, y) = (j * patch0, i * patch0),
    read at the integer corner (round(x), round(y)) with side round(patch0); at a level of downsample d it
    is at (x / d, y / d) with side patch0 / d. Which patches the grid holds and which of them are scored
    depend on `rule` (see `patch_grid`):

    - "radpath": whole patches only (rows = floor(height0 / patch0)); a patch is scored when at least
      `min_tissue` of its area is tissue on the thumbnail's mask.
    - "wsinfer": WSInfer 0.6.1's grid: `patch0` is an integer and a patch is kept while its centre
      (x + half, y + half), half = round(patch0 / 2), lies inside the slide, so the last row and column may
      run past the slide's edge (read as glass); a patch is scored when its centre lies in tissue.
    """

    width0: int
    height0: int
    patch0: float
    rule: str = "radpath"

    def __post_init__(self) -> None:
        if self.rule not in GRIDS:
            raise ValueError(f"grid must be one of {GRIDS}, got {self.rule!r}")
        if not self.patch0 > 0:
            raise ValueError(f"patch side must be positive, got {self.patch0}")

    @property
    def half(self) -> int:
        """WSInfer's half patch: the offset of a patch's centre from its corner (level-0 px)."""
        return int(round(self.patch0 / 2))

    @property
    def shape(self) -> tuple[int, int]:
        if self.rule == "wsinfer":   # centres half, half + patch0, ... while inside the slide
            return tuple(max(0, math.ceil((n - self.half) / self.patch0))   # type: ignore[return-value]
                         for n in (self.height0, self.width0))
        return int(self.height0 // self.patch0), int(self.width0 // self.patch0)

    def origin(self, i: int, j: int, downsample: float = 1.0) -> tuple[float, float]:
        """(x, y) of patch (i, j)'s top-left corner in the coordinates of a level of `downsample`."""
        return j * self.patch0 / downsample, i * self.patch0 / downsample

    def origin0(self, i: int, j: int) -> tuple[int, int]:
        """Integer level-0 (x, y) of patch (i, j), as openslide's read_region wants it."""
        x, y = self.origin(i, j)
        return int(round(x)), int(round(y))

    def origins0(self, coords: np.ndarray) -> np.ndarray:
        """Integer level-0 (x, y) top-left corners of the patches at `coords` ((N, 2) rows i, columns j)."""
        coords = np.asarray(coords).reshape(-1, 2)
        x = np.rint(coords[:, 1] * self.patch0).astype(np.int64)
        y = np.rint(coords[:, 0] * self.patch0).astype(np.int64)
        return np.stack([x, y], axis=1)

    def select(self, mask: np.ndarray, min_tissue: float = 0.5) -> np.ndarray:
        """The patches scored on a thumbnail tissue `mask` (rows x cols bool), by the grid's rule."""
        if self.rule == "wsinfer":
            return self.tissue_at_centres(mask)
        return np.asarray(self.tissue_fraction(mask) >= min_tissue)

    def tissue_at_centres(self, mask: np.ndarray) -> np.ndarray:
        """Whether each patch's centre (corner + half) falls on tissue of a thumbnail-resolution `mask`."""
        rows, cols = self.shape
        h, w = mask.shape
        cy = np.floor((np.arange(rows) * self.patch0 + self.half) * h / self.height0).astype(int).clip(0, h - 1)
        cx = np.floor((np.arange(cols) * self.patch0 + self.half) * w / self.width0).astype(int).clip(0, w - 1)
        return np.asarray(mask[np.ix_(cy, cx)], bool)

    def tissue_fraction(self, mask: np.ndarray) -> np.ndarray:
        """Fraction of each patch covered by a thumbnail-resolution tissue `mask` (rows x cols); a patch
        running past the slide's edge counts its part inside the slide."""
        rows, cols = self.shape
        if rows == 0 or cols == 0:
            return np.zeros((rows, cols))
        h, w = mask.shape
        sy, sx = h / self.height0, w / self.width0
        integral = np.zeros((h + 1, w + 1))
        integral[1:, 1:] = np.cumsum(np.cumsum(mask.astype(float), 0), 1)
        y0 = np.floor(np.arange(rows) * self.patch0 * sy).astype(int)
        y1 = np.maximum(np.floor(np.arange(1, rows + 1) * self.patch0 * sy).astype(int), y0 + 1).clip(max=h)
        x0 = np.floor(np.arange(cols) * self.patch0 * sx).astype(int)
        x1 = np.maximum(np.floor(np.arange(1, cols + 1) * self.patch0 * sx).astype(int), x0 + 1).clip(max=w)
        y0, x0 = y0.clip(max=h - 1), x0.clip(max=w - 1)
        total = (
            integral[y1][:, x1] - integral[y0][:, x1] - integral[y1][:, x0] + integral[y0][:, x0]
        )
        area = np.outer(y1 - y0, x1 - x0)
        return np.asarray(total / np.maximum(area, 1))

    def describe(self, mpp: float) -> dict[str, object]:
        """What reproduces the grid: rule, patch side (level-0 px and microns), rows, columns, origin."""
        return {"rule": self.rule, "patch0": self.patch0, "patch_um": self.patch0 * mpp, "rows": self.shape[0],
                "cols": self.shape[1], "origin0": [0, 0], "half0": self.half if self.rule == "wsinfer" else None}


def patch_side0(model_patch_px: int, model_mpp: float, slide_mpp: float) -> float:
    """Level-0 pixels of a slide covering the same physical width as a model's patch."""
    return model_patch_px * model_mpp / slide_mpp


def patch_grid(width0: int, height0: int, model_patch_px: int, model_mpp: float, slide_mpp: float,
               rule: str = "radpath") -> PatchGrid:
    """The grid of a model's patches over a slide: side `model_patch_px * model_mpp / slide_mpp` level-0 px,
    kept fractional by "radpath" (the patch covers the model's physical size exactly) and rounded to an
    integer by "wsinfer" (Python's round, half to even, of the same product, as WSInfer 0.6.1 computes it)."""
    if rule not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {rule!r}")
    side = patch_side0(model_patch_px, model_mpp, slide_mpp)
    if rule == "wsinfer":
        side = float(round(side))
    return PatchGrid(width0, height0, side, rule)


def dice_iou(
    pred: np.ndarray, truth: np.ndarray, labels: Sequence[int | Sequence[int]]
) -> dict[int | tuple[int, ...], dict[str, float]]:
    """Per-label Dice and IoU of two label arrays of the same shape.

    A label may be one value or a group of values counted as one class (TIGER's stroma = (2, 6)).
    Dice = 2 |P n T| / (|P| + |T|), IoU = |P n T| / |P u T|; both are NaN for a label absent from both.
    """
    pred = np.asarray(pred)
    truth = np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    out: dict[int | tuple[int, ...], dict[str, float]] = {}
    for label in labels:
        key: int | tuple[int, ...] = (
            tuple(int(v) for v in label) if isinstance(label, Sequence) else int(label)
        )
        values = [key] if isinstance(key, int) else list(key)
        p = np.isin(pred, values)
        t = np.isin(truth, values)
        inter = float(np.count_nonzero(p & t))
        size = float(np.count_nonzero(p) + np.count_nonzero(t))
        union = size - inter
        out[key] = {"dice": 2 * inter / size if size else float("nan"),
                    "iou": inter / union if union else float("nan")}
    return out


def stromal_til_score(
    cells_xy_um: np.ndarray, stroma_mask: np.ndarray, mask_mpp: float, cell_area_um2: float = 64.0
) -> float:
    """TIGER's stromal TIL score in %: 100 x (TILs inside stroma x area of one TIL) / stroma area, capped at 100.

    `cells_xy_um` are (N, 2) TIL centres (x, y) in microns from the slide's level-0 origin; `stroma_mask`
    is a boolean mask whose pixel (row r, column c) covers [c, c+1) x [r, r+1) times `mask_mpp` microns.
    NaN when the mask has no stroma.
    """
    stroma = np.asarray(stroma_mask, bool)
    area = float(stroma.sum()) * mask_mpp * mask_mpp
    if area == 0:
        return float("nan")
    xy = np.asarray(cells_xy_um, np.float64).reshape(-1, 2)
    col = np.floor(xy[:, 0] / mask_mpp).astype(np.int64)
    row = np.floor(xy[:, 1] / mask_mpp).astype(np.int64)
    inside = (row >= 0) & (row < stroma.shape[0]) & (col >= 0) & (col < stroma.shape[1])
    n = int(stroma[row[inside], col[inside]].sum())
    return float(min(100.0, 100.0 * n * cell_area_um2 / area))
