"""A slide's label mask on disk: a tiled pyramidal TIFF of uint8 TIGER labels, and a PNG overlay.

The TIFF has one top-level tiled page per level (each half the size of the one before, labels
subsampled, never averaged), lossless deflate compression, one sample per pixel (the label 0-7),
and resolution tags giving its microns per pixel, so openslide (generic TIFF) and QuPath open it
at the right physical size and a viewer can lay it over the slide. The overlay is the slide
thumbnail with each compartment tinted in its colour (radpath.palettes.COMPARTMENTS), its legend below.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TILE = 256

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
    """The thumbnail with every non-glass label tinted in its colour (labels resampled to the thumbnail) and the
    compartment legend below it; colours from the shared palette (radpath.palettes.COMPARTMENTS)."""
    from PIL import Image

    from radpath.palettes import COMPARTMENTS, blend, with_legend

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = with_legend(blend(thumb, labels, COMPARTMENTS, alpha), COMPARTMENTS)
    # fast deflate: a noisy H&E thumbnail costs ten times longer at the default level for a few % smaller file
    Image.fromarray(picture).save(path, compress_level=1)
    return path
