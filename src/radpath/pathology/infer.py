"""Patch-classifier probability maps over a slide's tissue patches, on the shared tiled-inference loop.

`predict_map` reads each selected patch of a `PatchGrid` at the model's input size through
`radpath.pathology.tiling.read_batches` (tiles read ahead on background threads while the model runs)
and keeps the positive-class probability per patch: softmax column `meta["positive_index"]` (default 1),
or the sigmoid of a one-output model. When `meta["read_px"]` is set (WSInfer model-zoo models) a patch
is first resampled to that many pixels at the model's declared spacing, then to the input size, as the
model's declared transforms do. Memory is bounded by a few batches of tiles
whatever the slide size; mixed precision is used on CUDA only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radpath.pathology.slides import SlideInfo
from radpath.pathology.tiling import read_batches, run_batches
from radpath.pathology.tissue import PatchGrid


def grid_origins(grid: PatchGrid, coords: np.ndarray) -> np.ndarray:
    """Integer level-0 (x, y) top-left corners of the grid patches at `coords` ((N, 2) rows i, columns j)."""
    if len(coords) == 0:
        return np.zeros((0, 2), np.int64)
    x = np.rint(coords[:, 1] * grid.patch0).astype(np.int64)
    y = np.rint(coords[:, 0] * grid.patch0).astype(np.int64)
    return np.stack([x, y], axis=1)


def predict_map(
    model: Any, meta: dict[str, Any], info: SlideInfo, grid: PatchGrid, selected: np.ndarray,
    *, case_id: str, device: str = "cpu", batch: int = 128, workers: int = 1,
) -> np.ndarray:
    """Positive-class probability per grid patch (NaN where `selected` is False).

    `workers` background threads read tiles ahead of the model (0: read a batch, then compute it).
    """
    import torch

    out = np.full(grid.shape, np.nan, np.float32)
    coords = np.argwhere(selected)
    if len(coords) == 0:
        return out
    side = max(1, int(round(grid.patch0)))
    read_px = meta.get("read_px")
    batches = read_batches(info, grid_origins(grid, coords), side, int(meta["input_px"]), case_id,
                           batch=batch, readers=workers, via_px=int(read_px) if read_px else None)
    positive = int(meta.get("positive_index", 1))
    probs = np.empty(len(coords), np.float32)
    fixed = batch if len(coords) > batch else None   # keep one input shape: a new one costs kernel set-up time
    for index, logits in run_batches(model, batches, mean=meta["mean"], std=meta["std"], device=device,
                                     batch=fixed):
        if logits.shape[1] == 1:
            probs[index] = torch.sigmoid(logits[:, 0]).numpy()
        else:
            probs[index] = torch.softmax(logits, 1)[:, positive].numpy()
    out[coords[:, 0], coords[:, 1]] = probs
    return out
