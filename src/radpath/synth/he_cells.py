"""Synthetic H&E tiles with lymphocyte point truth, for an H&E lymphocyte detector (train-cells on H&E).

Extra sections are rendered with `slides.render_section` (fat and necrosis painted in, as on the study's
slides) from random streams of their own, seeded from (seed, SEED_OFFSET), so adding this set changes no
other synthetic output. Each section is cut into non-overlapping `TILE_PX` x `TILE_PX` tiles at the
slides' `MPP`; tiles with less than `MIN_TISSUE` tissue are dropped (mostly glass). The truth of a tile
is `compartments.truth_cells` of its section (TIGER's lymphocyte points) that fall inside it.

Layout (`points.csv`, which `radpath train-cells` / `evaluate-cells` read):

    he_cells/train/   NNN.png tiles, points.csv (image, x, y, class), dataset.json
    he_cells/test/    held-out tiles from sections of their own, same layout

dataset.json gives `mpp`, the class set (`classes`: lymphocyte only), the stain ("he") and the tile size.
TIL percentages of the sections are spread over 5-80 % so that sparse and dense lymphocytes both occur.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SEED_OFFSET = 1717
TILE_PX = 256
MIN_TISSUE = 0.5
SECTION_PX = (768, 768)
CLASSES = ("lymphocyte",)


def section_tiles(section: dict[str, np.ndarray], name: str, mpp: float, tile: int = TILE_PX,
                  min_tissue: float = MIN_TISSUE) -> list[tuple[str, np.ndarray, pd.DataFrame]]:
    """(tile name, rgb, truth cells in tile pixels) of the tissue tiles of one rendered section."""
    from radpath.synth.compartments import truth_cells

    cells = truth_cells(section, mpp, name)
    x, y = cells["x_px"].to_numpy(), cells["y_px"].to_numpy()
    h, w = section["tissue"].shape
    out = []
    for y0 in range(0, h - tile + 1, tile):
        for x0 in range(0, w - tile + 1, tile):
            if section["tissue"][y0 : y0 + tile, x0 : x0 + tile].mean() < min_tissue:
                continue
            inside = (x >= x0) & (x < x0 + tile) & (y >= y0) & (y < y0 + tile)
            points = pd.DataFrame({"x": x[inside] - x0, "y": y[inside] - y0, "class": cells["class"][inside]})
            out.append((f"{name}_y{y0:04d}_x{x0:04d}.png", section["rgb"][y0 : y0 + tile, x0 : x0 + tile], points))
    return out


def render_he_cell_set(out: str | Path, *, seed: int = 1, stream: int = 1, n_sections: int = 6,
                       shape: tuple[int, int] = SECTION_PX, tile: int = TILE_PX) -> Path:
    """One labelled folder (tiles, points.csv, dataset.json) from `n_sections` sections of stream `stream`."""
    from PIL import Image

    from radpath.synth.slides import MPP, SYNTHETIC_DATASET, render_section

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, SEED_OFFSET, stream])
    rows: list[pd.DataFrame] = []
    for k in range(n_sections):
        til = float(np.linspace(5, 80, n_sections)[k]) if n_sections > 1 else 40.0
        paint = np.random.default_rng([seed, SEED_OFFSET, stream, 1, k])
        section = render_section(rng, til, shape=shape, compartments=paint)
        for name, rgb, points in section_tiles(section, f"s{stream}{k:02d}", MPP, tile):
            Image.fromarray(rgb).save(out / name)
            rows.append(points.assign(image=name))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["image", "x", "y", "class"])
    table[["image", "x", "y", "class"]].to_csv(out / "points.csv", index=False, float_format="%.3f")
    info: dict[str, Any] = {"mpp": MPP, "classes": list(CLASSES), "tile_px": tile,
                            "source": "radpath synth: planted lymphocytes (one per occupied 8 x 8 um box)",
                            **SYNTHETIC_DATASET}
    (out / "dataset.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return out


def render_he_cells(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """Renderer for the synthetic study: `he_cells/{train,test}`; adds no manifest sections."""
    render_he_cell_set(out / "he_cells" / "train", seed=seed, stream=1, n_sections=6)
    render_he_cell_set(out / "he_cells" / "test", seed=seed, stream=2, n_sections=2)
    return {}
