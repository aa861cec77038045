"""A slide's label mask on disk: a tiled pyramidal TIFF of uint8 TIGER labels, and a PNG overlay.

The TIFF has one top-level tiled page per level (each half the size of the one before, labels
subsampled, never averaged), lossless deflate compression, one sample per pixel (the label 0-7),
and resolution tags giving its microns per pixel, so openslide (generic TIFF) and QuPath open it
at the right physical size and a viewer can lay it over the slide. The overlay is the slide
thumbnail with each compartment tinted in its colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TILE = 256
COLOURS = np.array([
    [0, 0, 0],          # 0 glass
    [220, 40, 40],      # 1 invasive tumour
    [40, 170, 60],      # 2 tumour-associated stroma
    [240, 140, 20],     # 3 in-situ tumour
    [60, 120, 230],     # 4 healthy glands
    [90, 90, 90],       # 5 necrosis
    [240, 220, 30],     # 6 inflamed stroma
    [170, 90, 200],     # 7 rest
], np.uint8)


def write_label_tiff(path: str | Path, labels: np.ndarray, mpp: float, tile: int = TILE) -> Path:
    """Write `labels` (uint8, rows x columns) as a pyramidal tiled TIFF at `mpp` microns per pixel."""
    import tifffile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    labels = np.ascontiguousarray(labels, np.uint8)
    with tifffile.TiffWriter(tmp) as tif:
        level = 0
        while True:
            data = labels[:: 2**level, :: 2**level]
            res = 1e4 / (mpp * 2**level)   # pixels per centimetre
            tif.write(
                np.ascontiguousarray(data), tile=(tile, tile), photometric="minisblack", compression="zlib",
                subfiletype=0 if level == 0 else 1, resolution=(res, res), resolutionunit="CENTIMETER",
                metadata=None, description="radpath tissue labels (TIGER 0-7)",
            )
            if max(data.shape) <= tile:
                break
            level += 1
    tmp.replace(path)
    return path


def overlay_png(path: str | Path, thumb: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> Path:
    """The thumbnail with every non-glass label tinted in its colour (labels resampled to the thumbnail)."""
    from PIL import Image

    h, w = thumb.shape[:2]
    ry = np.minimum(((np.arange(h) + 0.5) / h * labels.shape[0]).astype(int), labels.shape[0] - 1)
    rx = np.minimum(((np.arange(w) + 0.5) / w * labels.shape[1]).astype(int), labels.shape[1] - 1)
    small = labels[ry][:, rx]
    tint = COLOURS[np.minimum(small, len(COLOURS) - 1)].astype(np.float32)
    out = thumb[..., :3].astype(np.float32)
    on = small > 0
    out[on] = (1 - alpha) * out[on] + alpha * tint[on]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # fast deflate: a noisy H&E thumbnail costs ten times longer at the default level for a few % smaller file
    Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).save(path, compress_level=1)
    return path
