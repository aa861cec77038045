"""Overlay layers drawn over a slide in the viewer: an explicit registry (`OVERLAYS`).

Each layer says whether a slide has it (the stage that makes it has run and registered its files),
where it lies on the slide (OpenSeadragon viewport units: the slide's level-0 width is 1) and how to
render it. A layer is either one image (`kind = "image"`, served as PNG) or its own Deep Zoom pyramid
(`kind = "dzi"`, PNG tiles). Layers:

- `tumor_til`: the combined Tumour-TIL map of `pathology_slides.rgb_map` drawn in the shared palette
  (radpath.palettes.TUMOR_TIL: tumour yellow, TIL-positive red, other tissue grey, glass transparent, at the
  score's thresholds) on the lymphocyte grid (`grid_cols x patch_um` wide), each patch enlarged to a block
  of whole pixels so its edges stay sharp.
- `compartments`: the tissue-segmentation label mask of `seg_slides.mask_path` (a pyramidal uint8 TIFF,
  `mask_mpp` microns per pixel), labels coloured by `COMPARTMENTS`, background transparent.
- `cells`: the detected cells of `cell_files.cells_path` (radpath.pathology.cellfile) drawn as discs
  coloured by class, rendered per Deep Zoom tile so they stay sharp at every zoom (one pixel per cell
  on tiles holding more than `MAX_DISCS` cells).
"""

from __future__ import annotations

import io
import math
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from radpath.palettes import CELLS, TUMOR_TIL, colourise, map_labels
from radpath.palettes import COMPARTMENTS as PALETTE_COMPARTMENTS
from radpath.viewer.store import SlideRecord

DZI_TILE = 256
MAX_IMAGE_SIDE = 4096          # longer side of an image overlay (a coarser pyramid level is used when there is one)
CELL_RADIUS_UM = 4.0
MAX_DISCS = 20_000             # cells per tile drawn as discs; beyond, one pixel each
MIN_MAP_SIDE = 1024            # a Tumour-TIL map is enlarged (nearest, whole pixels) to about this longer side

# colours and names from the shared palettes (radpath.palettes), as every other picture of these label sets
# label -> (name, RGBA); label 0 (glass / background) is transparent
COMPARTMENTS: dict[int, tuple[str, tuple[int, int, int, int]]] = {
    int(key): (name, (*rgb, 0 if key == 0 else 255)) for key, name, rgb in PALETTE_COMPARTMENTS.entries
}
CELL_COLOURS: dict[str, tuple[int, int, int, int]] = {str(key): (*rgb, 255) for key, _, rgb in CELLS.entries}


class OverlayNotFound(LookupError):
    """The slide has no such layer, or the address lies outside its pyramid."""


def png_bytes(rgba: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, "PNG", compress_level=3)
    return buffer.getvalue()


def dzi_levels(width: int, height: int) -> int:
    """Levels of a Deep Zoom pyramid: level 0 is 1 x 1 px, the last is full size."""
    return int(math.ceil(math.log2(max(width, height, 1)))) + 1


def dzi_xml(width: int, height: int, tile: int = DZI_TILE, overlap: int = 0, fmt: str = "png") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="{fmt}" Overlap="{overlap}" '
            f'TileSize="{tile}"><Size Height="{height}" Width="{width}"/></Image>')


@dataclass(frozen=True)
class Placement:
    """Where a layer lies: level-0 slide pixels of its top-left corner and its width."""

    width_px: float
    height_px: float


class Overlay(ABC):
    """A layer drawn over a slide; subclasses say when it exists for a slide and where it lies."""

    name: ClassVar[str]
    title: ClassVar[str]
    kind: ClassVar[str]                # "image" | "dzi"
    legend: ClassVar[list[tuple[str, str]]] = []

    @abstractmethod
    def available(self, slide: SlideRecord) -> bool:
        """Whether the stage behind the layer has written it for this slide."""

    @abstractmethod
    def placement(self, slide: SlideRecord, mpp: float | None, width: int, height: int) -> Placement:
        """Where the layer lies on the slide (level-0 pixels)."""

    def check(self, slide: SlideRecord) -> None:
        """Read enough of the layer's file to know it can be drawn (the slide page lists a layer that cannot
        as unreadable); raises what reading it raises. Layers that read their file to place it need nothing more."""
        return None

    def legend_for(self, slide: SlideRecord, mpp: float | None) -> list[tuple[str, str]]:
        """The legend shown beside the layer for this slide (reading the layer's file where it depends on it)."""
        return list(self.legend)

    def image(self, slide: SlideRecord) -> bytes:
        raise OverlayNotFound(f"{self.name} is not an image layer")

    def dzi(self, slide: SlideRecord, width: int, height: int) -> str:
        raise OverlayNotFound(f"{self.name} is not a Deep Zoom layer")

    def tile(self, slide: SlideRecord, mpp: float | None, width: int, height: int, level: int, col: int,
             row: int) -> bytes:
        raise OverlayNotFound(f"{self.name} is not a Deep Zoom layer")


class TumorTilOverlay(Overlay):
    name = "tumor_til"
    title = "Tumour–TIL map"
    kind = "image"
    legend = TUMOR_TIL.legend()

    def available(self, slide: SlideRecord) -> bool:
        return bool(slide.rgb_map) and Path(str(slide.rgb_map)).is_file()

    def placement(self, slide: SlideRecord, mpp: float | None, width: int, height: int) -> Placement:
        mpp = slide.mpp or mpp
        if slide.grid_cols and slide.grid_rows and slide.patch_um and mpp:
            patch = slide.patch_um / mpp
            return Placement(slide.grid_cols * patch, slide.grid_rows * patch)
        return Placement(float(width), float(height))

    def check(self, slide: SlideRecord) -> None:
        from PIL import Image

        with Image.open(str(slide.rgb_map)) as image:
            image.verify()

    def rgba(self, slide: SlideRecord) -> np.ndarray:
        from PIL import Image

        rgb = np.asarray(Image.open(str(slide.rgb_map)).convert("RGB"))
        out = colourise(map_labels(rgb, float(slide.extra.get("tumor_threshold") or 0.5),
                                   float(slide.extra.get("lymphocyte_threshold") or 0.5)), TUMOR_TIL)
        # one map pixel per patch: enlarge by whole pixels (nearest) so the browser's smoothing blurs only the edges
        k = max(1, MIN_MAP_SIDE // max(out.shape[:2]))
        return np.repeat(np.repeat(out, k, axis=0), k, axis=1) if k > 1 else out

    def image(self, slide: SlideRecord) -> bytes:
        return png_bytes(self.rgba(slide))


class CompartmentsOverlay(Overlay):
    name = "compartments"
    title = "Tissue compartments"
    kind = "image"
    legend = PALETTE_COMPARTMENTS.legend()

    def available(self, slide: SlideRecord) -> bool:
        mask = (slide.seg or {}).get("mask_path")
        return bool(mask) and Path(str(mask)).is_file()

    @staticmethod
    def _levels(path: str) -> list[tuple[int, int]]:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return [tuple(level.shape[:2]) for level in tif.series[0].levels]   # type: ignore[misc]

    def placement(self, slide: SlideRecord, mpp: float | None, width: int, height: int) -> Placement:
        assert slide.seg is not None
        rows, cols = self._levels(slide.seg["mask_path"])[0]
        mask_mpp = slide.seg.get("mask_mpp")
        if mask_mpp and mpp:
            return Placement(cols * mask_mpp / mpp, rows * mask_mpp / mpp)
        return Placement(float(width), float(width) * rows / cols)

    def labels(self, slide: SlideRecord) -> np.ndarray:
        import tifffile

        assert slide.seg is not None
        with tifffile.TiffFile(slide.seg["mask_path"]) as tif:
            levels = tif.series[0].levels
            fitting = [i for i, level in enumerate(levels) if max(level.shape[:2]) <= MAX_IMAGE_SIDE]
            chosen = levels[fitting[0]] if fitting else levels[-1]
            labels = np.asarray(chosen.asarray())
        if labels.ndim == 3:
            labels = labels[..., 0]
        step = int(math.ceil(max(labels.shape) / MAX_IMAGE_SIDE))
        return labels[::step, ::step] if step > 1 else labels

    def image(self, slide: SlideRecord) -> bytes:
        labels = self.labels(slide)
        return png_bytes(colourise(labels, PALETTE_COMPARTMENTS))


class CellsOverlay(Overlay):
    name = "cells"
    title = "Detected cells"
    kind = "dzi"
    legend = CELLS.legend()

    def __init__(self, max_slides: int = 4):
        self._cells: OrderedDict[tuple[object, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = OrderedDict()
        self._max = max_slides
        self._lock = threading.Lock()

    def available(self, slide: SlideRecord) -> bool:
        cells = (slide.cells or {}).get("cells_path")
        return bool(cells) and Path(str(cells)).is_file()

    def placement(self, slide: SlideRecord, mpp: float | None, width: int, height: int) -> Placement:
        return Placement(float(width), float(height))

    def legend_for(self, slide: SlideRecord, mpp: float | None) -> list[tuple[str, str]]:
        """The classes of the slide's cell file (an H&E detector finds no Ki-67 classes), in CELL_COLOURS order."""
        present = set(np.unique(self.points(slide, mpp)[2]).tolist())
        return [entry for i, entry in enumerate(self.legend) if i in present]

    def dzi(self, slide: SlideRecord, width: int, height: int) -> str:
        return dzi_xml(width, height)

    def points(self, slide: SlideRecord, mpp: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell centres in level-0 slide pixels sorted by x, and each cell's class index into CELL_COLOURS
        (kept per file state: a stage that rewrites the file is seen)."""
        assert slide.cells is not None
        path = Path(slide.cells["cells_path"])
        stat = path.stat()
        key = (slide.id, str(path), stat.st_mtime_ns, stat.st_size, mpp)
        with self._lock:
            found = self._cells.get(key)
        if found is not None:
            return found
        from radpath.pathology.cellfile import read_cells

        frame = read_cells(path, slide.patient_id)
        if mpp:
            x, y = frame["x_um"].to_numpy() / mpp, frame["y_um"].to_numpy() / mpp
        else:
            x, y = frame["x_px"].to_numpy(), frame["y_px"].to_numpy()
        classes = np.array([list(CELL_COLOURS).index(c) for c in frame["class"]], np.int64)
        order = np.argsort(x, kind="stable")
        result = (x[order], y[order], classes[order])
        with self._lock:
            self._cells[key] = result
            while len(self._cells) > self._max:
                self._cells.popitem(last=False)
        return result

    def tile(self, slide: SlideRecord, mpp: float | None, width: int, height: int, level: int, col: int,
             row: int) -> bytes:
        from PIL import Image, ImageDraw

        top = dzi_levels(width, height) - 1
        if not 0 <= level <= top:
            raise OverlayNotFound(f"cells of slide {slide.id}: Deep Zoom levels 0-{top}, not {level}")
        scale = 2.0 ** (top - level)
        level_w, level_h = math.ceil(width / scale), math.ceil(height / scale)
        if not (0 <= col < math.ceil(level_w / DZI_TILE) and 0 <= row < math.ceil(level_h / DZI_TILE)):
            raise OverlayNotFound(f"cells of slide {slide.id}: no tile {col}_{row} at level {level}")
        tw = min(DZI_TILE, level_w - col * DZI_TILE)
        th = min(DZI_TILE, level_h - row * DZI_TILE)
        radius = max(1.5, CELL_RADIUS_UM / (mpp or 0.5) / scale)
        x, y, cls = self.points(slide, mpp)
        x0, y0 = col * DZI_TILE * scale, row * DZI_TILE * scale
        margin = radius * scale
        lo, hi = np.searchsorted(x, [x0 - margin, x0 + tw * scale + margin])
        keep = np.flatnonzero((y[lo:hi] >= y0 - margin) & (y[lo:hi] < y0 + th * scale + margin)) + lo
        colours = list(CELL_COLOURS.values())
        if len(keep) > MAX_DISCS:
            # zoomed far out over many cells: one pixel per cell (numpy), discs would be a pixel or two anyway
            rgba = np.zeros((th, tw, 4), np.uint8)
            ix = np.floor((x[keep] - x0) / scale).astype(np.int64)
            iy = np.floor((y[keep] - y0) / scale).astype(np.int64)
            inside = (ix >= 0) & (ix < tw) & (iy >= 0) & (iy < th)
            rgba[iy[inside], ix[inside]] = np.asarray(colours, np.uint8)[cls[keep][inside]]
            image = Image.fromarray(rgba)
        else:
            image = Image.new("RGBA", (tw, th), (0, 0, 0, 0))
            draw = ImageDraw.Draw(image)
            for i in keep:
                cx, cy = (x[i] - x0) / scale, (y[i] - y0) / scale
                draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colours[cls[i]])
        buffer = io.BytesIO()
        image.save(buffer, "PNG", compress_level=3)
        return buffer.getvalue()


def make_overlays() -> dict[str, Overlay]:
    """A fresh registry (the cells layer keeps a small per-app cache of loaded cell tables)."""
    layers: list[Overlay] = [TumorTilOverlay(), CompartmentsOverlay(), CellsOverlay()]
    return {layer.name: layer for layer in layers}


OVERLAY_NAMES: tuple[str, ...] = ("tumor_til", "compartments", "cells")
