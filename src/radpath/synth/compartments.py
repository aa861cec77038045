"""Tissue compartments of the synthetic sections: TIGER label masks, truth lymphocytes, segmentation tiles.

`add_compartments` turns a rendered section's planted masks into a TIGER label mask (values of
`radpath.pathology.segmentation.labels`): 0 glass, 1 invasive tumour (the tumour nests),
2 tumour-associated stroma (the rest of the tissue), 6 inflamed stroma (stroma inside the dense
TIL regions), and, when given a generator of its own, paints in 5 necrosis (pale eosinophilic
patches with dark karyorrhectic debris, inside tumour nests) and 7 rest (fat: near-white adipocytes
with thin pink septa, in tissue away from the tumour bed). The painting draws only from that
generator, so the section's other draws, and every synthetic output that depends on them, stay
as they were. In-situ tumour (3) and healthy glands (4) are not planted.

Truth lymphocytes (`truth_cells`): the stamped lymphocyte nuclei overlap in the dense TIL regions
(about 11 centres per 8 x 8 um), so, as a detector sees a packed aggregate, one lymphocyte is
counted per occupied 8 x 8 um box (TIGER's cell size), at the mean of the centres in it. TIGER's
stromal TIL score on them is then the share of stroma occupied by lymphocytes, which rises with the
latent TIL percentage the pathologists' readings are drawn from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NECROSIS = np.array([224, 186, 204], float)
DEBRIS = np.array([110, 70, 128], float)
FAT = np.array([249, 247, 249], float)
SEPTUM = np.array([228, 150, 186], float)
BOX_UM = 8.0                 # TIGER's TIL size: one counted lymphocyte per 8 x 8 um box
SEG_MPP = 2.0                # microns per pixel of the synthetic segmentation tiles
SEG_TILE = 64                # their side in pixels (128 um)


def add_compartments(section: dict[str, np.ndarray], rng: np.random.Generator | None) -> dict[str, np.ndarray]:
    """Add `labels` (uint8 TIGER labels) to `section`; paint necrosis and fat when `rng` is given."""
    from radpath.synth.slides import _field

    tissue, tumour, til = section["tissue"], section["tumour"], section["til"]
    shape = tissue.shape
    labels = np.zeros(shape, np.uint8)
    labels[tissue] = 2
    labels[tissue & til & ~tumour] = 6
    labels[tumour] = 1
    lymph = section["lymph_yx"]
    if rng is not None:
        rgb = section["rgb"].astype(np.float32)
        necrosis = tumour & (_field(rng, shape, 40.0) > 0.82)
        fat = tissue & ~section["bed"] & (_field(rng, shape, 30.0) > 0.45)
        debris = necrosis & (rng.random(shape, dtype=np.float32) < 0.03)
        septa = fat & ((_field(rng, shape, 5.0) * 9.0) % 1.0 < 0.12)
        noise = rng.standard_normal((*shape, 1), dtype=np.float32) * np.float32(5.0)
        rgb[necrosis] = NECROSIS + noise[necrosis]
        rgb[debris] = DEBRIS + noise[debris]
        rgb[fat] = FAT + noise[fat]
        rgb[septa] = SEPTUM + noise[septa]
        section["rgb"] = np.clip(rgb, 0, 255).astype(np.uint8)
        labels[necrosis] = 5
        labels[fat] = 7
        keep = ~(necrosis | fat)[lymph[:, 0], lymph[:, 1]]
        section["lymph_yx"] = lymph[keep]
    section["labels"] = labels
    return section


def truth_cells(section: dict[str, np.ndarray], mpp: float, image: str) -> pd.DataFrame:
    """Truth lymphocytes of a section as a cell table: one per occupied BOX_UM x BOX_UM box."""
    from radpath.pathology.cellfile import cell_frame

    yx = section["lymph_yx"].astype(np.float64)
    box = max(1, int(round(BOX_UM / mpp)))
    if len(yx) == 0:
        return cell_frame(image, np.zeros(0), np.zeros(0), [], mpp)
    keys = (yx[:, 0] // box).astype(np.int64) * 1_000_000 + (yx[:, 1] // box).astype(np.int64)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    y = np.bincount(inverse, yx[:, 0]) / counts
    x = np.bincount(inverse, yx[:, 1]) / counts
    return cell_frame(image, x + 0.5, y + 0.5, ["lymphocyte"] * len(x), mpp)


def downsample_section(section: dict[str, np.ndarray], factor: int) -> tuple[np.ndarray, np.ndarray]:
    """(rgb, labels) of a section at 1/`factor` resolution: RGB box-averaged, labels sampled at box centres."""
    h, w = section["labels"].shape
    h, w = h // factor * factor, w // factor * factor
    rgb = section["rgb"][:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))
    labels = section["labels"][factor // 2 : h : factor, factor // 2 : w : factor]
    return np.rint(rgb).astype(np.uint8), np.ascontiguousarray(labels)


def render_segmentation_dataset(
    out: Path, *, seed: int = 1, n_train: int = 6, n_test: int = 2, shape: tuple[int, int] | None = None,
    mpp: float = SEG_MPP, tile: int = SEG_TILE,
) -> dict[str, Path]:
    """Tiles with exact TIGER label masks (`<name>.png` + `<name>_mask.png`) from extra sections.

    Training tiles overlap by half a tile; test tiles come from sections of their own and do not
    overlap. Each folder has a `dataset.json` (mpp, tile size, label set). Returns {split: folder}.
    """
    from PIL import Image

    from radpath.synth.slides import MPP, SIZE, render_section

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
                                "source": "radpath synth (exact planted masks)"}
        (folder / "dataset.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        folders[split] = folder
    return folders
