"""Synthetic H&E whole-slide images and labelled patch datasets.

Each training-cohort patient with `has_slide` gets one small pyramidal tiled TIFF (`slides/<id>.tiff`,
3 levels as separate top-level tiled pages, JPEG tiles, resolution tags giving `MPP` microns per
pixel at level 0) that openslide opens as a generic TIFF. The validation cohort has no slides.

The picture, drawn from smooth random fields (all from one rng seeded from (seed, 4004)):
glass (near white) around an irregular tissue section; pink stroma; purple tumour nests with large
pale nuclei; lymphocytes as small dense dark round nuclei, separate (at most one per 8 x 8 um box,
TIGER's TIL size; a few touch). Lymphocytes are dense (TIL_OCCUPANCY of the boxes) inside "TIL
regions" of the stroma (inflamed stroma) and sparse elsewhere (in tumour nests half as sparse); the
TIL regions cover the share of the stroma that makes the stroma's lymphocyte
occupancy, TIGER's stromal TIL score, equal the latent `til_pct` that the pathologists' readings are
drawn from. Outside the TIL regions a sparse background occupies BACKGROUND_FLOOR + BACKGROUND_SHARE x
til_pct / 100 of the boxes, so a section at 0 % still has a few (score 0.5 %). A patch classifier's
TIL score (TIL-positive patches in the tumour bed: tumour plus a band of BED_UM around it) tracks
`til_pct` too, through the share of the bed the TIL regions cover.

Tissue compartments (`radpath.synth.compartments`, drawn from streams of their own): each slide has
necrosis, fat, in-situ tumour ducts and healthy glands planted, its exact TIGER label mask beside it
(`slides/<id>.labels.png`, level-0 pixels) and its truth lymphocytes as a cell file
(`cells_truth/tcga_brca/<id>/cells.parquet`);
`segmentation/{train,test}/` holds tiles with label masks for `radpath train-seg`.

`render_patch_dataset` renders extra sections and crops patches labelled by the planted masks into
ImageFolder-style folders `patches/<task>/{negative,positive}/*.png` with a `dataset.json` giving the
task, patch size and microns per pixel, for `radpath train-til`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radpath.pathology.slides import SYNTHETIC_MARKER
from radpath.synth.compartments import (
    SEG_MPP,
    SEG_TILE,
    add_compartments,
    downsample_section,
    plan_compartments,
    truth_cells,
)
from radpath.synth.drawing import BOX_UM, disc, lattice_nuclei, nuclei, smooth_field
from radpath.synth.truth import TRAIN, VALID

MPP = 0.5                 # microns per pixel at level 0 (a 20x scan)
SIZE = (1152, 1536)       # level-0 height, width of a synthetic slide (576 x 768 um)
TILE = 256
LEVELS = 3
BED_UM = 24.0             # width of the band around the tumour counted as tumour bed
PATCH_PX = {"tumor": 176, "lymphocyte": 100}   # at MPP: 88 um and 50 um, the paper's physical sizes
SEED_OFFSET = 4004
SYNTHETIC_DESCRIPTION = f"{SYNTHETIC_MARKER} H&E"
# what the synthetic study's training sets say about themselves (dataset.json), copied into model cards
SYNTHETIC_DATASET = {"synthetic": True, "dataset": "radpath synthetic study", "stain": "he"}
LYMPH_RADIUS = 5          # lymphocyte nucleus radius in pixels (5.5 um across at MPP)
TIL_OCCUPANCY = 0.95      # lymphocytes per 8 x 8 um box of stroma inside TIL regions (inflamed stroma)
BACKGROUND_FLOOR = 0.005  # ... and outside them: floor + share x the target occupancy (a sparse background)
BACKGROUND_SHARE = 0.1
TUMOUR_SHARE = 0.5        # background occupancy inside tumour nests relative to the stroma's (intratumoural)

GLASS = np.array([243, 242, 245], float)
STROMA = np.array([236, 166, 196], float)
TUMOUR = np.array([196, 136, 188], float)
TUMOUR_NUC = np.array([92, 52, 142], float)
LYMPH_NUC = np.array([38, 22, 92], float)


def render_section(
    rng: np.random.Generator, til_pct: float, shape: tuple[int, int] = SIZE, mpp: float = MPP,
    compartments: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """One H&E section: `rgb` (uint8), the planted masks `tissue`, `tumour`, `bed`, `til`, the TIGER
    label mask `labels` and the lymphocyte centres `lymph_yx` ((N, 2) rows, columns; one separate
    nucleus per centre, at most one per 8 x 8 um box of the lattice from the origin).

    Lymphocytes (see the module docstring): TIL regions ("inflamed stroma") cover the share of the
    stroma that, at TIL_OCCUPANCY lymphocytes per 8 x 8 um box inside them and a sparse background
    outside, makes the stroma's lymphocyte occupancy (TIGER's stromal TIL score) `til_pct` %.

    With a `compartments` generator (a stream of its own: `rng` draws the same numbers either way)
    necrosis, fat, in-situ tumour ducts and healthy glands are planted and painted too; see
    `compartments.py`. Their areas hold no lymphocytes and are not stroma.
    """
    from scipy.ndimage import binary_dilation, gaussian_filter

    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    ellipse = ((yy - h / 2) / (0.46 * h)) ** 2 + ((xx - w / 2) / (0.46 * w)) ** 2
    tissue = (smooth_field(rng, shape, 40.0) * 0.6 + (1 - ellipse) * 0.8) > 0.55
    tumour = tissue & (smooth_field(rng, shape, 70.0) > 0.5)
    bed_px = max(1, int(round(BED_UM / mpp)))
    step = 8  # dilate on a coarse grid for speed
    coarse = binary_dilation(tumour[::step, ::step], structure=disc(max(1, bed_px // step)))
    bed = np.repeat(np.repeat(coarse, step, 0), step, 1)[:h, :w] & tissue
    u = smooth_field(rng, shape, 24.0)
    plan = plan_compartments(compartments, tissue, tumour, bed, mpp) if compartments is not None else {}
    blocked = np.zeros(shape, bool)
    for mask in plan.values():
        blocked |= mask
    stroma = tissue & ~tumour & ~blocked
    t = float(np.clip(til_pct, 0.0, 100.0)) / 100.0
    background = BACKGROUND_FLOOR + BACKGROUND_SHARE * t   # above t only below 0.56 %: the floor
    share = float(np.clip((t - background) / (TIL_OCCUPANCY - background), 0.0, 1.0))
    in_stroma = u[stroma]
    cut = np.quantile(in_stroma, share) if in_stroma.size and share > 0 else -1.0
    til = stroma & (u < cut)

    # class index per pixel: 0 glass, 1 stroma, 2 tumour, 3 tumour nucleus, 4 lymphocyte nucleus
    epithelium = tumour | plan.get("duct_core", np.zeros(shape, bool))
    kind = tissue.astype(np.uint8) + epithelium.astype(np.uint8)
    kind[nuclei(rng, np.where(epithelium, np.float32(0.006), np.float32(0.0)), 5)[0]] = 3
    occupancy = np.where(til, np.float32(TIL_OCCUPANCY), np.where(stroma, np.float32(background), np.float32(0.0)))
    occupancy[tumour & ~blocked] = np.float32(background * TUMOUR_SHARE)
    lymph, ly, lx = lattice_nuclei(rng, occupancy, max(1, int(round(BOX_UM / mpp))), LYMPH_RADIUS)
    kind[lymph] = 4
    palette = np.stack([GLASS, STROMA, TUMOUR, TUMOUR_NUC, LYMPH_NUC]).astype(np.float32)
    rgb = palette[kind]
    fibres = gaussian_filter(rng.standard_normal(shape, dtype=np.float32), (1.0, 4.0)) * np.float32(40.0)
    rgb += (fibres * (kind == 1))[..., None]
    rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(6.0)
    section = {
        "rgb": np.clip(rgb, 0, 255).astype(np.uint8),
        "tissue": tissue,
        "tumour": tumour,
        "bed": bed,
        "til": til,
        "lymph_yx": np.stack([ly, lx], axis=1),
    }
    return add_compartments(section, plan, compartments)


def write_pyramid(path: Path, rgb: np.ndarray, mpp: float | None = MPP, levels: int = LEVELS,
                  description: str = SYNTHETIC_DESCRIPTION) -> None:
    """Write `rgb` as a pyramidal tiled TIFF: one top-level tiled JPEG page per level (x2 each).

    `description` is the TIFF ImageDescription; the default starts with the synthetic marker
    (`radpath.pathology.slides.SYNTHETIC_MARKER`) by which a run knows the slide is synthetic."""
    import tifffile
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(rgb)
    with tifffile.TiffWriter(path) as tif:
        for level in range(levels):
            factor = 2**level
            if level:
                size = (max(1, rgb.shape[1] // factor), max(1, rgb.shape[0] // factor))
                data = np.asarray(image.resize(size, Image.Resampling.BOX))
            else:
                data = rgb
            extra: dict[str, Any] = {}
            if mpp is not None:
                res = 1e4 / (mpp * factor)  # pixels per centimetre
                extra = {"resolution": (res, res), "resolutionunit": "CENTIMETER"}
            tif.write(
                data, tile=(TILE, TILE), photometric="rgb", compression="jpeg", compressionargs={"level": 90},
                subfiletype=0 if level == 0 else 1, metadata=None, description=description, **extra,
            )


def render_slides(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """One slide per training-cohort patient with `has_slide`; the patch datasets under `out/patches`."""
    from PIL import Image

    from radpath.pathology.cellfile import cell_file_path, write_cells

    rng = np.random.default_rng([seed, SEED_OFFSET])
    rows = truth[(truth["cohort"] == TRAIN) & truth["has_slide"].astype(bool)]
    for k, row in enumerate(rows.itertuples(index=False)):
        paint = np.random.default_rng([seed, SEED_OFFSET, 2, k])   # a stream of its own: rng's draws unchanged
        section = render_section(rng, float(row.til_pct), compartments=paint)
        folder = out / TRAIN / "slides"
        write_pyramid(folder / f"{row.patient_id}.tiff", section["rgb"])
        Image.fromarray(section["labels"]).save(folder / f"{row.patient_id}.labels.png")
        write_cells(cell_file_path(out / "cells_truth", TRAIN, str(row.patient_id)),
                    truth_cells(section, MPP, str(row.patient_id)))
    render_patch_dataset(out / "patches", seed=seed)
    render_segmentation_dataset(out / "segmentation", seed=seed)
    return {TRAIN: {"slides": {"root": "slides", "pattern": "{patient_id}*.tiff"}}, VALID: {}}


def _labels(section: dict[str, np.ndarray], task: str, y: int, x: int, size: int) -> int | None:
    """1 / 0 for a clearly positive / negative patch at (y, x), None for an ambiguous one."""
    window = (slice(y, y + size), slice(x, x + size))
    tissue = float(section["tissue"][window].mean())
    target = float(section["tumour" if task == "tumor" else "til"][window].mean())
    if task == "tumor":
        if target >= 0.6:
            return 1
        return 0 if target <= 0.15 and tissue >= 0.3 else None
    if target >= 0.4:
        return 1
    return 0 if target <= 0.03 and tissue >= 0.3 else None


def render_patch_dataset(
    out: Path, *, seed: int = 1, n_sections: int = 8, per_class: int = 400, shape: tuple[int, int] = SIZE
) -> dict[str, Path]:
    """Labelled patches for both tasks cropped from extra synthetic sections; returns {task: folder}."""
    from PIL import Image

    rng = np.random.default_rng([seed, SEED_OFFSET, 1])
    found: dict[str, dict[int, list[np.ndarray]]] = {task: {0: [], 1: []} for task in PATCH_PX}
    for k in range(n_sections):
        section = render_section(rng, til_pct=float(np.linspace(5, 70, n_sections)[k]), shape=shape)
        for task, size in PATCH_PX.items():
            stride = size // 2
            for y in range(0, shape[0] - size + 1, stride):
                for x in range(0, shape[1] - size + 1, stride):
                    label = _labels(section, task, y, x, size)
                    if label is not None:
                        found[task][label].append(section["rgb"][y : y + size, x : x + size])
    folders: dict[str, Path] = {}
    for task, by_label in found.items():
        folder = out / task
        for label, patches in by_label.items():
            name = "positive" if label else "negative"
            (folder / name).mkdir(parents=True, exist_ok=True)
            pick = rng.permutation(len(patches))[:per_class]
            for i in pick:
                Image.fromarray(patches[i]).save(folder / name / f"{task}_{i:05d}.png")
        meta = {"task": task, "patch_px": PATCH_PX[task], "mpp": MPP, "classes": ["negative", "positive"],
                **SYNTHETIC_DATASET}
        (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        folders[task] = folder
    return folders


def render_segmentation_dataset(
    out: Path, *, seed: int = 1, n_train: int = 6, n_test: int = 2, shape: tuple[int, int] | None = None,
    mpp: float = SEG_MPP, tile: int = SEG_TILE,
) -> dict[str, Path]:
    """Tiles with exact TIGER label masks (`<name>.png` + `<name>_mask.png`) from extra sections.

    Training tiles overlap by half a tile; test tiles come from sections of their own and do not
    overlap. Each folder has a `dataset.json` (mpp, tile size, label set). Returns {split: folder}.
    """
    from PIL import Image

    shape = shape or SIZE
    factor = max(1, int(round(mpp / MPP)))
    rng = np.random.default_rng([seed, 4004, 3])
    folders: dict[str, Path] = {}
    k = 0
    for split, n, stride in (("train", n_train, tile // 2), ("test", n_test, tile)):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(n):
            til = float(rng.uniform(5, 80))
            section = render_section(rng, til, shape=shape, compartments=rng)
            rgb, labels = downsample_section(section, factor)
            for y in range(0, labels.shape[0] - tile + 1, stride):
                for x in range(0, labels.shape[1] - tile + 1, stride):
                    crop = labels[y : y + tile, x : x + tile]
                    if np.count_nonzero(crop) < crop.size // 4:
                        continue  # mostly glass
                    name = f"s{k:02d}_y{y:04d}_x{x:04d}"
                    Image.fromarray(rgb[y : y + tile, x : x + tile]).save(folder / f"{name}.png")
                    Image.fromarray(crop).save(folder / f"{name}_mask.png")
            k += 1
        meta: dict[str, Any] = {"mpp": MPP * factor, "tile_px": tile, "labels": "tiger",
                                "source": "radpath synth (exact planted masks)", **SYNTHETIC_DATASET}
        (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        folders[split] = folder
    return folders
