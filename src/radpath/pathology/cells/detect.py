"""Running a cell detector on an image (a field of view) or on a whole slide (tiled on tissue).

* Density method: the image, normalised with the model's mean and SD, is padded (reflect) to sides divisible
  by 8 and run through the network in one pass; `postprocess.map_centres` turns each channel into centres.
* Patch method: 70 x 70 patches centred on a grid of step `stride_px` are classified in batches; grid points
  with lymphocyte probability >= the threshold are kept and non-maximum suppression within the cell radius
  leaves one detection per cell.
* Whole slides: tissue is found on a thumbnail (`tissue.find_tissue`: saturation on H&E, optical density on
  pale counterstained IHC slides, chosen per slide unless `stain` says; the choice is returned, and the
  densities per mm2 divide by this mask's area); square tiles (`SLIDE_TILE_PX` model pixels, or for the
  density network the side of 128-256 px that computes the fewest pixels, `slide_tile`: a core grown by a
  margin on every side so cells on tile borders see their surroundings) cover the slide and only tiles with
  tissue are read, through the shared tiled loop (`tiling.read_batches`, `tiling.run_batches` for the
  density network). Each tile keeps the cells whose centre lies in its core, so no cell is counted twice.
  Coordinates are level-0 pixels.

Images at another resolution than the model's are resized to the model's microns per pixel first and the
centres scaled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from radpath.pathology.cells.postprocess import map_centres, nms

MARGIN_PX = 16
SLIDE_TILE_PX = 256        # slide tiles in model pixels (the density network is fully convolutional)
MIN_SLIDE_TILE_PX = 128    # the smallest a density slide tile is made (`slide_tile`)


def tile_tissue(mask: np.ndarray, width0: int, height0: int, side0: float, integral: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Level-0 origins ((n, 2) x, y) of square tiles of side `side0` covering a slide (the last row and column
    may run past its edge) and the fraction of each covered by the thumbnail-resolution tissue `mask`
    (`integral`: its summed-area table, `summed_area(mask)`, when the caller tries several sides)."""
    h, w = mask.shape
    rows, cols = int(np.ceil(height0 / side0)), int(np.ceil(width0 / side0))
    if integral is None:
        integral = summed_area(mask)
    ys = np.minimum(np.arange(rows + 1) * side0, height0) * h / height0
    xs = np.minimum(np.arange(cols + 1) * side0, width0) * w / width0
    y0, x0 = np.floor(ys[:-1]).astype(int).clip(0, h - 1), np.floor(xs[:-1]).astype(int).clip(0, w - 1)
    y1, x1 = np.maximum(np.ceil(ys[1:]).astype(int), y0 + 1).clip(max=h), np.maximum(np.ceil(xs[1:]).astype(int),
                                                                                      x0 + 1).clip(max=w)
    total = integral[y1][:, x1] - integral[y0][:, x1] - integral[y1][:, x0] + integral[y0][:, x0]
    fraction = total / np.outer(y1 - y0, x1 - x0)
    ii, jj = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    origins = np.stack([np.round(jj.ravel() * side0), np.round(ii.ravel() * side0)], 1).astype(np.int64)
    return origins, fraction.ravel()


def summed_area(mask: np.ndarray) -> np.ndarray:
    """(h + 1, w + 1) summed-area table of a mask (row 0 and column 0 zero)."""
    integral = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1))
    integral[1:, 1:] = np.cumsum(np.cumsum(mask.astype(float), 0), 1)
    return integral


def slide_tile(mask: np.ndarray, width0: int, height0: int, scale: float, largest: int, min_tissue: float,
               smallest: int = MIN_SLIDE_TILE_PX) -> int:
    """The density network's slide tile side (model pixels, a multiple of 8 from `smallest` to `largest`) that
    computes the fewest pixels over the tiles touching tissue: a slide a little larger than one tile core is
    not covered by four mostly empty tiles. Ties go to the larger tile (fewer, bigger batches). (Tiles with
    any tissue count, not those over `min_tissue`: a big tile that dilutes a small section below it would
    otherwise look cheapest.)"""
    best: tuple[int, int] | None = None
    integral = summed_area(mask)
    for tile in range(largest // 8 * 8, min(smallest, largest) - 1, -8):
        _, fraction = tile_tissue(mask, width0, height0, (tile - 2 * MARGIN_PX) * scale, integral)
        cost = int((fraction > 0).sum()) * tile * tile
        if best is None or cost < best[0]:
            best = (cost, tile)
    return best[1] if best else largest


def _normalise(x: Any, meta: dict[str, Any]) -> Any:
    import torch

    mean = torch.tensor(meta["mean"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(meta["std"], dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def density_maps(model: Any, meta: dict[str, Any], rgb: np.ndarray, device: str = "cpu") -> np.ndarray:
    """(C, H, W) float32 density maps of one RGB uint8 image at the model's resolution."""
    import torch

    h, w = rgb.shape[:2]
    ph, pw = (-h) % 8, (-w) % 8
    padded = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else rgb
    x = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))[None].to(device)
    with torch.inference_mode():
        out = model(_normalise(x, meta))[0, :, :h, :w].float().cpu().numpy()
    return np.asarray(out)


def patch_probabilities(
    model: Any, meta: dict[str, Any], rgb: np.ndarray, *, stride_px: int, device: str = "cpu", batch: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Grid points ((n, 2) x, y) of step `stride_px` and the lymphocyte probability of the patch centred there."""
    import torch

    size = int(meta["input_px"])
    half = size // 2
    h, w = rgb.shape[:2]
    padded = np.pad(rgb, ((half, size - half), (half, size - half), (0, 0)), mode="reflect")
    ys, xs = np.meshgrid(np.arange(stride_px // 2, h, stride_px), np.arange(stride_px // 2, w, stride_px),
                         indexing="ij")
    points = np.stack([xs.ravel(), ys.ravel()], 1)
    image = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).to(device)
    probs = []
    with torch.inference_mode():
        for start in range(0, len(points), batch):
            chunk = points[start : start + batch]
            crops = torch.stack([image[:, y : y + size, x : x + size] for x, y in chunk])
            probs.append(torch.softmax(model(_normalise(crops, meta)).float(), 1)[:, 1].cpu().numpy())
    return points.astype(np.float64), (np.concatenate(probs) if probs else np.zeros(0, np.float32))


def _resize(rgb: np.ndarray, factor: float) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    size = (max(8, int(round(w * factor))), max(8, int(round(h * factor))))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def detect_image(
    model: Any, meta: dict[str, Any], rgb: np.ndarray, *, mpp: float | None = None, device: str = "cpu",
    thresholds: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of one image: xy ((n, 2) pixels of `rgb`), class names (n,), scores (n,)."""
    return image_predictor(model, meta, rgb, mpp=mpp, device=device)(
        list(thresholds if thresholds is not None else meta["thresholds"]))


def image_predictor(
    model: Any, meta: dict[str, Any], rgb: np.ndarray, *, mpp: float | None = None, device: str = "cpu",
) -> Callable[[list[float]], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The network run once on one image; the returned function gives its cells (as `detect_image`) at any
    per-class thresholds (post-processing only), e.g. for a FROC sweep."""
    factor = 1.0 if mpp is None else float(mpp) / float(meta["mpp"])
    work = rgb if abs(factor - 1.0) < 1e-3 else _resize(rgb, factor)
    scale = np.array(rgb.shape[1::-1], float) / np.array(work.shape[1::-1], float)
    if meta["method"] == "density":
        maps = density_maps(model, meta, work, device)

        def post(thresholds: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return map_centres(maps, thresholds, list(meta["classes"]), min_distance=int(meta.get("min_distance", 3)))
    else:
        points, prob = patch_probabilities(model, meta, work, stride_px=int(meta["stride_px"]), device=device)

        def post(thresholds: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            return select_patches(meta, points, prob, thresholds[0])

    def predict(thresholds: list[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xy, names, score = post(thresholds)
        return xy * scale, names, score

    return predict


def detect_array(
    model: Any, meta: dict[str, Any], rgb: np.ndarray, *, device: str = "cpu", thresholds: list[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells of an image already at the model's resolution (see the module docstring)."""
    thresholds = list(thresholds if thresholds is not None else meta["thresholds"])
    if meta["method"] == "density":
        maps = density_maps(model, meta, rgb, device)
        return map_centres(maps, thresholds, list(meta["classes"]), min_distance=int(meta.get("min_distance", 3)))
    return patch_detections(model, meta, rgb, thresholds[0], device=device)


def patch_detections(
    model: Any, meta: dict[str, Any], rgb: np.ndarray, threshold: float, *, device: str = "cpu",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    points, prob = patch_probabilities(model, meta, rgb, stride_px=int(meta["stride_px"]), device=device)
    return select_patches(meta, points, prob, threshold)


def select_patches(
    meta: dict[str, Any], points: np.ndarray, prob: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid points with probability >= threshold, thinned by non-maximum suppression within the cell radius."""
    sel = prob >= threshold
    points, prob = points[sel], prob[sel]
    keep = nms(points, prob, float(meta["nms_radius_um"]) / float(meta["mpp"]))
    return points[keep], np.array(["lymphocyte"] * len(keep), dtype=object).astype(str), prob[keep].astype(np.float32)


def detect_slide(
    model: Any, meta: dict[str, Any], path: str, case_id: str, *, mpp: float | None = None, device: str = "cpu",
    batch: int = 8, readers: int = 1, thumb_px: int = 1024, min_tissue: float = 0.05, stain: str = "auto",
    roi: Any = None,
) -> dict[str, Any]:
    """Cells of a whole slide (level-0 pixels), its microns per pixel, the tissue area (mm2), how the tissue
    was found (`tissue_method`: "saturation" or "optical_density"; `stain` as `tissue.find_tissue`) and the QC
    flags of the slide and the model (`qc`). With `roi` (a shapely geometry in level-0 pixels, the annotated
    regions of interest) only tissue inside it is read, cells outside it are dropped and the tissue area is the
    annotated tissue."""
    from radpath.pathology import geojson, qc
    from radpath.pathology.slides import read_thumbnail
    from radpath.pathology.tiling import read_batches, run_batches
    from radpath.pathology.tissue import find_tissue

    info, thumb = read_thumbnail(path, case_id, mpp, thumb_px)
    tissue = find_tissue(thumb, stain)
    mask = geojson.restrict(tissue.mask, roi, info.width)
    flags = qc.slide_flags(info) + (qc.roi_flags(mask) if roi is not None else [])
    flags += qc.model_flags(meta, info, mask, "cell", case_id)
    tissue_mm2 = float(mask.mean() * info.width * info.height * info.mpp**2 / 1e6)
    scale = float(meta["mpp"]) / info.mpp            # level-0 pixels per model pixel
    if meta["method"] == "density":
        largest = max(SLIDE_TILE_PX, int(meta["input_px"]) // 8 * 8)
        tile = slide_tile(mask, info.width, info.height, scale, largest, min_tissue)
    else:
        tile = SLIDE_TILE_PX
    core = tile - 2 * MARGIN_PX
    origins, fraction = tile_tissue(mask, info.width, info.height, core * scale)
    origins = origins[fraction >= min_tissue]
    reads = origins - int(round(MARGIN_PX * scale))
    size0 = int(round(tile * scale))
    batches = read_batches(info, reads, size0, tile, case_id, batch=batch, readers=readers)
    xys, names, scores = [], [], []

    def keep(index: np.ndarray, outputs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        for i, (xy, cls, score) in zip(index, outputs, strict=True):
            inside = ((xy >= MARGIN_PX) & (xy < MARGIN_PX + core)).all(axis=1)
            xys.append(reads[i] + xy[inside] * (size0 / tile))
            names.append(cls[inside])
            scores.append(score[inside])

    if meta["method"] == "density":
        classes = list(meta["classes"])
        thresholds = list(meta["thresholds"])
        for index, out in run_batches(model, batches, mean=meta["mean"], std=meta["std"], device=device, batch=batch):
            maps = out.numpy()
            keep(index, [map_centres(m, thresholds, classes, min_distance=int(meta.get("min_distance", 3)))
                         for m in maps])
    else:
        for index, tiles in batches:
            keep(index, [patch_detections(model, meta, t, float(meta["thresholds"][0]), device=device)
                         for t in tiles])
    xy = np.concatenate(xys) if xys else np.zeros((0, 2))
    inside = (xy[:, 0] < info.width) & (xy[:, 1] < info.height)
    if roi is not None and len(xy):
        inside &= geojson.inside(roi, xy[:, 0], xy[:, 1])
    return {
        "xy": xy[inside], "classes": (np.concatenate(names) if names else np.zeros(0, str))[inside],
        "scores": (np.concatenate(scores) if scores else np.zeros(0, np.float32))[inside],
        "mpp": info.mpp, "tissue_mm2": tissue_mm2, "n_tiles": len(origins), "slide": path,
        "tissue_method": tissue.method, "qc": qc.unique(flags),
    }
