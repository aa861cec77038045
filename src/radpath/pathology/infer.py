"""Streamed, batched inference of a patch classifier over a slide's tissue patches.

Tiles are read and decoded by a torch DataLoader (each worker opens the slide once) while the model
runs on batches, so memory is bounded by `batch` x `workers` tiles whatever the slide size.
Mixed precision is used on CUDA only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from radpath.pathology.slides import SlideInfo, open_slide, read_patch
from radpath.pathology.tissue import PatchGrid


class TileDataset(Dataset[torch.Tensor]):
    """Patches (i, j) of `grid` read from the slide at `out_px` x `out_px` (uint8, C x H x W)."""

    def __init__(self, info: SlideInfo, grid: PatchGrid, coords: np.ndarray, out_px: int, case_id: str):
        self.info, self.grid, self.coords, self.out_px, self.case_id = info, grid, coords, out_px, case_id
        self._slide: Any = None

    def __len__(self) -> int:
        return len(self.coords)

    def __getitem__(self, k: int) -> torch.Tensor:
        if self._slide is None:  # opened lazily, once per DataLoader worker
            self._slide, _ = open_slide(self.info.path, self.case_id, self.info.mpp)
        i, j = self.coords[k]
        x0, y0 = self.grid.origin0(int(i), int(j))
        side = max(1, int(round(self.grid.patch0)))
        tile = read_patch(self._slide, self.info, x0, y0, side, self.out_px, self.case_id)
        return torch.from_numpy(np.ascontiguousarray(tile.transpose(2, 0, 1)))  # NCHW: the fast conv path


def tile_loader(dataset: TileDataset, batch: int, workers: int, device: str) -> DataLoader[torch.Tensor]:
    return DataLoader(
        dataset, batch_size=batch, num_workers=workers, pin_memory=device.startswith("cuda"),
        persistent_workers=False, prefetch_factor=2 if workers else None,
    )


def predict_map(
    model: torch.nn.Module, meta: dict[str, Any], info: SlideInfo, grid: PatchGrid, selected: np.ndarray,
    *, case_id: str, device: str = "cpu", batch: int = 128, workers: int = 0,
) -> np.ndarray:
    """Positive-class probability per grid patch (NaN where `selected` is False)."""
    out = np.full(grid.shape, np.nan, np.float32)
    coords = np.argwhere(selected)
    if len(coords) == 0:
        return out
    dataset = TileDataset(info, grid, coords, int(meta["input_px"]), case_id)
    mean = torch.tensor(meta["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    probs = []
    with torch.inference_mode():
        for tiles in tile_loader(dataset, batch, workers, device):
            n = len(tiles)
            if n < batch and len(coords) > batch:  # keep one input shape: a new one costs kernel set-up time
                tiles = torch.cat([tiles, tiles.new_zeros((batch - n, *tiles.shape[1:]))])
            x = tiles.to(device, non_blocking=True).float() / 255.0
            with torch.autocast("cuda", enabled=device.startswith("cuda")):
                logits = model((x - mean) / std)
            probs.append(torch.softmax(logits.float(), 1)[:n, 1].cpu().numpy())
    out[coords[:, 0], coords[:, 1]] = np.concatenate(probs)
    return out
