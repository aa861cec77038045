"""Drawing primitives of the synthetic H&E sections: smooth random fields, discs, nuclei, the lymphocyte lattice.

Shared by `slides` (the sections) and `compartments` (what is planted in them); imports neither.
"""

from __future__ import annotations

import numpy as np

BOX_UM = 8.0              # TIGER's TIL size: the lymphocyte lattice has one 8 x 8 um box per nucleus at most


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """A smooth random field with values uniform on [0, 1) (rank-transformed Gaussian-filtered noise)."""
    from scipy.ndimage import gaussian_filter, zoom

    factor = 8
    small = (shape[0] // factor + 1, shape[1] // factor + 1)
    noise = gaussian_filter(rng.standard_normal(small), sigma / factor)
    ranks = (noise.ravel().argsort().argsort().reshape(small) + 0.5) / noise.size
    return np.asarray(zoom(ranks, factor, order=1)[: shape[0], : shape[1]])


def disc(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.asarray(x * x + y * y <= radius * radius)


def nuclei(
    rng: np.random.Generator, density: np.ndarray, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mask of round nuclei whose centres fall with per-pixel probability `density` (discs stamped),
    and the centres' rows and columns."""
    cy, cx = np.nonzero(rng.random(density.shape, dtype=np.float32) < density)
    return stamp(density.shape, cy, cx, radius), cy, cx


def stamp(shape: tuple[int, int], cy: np.ndarray, cx: np.ndarray, radius: int) -> np.ndarray:
    """Boolean mask of discs of `radius` centred at (cy, cx), clipped at the border."""
    mask = np.zeros(shape, bool)
    h, w = shape
    for dy, dx in zip(*np.nonzero(disc(radius)), strict=True):
        mask[np.clip(cy + dy - radius, 0, h - 1), np.clip(cx + dx - radius, 0, w - 1)] = True
    return mask


def lattice_nuclei(
    rng: np.random.Generator, occupancy: np.ndarray, pitch: int, radius: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Separate round nuclei at most one per `pitch` x `pitch` box of a lattice from the origin.

    Box (i, j) holds a nucleus with probability `occupancy` at its centre, which lies uniformly in
    [radius, pitch - 1 - radius] of the box on both axes: neighbours never overlap and touch (adjacent
    pixels) only at the extremes. The draws have fixed shapes, whatever `occupancy` holds. Returns the
    mask and the centres' rows and columns.
    """
    h, w = occupancy.shape
    gh, gw = -(-h // pitch), -(-w // pitch)
    lo, hi = (radius, pitch - 1 - radius) if pitch - 1 - radius >= radius else (pitch // 2, pitch // 2)
    cy = np.arange(gh)[:, None] * pitch + rng.integers(lo, hi + 1, (gh, gw))
    cx = np.arange(gw)[None, :] * pitch + rng.integers(lo, hi + 1, (gh, gw))
    draw = rng.random((gh, gw), dtype=np.float32)
    inside = (cy < h) & (cx < w)
    keep = inside & (draw < occupancy[np.minimum(cy, h - 1), np.minimum(cx, w - 1)])
    cy, cx = cy[keep], cx[keep]
    return stamp((h, w), cy, cx, radius), cy, cx
