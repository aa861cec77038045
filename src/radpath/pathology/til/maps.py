"""Probability maps: the paper's window aggregation, the combined Tumour-TIL RGB map, files.

A map is a float32 array of one value per grid patch (rows x cols, row i = slide y), NaN where the
patch is glass. Files written per slide (folder `<out>/<cohort>/<case>/`):
`tumor.npy` (tumour probabilities on the tumour model's grid), `tumor_agg.npy` (after aggregation),
`lymphocyte.npy` (on the lymphocyte model's grid), `tissue.npy` (bool, lymphocyte grid),
`tumor_til.png` (the combined RGB map on the lymphocyte grid: R = lymphocyte probability x 255,
G = tumour probability x 255, B = 255 tissue / 0 glass), `overlay.png` (the map's classes over the
thumbnail in the shared palette, radpath.palettes.TUMOR_TIL: tumour yellow, TIL-positive red, other tissue
grey, at the run's thresholds; its legend below) and `grid.json` (each grid's patch side in level-0 pixels
and microns, rows, cols, slide mpp).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

AGGREGATIONS = ("max", "average", "median")
OVERLAY_PX = 512    # longer side of the overlay PNG


def aggregate(prob: np.ndarray, window: int = 4, how: str = "max") -> np.ndarray:
    """A(i, j) = f(H over the w x w block holding (i, j)): blocks start at multiples of w, every
    patch of a block gets the block's value (the paper's aggregation, Max with w = 4 by default).
    Glass (NaN) is ignored inside a block and stays NaN."""
    if how not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {how!r}")
    if window <= 1:
        return prob.astype(np.float32).copy()
    rows, cols = prob.shape
    pr, pc = -rows % window, -cols % window
    padded = np.pad(prob.astype(np.float64), ((0, pr), (0, pc)), constant_values=np.nan)
    import warnings

    by, bx = padded.shape[0] // window, padded.shape[1] // window
    blocks = padded.reshape(by, window, bx, window).transpose(0, 2, 1, 3).reshape(by, bx, window * window)
    with warnings.catch_warnings():  # all-glass blocks give NaN, as they should
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "max":
            values = np.nanmax(blocks, axis=2)
        elif how == "average":
            values = np.nanmean(blocks, axis=2)
        else:
            values = np.nanmedian(blocks, axis=2)
    full = np.repeat(np.repeat(values, window, 0), window, 1)[:rows, :cols]
    return np.where(np.isnan(prob), np.nan, full).astype(np.float32)


def resample(prob: np.ndarray, src_patch0: float, dst_shape: tuple[int, int], dst_patch0: float) -> np.ndarray:
    """Nearest-patch resampling of a map between grids: each destination patch takes the value of the
    source patch under its centre (NaN when the centre falls outside the source grid)."""
    rows, cols = dst_shape
    cy = ((np.arange(rows) + 0.5) * dst_patch0 / src_patch0).astype(int)
    cx = ((np.arange(cols) + 0.5) * dst_patch0 / src_patch0).astype(int)
    out = np.full(dst_shape, np.nan, np.float32)
    ok_y, ok_x = cy < prob.shape[0], cx < prob.shape[1]
    out[np.ix_(ok_y, ok_x)] = prob[np.ix_(cy[ok_y], cx[ok_x])]
    return out


def encode_rgb(tumour: np.ndarray, lymph: np.ndarray, tissue: np.ndarray) -> np.ndarray:
    """The combined Tumour-TIL map (uint8 rows x cols x 3)."""
    rgb = np.zeros((*tissue.shape, 3), np.uint8)
    rgb[..., 0] = np.where(tissue, np.round(np.nan_to_num(lymph) * 255), 0).clip(0, 255)
    rgb[..., 1] = np.where(tissue, np.round(np.nan_to_num(tumour) * 255), 0).clip(0, 255)
    rgb[..., 2] = np.where(tissue, 255, 0)
    return rgb


def decode_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tumour, lymphocyte, tissue) from a combined map; probabilities NaN on glass (B < 128)."""
    from radpath.palettes import decode_tumor_til_map

    return decode_tumor_til_map(rgb)


def overlay(thumb: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The map's classes (radpath.palettes.tumor_til_labels) tinted over a thumbnail in the shared palette
    (glass untinted); the map is stretched to the thumbnail."""
    from radpath.palettes import TUMOR_TIL, blend

    return blend(thumb, labels, TUMOR_TIL, alpha)


def save_maps(folder: Path, arrays: dict[str, np.ndarray], rgb: np.ndarray, over: np.ndarray,
              geometry: dict[str, Any]) -> dict[str, str]:
    """Write the slide's maps; returns {name: path}."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
        paths[name] = str(folder / f"{name}.npy")
    Image.fromarray(rgb).save(folder / "tumor_til.png")
    from radpath.palettes import TUMOR_TIL, with_legend

    preview = Image.fromarray(over)
    preview.thumbnail((OVERLAY_PX, OVERLAY_PX))
    Image.fromarray(with_legend(np.asarray(preview), TUMOR_TIL)).save(folder / "overlay.png", compress_level=3)
    (folder / "grid.json").write_text(json.dumps(geometry, indent=2), encoding="utf-8")
    paths.update(rgb=str(folder / "tumor_til.png"), overlay=str(folder / "overlay.png"),
                 grid=str(folder / "grid.json"))
    return paths
