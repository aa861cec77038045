"""Whole-slide segmentation: overlapping tiles, centre stitching, glass skipped.

The slide's label mask lives on a grid of the model's microns per pixel (`mask_mpp`): mask pixel
(r, c) covers level-0 pixels [c s, (c+1) s) x [r s, (r+1) s) with s = mask_mpp / slide mpp. The
mask is cut into cores of `tile_px - 2 margin` pixels; the network sees each core with `margin`
pixels of context on every side (read from the slide through the shared tiling loop,
`radpath.pathology.tiling.read_batches` / `run_batches`: tiles read ahead on background threads
while the model runs) and only the core of its output is kept. A network whose receptive field
reaches at most `margin` pixels therefore gives the same mask as if it had seen the whole slide at
once: no seams at tile borders. Beyond the slide edge tiles read as glass.

Glass is skipped: a core is segmented only where the thumbnail's tissue mask (dilated by the margin)
touches it; skipped cores are label 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radpath.pathology.segmentation.labels import label_set
from radpath.pathology.slides import SlideInfo
from radpath.pathology.tiling import read_batches, run_batches


@dataclass(frozen=True)
class TileLayout:
    """Where the tiles of a slide's mask lie (all in mask pixels unless named level-0)."""

    mask_shape: tuple[int, int]   # rows, columns of the mask
    scale: float                  # level-0 pixels per mask pixel
    tile: int
    margin: int

    @property
    def core(self) -> int:
        return self.tile - 2 * self.margin

    @property
    def grid(self) -> tuple[int, int]:
        return math.ceil(self.mask_shape[0] / self.core), math.ceil(self.mask_shape[1] / self.core)

    def origins0(self, cores: np.ndarray) -> np.ndarray:
        """Level-0 (x, y) of the tiles (core plus margin) of cores at (row i, column j)."""
        y = (cores[:, 0] * self.core - self.margin) * self.scale
        x = (cores[:, 1] * self.core - self.margin) * self.scale
        return np.stack([np.rint(x), np.rint(y)], axis=1).astype(np.int64)


def layout_for(info: SlideInfo, mask_mpp: float, tile: int, margin: int) -> TileLayout:
    if not 0 <= 2 * margin < tile:
        raise ValueError(f"margin {margin} px leaves no core in a {tile} px tile")
    scale = mask_mpp / info.mpp
    shape = (max(1, math.ceil(info.height / scale)), max(1, math.ceil(info.width / scale)))
    return TileLayout(shape, scale, tile, margin)


def tissue_cores(layout: TileLayout, thumb_mask: np.ndarray | None) -> np.ndarray:
    """(row, column) of the cores to segment: those touched by tissue (all cores without a mask)."""
    rows, cols = layout.grid
    if thumb_mask is None:
        return np.argwhere(np.ones((rows, cols), bool))
    from scipy.ndimage import binary_dilation

    h, w = layout.mask_shape
    ty = np.minimum((np.arange(h) + 0.5) / h * thumb_mask.shape[0], thumb_mask.shape[0] - 1).astype(int)
    tx = np.minimum((np.arange(w) + 0.5) / w * thumb_mask.shape[1], thumb_mask.shape[1] - 1).astype(int)
    tissue = thumb_mask[ty][:, tx]
    if layout.margin:
        tissue = binary_dilation(tissue, np.ones((2 * layout.margin + 1,) * 2, bool))
    padded = np.zeros((rows * layout.core, cols * layout.core), bool)
    padded[:h, :w] = tissue
    touched = padded.reshape(rows, layout.core, cols, layout.core).any(axis=(1, 3))
    return np.argwhere(touched)


def segment_slide_mask(
    model: Any, meta: dict[str, Any], info: SlideInfo, *, case_id: str, thumb_mask: np.ndarray | None = None,
    margin: int | None = None, device: str = "cpu", batch: int = 16, readers: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The slide's TIGER label mask (uint8, at meta['mpp'] microns per pixel) and counts of tiles."""
    labels = label_set(str(meta["label_set"]))
    tile = int(meta["tile_px"])
    margin = int(meta.get("margin_px", tile // 8)) if margin is None else margin
    layout = layout_for(info, float(meta["mpp"]), tile, margin)
    cores = tissue_cores(layout, thumb_mask)
    rows, cols = layout.grid
    c, m = layout.core, layout.margin
    stitched = np.zeros((rows * c, cols * c), np.uint8)
    if len(cores):
        size0 = max(1, int(round(tile * layout.scale)))
        batches = read_batches(info, layout.origins0(cores), size0, tile, case_id, batch=batch, readers=readers)
        fixed = batch if len(cores) > batch else None
        for index, logits in run_batches(model, batches, mean=meta["mean"], std=meta["std"], device=device,
                                         batch=fixed):
            classes = logits[:, :, m : m + c, m : m + c].argmax(1).numpy()
            values = labels.labels_of(classes)
            for k, i in enumerate(index):
                r, q = cores[i]
                stitched[r * c : (r + 1) * c, q * c : (q + 1) * c] = values[k]
    h, w = layout.mask_shape
    counts = {"tiles": int(len(cores)), "tiles_total": int(rows * cols), "margin_px": m, "tile_px": tile,
              "mask_mpp": float(meta["mpp"])}
    return np.ascontiguousarray(stitched[:h, :w]), counts
