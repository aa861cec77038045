"""Patch-classifier probability maps over a slide's tissue patches, on the shared tiled-inference loop.

`predict_probs` reads each selected patch of a `PatchGrid` at the model's input size through
`radpath.pathology.tiling.read_batches` (tiles read ahead on background threads while the model runs)
and keeps every class's probability per patch: the softmax of the model's outputs, or the sigmoid of a
one-output model. `predict_map` is one class's map: column `meta["positive_index"]` (default 1). Two
maps of one model (the same zoo folder as tumour and TIL model) come from one `predict_probs` run.
When `meta["read_px"]` is set (WSInfer model-zoo models) a patch is first resampled to that many
pixels at the model's declared spacing, then to the input size, as the model's declared transforms do.
Memory is bounded by a few batches of tiles whatever the slide size; mixed precision is used on CUDA only.
A network made faster by `netprep.prepare_for_inference` says so in `meta["channels_last"]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radpath.pathology.slides import SlideInfo
from radpath.pathology.tiling import read_batches, run_batches
from radpath.pathology.tissue import PatchGrid


def predict_probs(
    model: Any, meta: dict[str, Any], info: SlideInfo, grid: PatchGrid, selected: np.ndarray,
    *, case_id: str, device: str = "cpu", batch: int = 128, workers: int = 1,
) -> np.ndarray:
    """Class probabilities per grid patch, (rows, cols, classes) float32, NaN where `selected` is False
    (a one-output model has one "class": its sigmoid).

    `workers` background threads read tiles ahead of the model (0: read a batch, then compute it).
    """
    import torch

    coords = np.argwhere(selected)
    n_classes = int(meta.get("num_classes") or len(meta.get("classes") or ()) or 2)
    if len(coords) == 0:
        return np.full((*grid.shape, n_classes), np.nan, np.float32)
    side = max(1, int(round(grid.patch0)))
    read_px = meta.get("read_px")
    batches = read_batches(info, grid.origins0(coords), side, int(meta["input_px"]), case_id,
                           batch=batch, readers=workers, via_px=int(read_px) if read_px else None)
    probs: np.ndarray | None = None
    fixed = batch if len(coords) > batch else None   # CUDA: one input shape (see run_batches)
    for index, logits in run_batches(model, batches, mean=meta["mean"], std=meta["std"], device=device,
                                     batch=fixed, channels_last=bool(meta.get("channels_last"))):
        if probs is None:
            probs = np.empty((len(coords), logits.shape[1]), np.float32)
        probs[index] = (torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, 1)).numpy()
    assert probs is not None
    out = np.full((*grid.shape, probs.shape[1]), np.nan, np.float32)
    out[coords[:, 0], coords[:, 1]] = probs
    return out


def positive_map(probs: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """The positive class's map of `predict_probs`' output: column `meta["positive_index"]` (default 1),
    or the only column of a one-output model."""
    column = 0 if probs.shape[-1] == 1 else int(meta.get("positive_index", 1))
    return np.ascontiguousarray(probs[..., column])


def predict_map(
    model: Any, meta: dict[str, Any], info: SlideInfo, grid: PatchGrid, selected: np.ndarray,
    *, case_id: str, device: str = "cpu", batch: int = 128, workers: int = 1,
) -> np.ndarray:
    """Positive-class probability per grid patch (NaN where `selected` is False); see `predict_probs`."""
    probs = predict_probs(model, meta, info, grid, selected, case_id=case_id, device=device, batch=batch,
                          workers=workers)
    return positive_map(probs, meta)
