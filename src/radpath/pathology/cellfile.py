"""The one file format for detected (or annotated) cells, shared by cell detection and the stromal TIL score.

A cell file is a Parquet table, one row per cell:

| column  | type    | meaning                                                                  |
|---------|---------|--------------------------------------------------------------------------|
| image   | string  | the image it lies on: a field-of-view file name, or the slide's id       |
| x_px    | float64 | column of the cell centre in that image's pixels (level 0 for a slide)   |
| y_px    | float64 | row of the cell centre                                                   |
| x_um    | float64 | x_px times the image's microns per pixel                                 |
| y_um    | float64 | y_px times the image's microns per pixel                                 |
| class   | string  | one of `CELL_CLASSES`                                                    |
| score   | float32 | the detector's confidence in [0, 1] (1 for ground truth)                 |

A stage that writes cells for a case puts them at `cell_file_path(out_dir, cohort, case_id)`
(`<out>/<cohort>/<case_id>/cells.parquet`), so a later stage given the same folder finds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radpath.errors import PathologyError

CELL_CLASSES: tuple[str, ...] = ("ki67_positive", "ki67_negative", "lymphocyte", "plasma_cell", "other")
TIL_CLASSES: tuple[str, ...] = ("lymphocyte", "plasma_cell")   # what a TIL count counts on H&E
CELL_COLUMNS: tuple[str, ...] = ("image", "x_px", "y_px", "x_um", "y_um", "class", "score")
FILE_NAME = "cells.parquet"


def cell_file_path(out_dir: str | Path, cohort: str, case_id: str) -> Path:
    """Where a stage writing into `out_dir` keeps one case's cells."""
    return Path(out_dir) / cohort / case_id / FILE_NAME


def cell_frame(
    image: str | Sequence[str], x_px: np.ndarray, y_px: np.ndarray, classes: Sequence[str], mpp: float,
    score: np.ndarray | None = None,
) -> pd.DataFrame:
    """A validated cell table from centre coordinates in pixels of an image of `mpp` microns per pixel."""
    x = np.asarray(x_px, np.float64)
    y = np.asarray(y_px, np.float64)
    n = len(x)
    frame = pd.DataFrame({
        "image": [image] * n if isinstance(image, str) else list(image),
        "x_px": x, "y_px": y, "x_um": x * mpp, "y_um": y * mpp,
        "class": list(classes),
        "score": np.ones(n, np.float32) if score is None else np.asarray(score, np.float32),
    })
    return validate_cells(frame, "cells")


def validate_cells(frame: pd.DataFrame, where: str, file: str | None = None) -> pd.DataFrame:
    """Check columns, classes and coordinates; return the frame with the columns in their order."""
    missing = [c for c in CELL_COLUMNS if c not in frame.columns]
    if missing:
        raise PathologyError(where, f"cell table lacks columns {missing}; expected {list(CELL_COLUMNS)}",
                             file=file)
    unknown = sorted(set(frame["class"].astype(str)) - set(CELL_CLASSES))
    if unknown:
        raise PathologyError(where, f"unknown cell classes {unknown}; known: {list(CELL_CLASSES)}",
                             file=file)
    coords = frame[["x_px", "y_px", "x_um", "y_um"]].to_numpy(np.float64)
    if coords.size and not np.isfinite(coords).all():
        raise PathologyError(where, "cell coordinates must be finite numbers", file=file)
    out = frame.loc[:, list(CELL_COLUMNS)].reset_index(drop=True)
    out["class"] = out["class"].astype(str)
    out["image"] = out["image"].astype(str)
    out["score"] = out["score"].astype(np.float32)
    return out


def write_cells(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a cell table (validated) to Parquet, atomically (a temporary file renamed into place)."""
    path = Path(path)
    frame = validate_cells(frame, path.parent.name, file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def read_cells(path: str | Path, case_id: str | None = None) -> pd.DataFrame:
    """Read and validate a cell file; errors name the case and the file."""
    path = Path(path)
    where = case_id or path.stem
    if not path.is_file():
        raise PathologyError(where, "cell file does not exist", file=str(path))
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise PathologyError(where, f"not a readable Parquet cell file ({exc})", file=str(path)) from exc
    return validate_cells(frame, where, file=str(path))
