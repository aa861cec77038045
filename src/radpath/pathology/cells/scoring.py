"""Cell scores (the PathoNet paper's definitions), their cut-off categories and the feature registry.

* Ki-67 index = positive / (positive + negative) (PathoNet eq. 4), in %;
* TIL score = lymphocytes / (lymphocytes + positive + negative) (PathoNet eq. 5), in %;
* categories: Ki-67 < 16 % low, 16-30 % intermediate, > 30 % high (Saha et al., as PathoNet uses them);
  TIL 0-10 % low, 11-39 % intermediate, >= 40 % high (PathoNet, ref. 11); a value between 10 and 11 counts
  as intermediate, one between 39 and 40 as intermediate;
* densities: cells of a class per mm2 of tissue.

The features depend on the stain the detector was trained on (its model file's `stain`): IHC detectors
(Ki-67 fields of view) give `FEATURE_DEFS`; an H&E lymphocyte detector (TIGER's TIL points, no tumour-cell
classes) gives `HE_FEATURE_DEFS` only, under codes of their own, so that an H&E slide's lymphocyte density
and an IHC field's never overwrite each other in `features`.

A score whose denominator is zero is NaN with a `reason`, never a division error.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CATEGORIES = ("low", "intermediate", "high")

FEATURE_DEFS = [
    {"code": "KI67_INDEX", "family": "cells_score", "name": "Ki-67 index (cell counts)", "unit": "%",
     "formula": "100 * n(ki67_positive) / (n(ki67_positive) + n(ki67_negative)), over all images of the patient"},
    {"code": "TIL_CELL_SCORE", "family": "cells_score", "name": "Cell-level TIL score", "unit": "%",
     "formula": "100 * n(lymphocyte) / (n(lymphocyte) + n(ki67_positive) + n(ki67_negative))"},
    {"code": "KI67_CATEGORY", "family": "cells_category", "name": "Ki-67 category (0 low, 1 mid, 2 high)",
     "unit": "category", "formula": "0 if KI67_INDEX < 16; 1 if 16 <= KI67_INDEX <= 30; 2 if > 30"},
    {"code": "TIL_CELL_CATEGORY", "family": "cells_category", "name": "Cell TIL category (0 low, 1 mid, 2 high)",
     "unit": "category", "formula": "0 if TIL_CELL_SCORE <= 10; 1 if 10 < TIL_CELL_SCORE < 40; 2 if >= 40"},
    {"code": "KI67_POS_DENSITY", "family": "cells_density", "name": "Ki-67 positive nuclei density",
     "unit": "1/mm2", "formula": "n(ki67_positive) / tissue area (mm2)"},
    {"code": "KI67_NEG_DENSITY", "family": "cells_density", "name": "Ki-67 negative nuclei density",
     "unit": "1/mm2", "formula": "n(ki67_negative) / tissue area (mm2)"},
    {"code": "LYMPHOCYTE_DENSITY", "family": "cells_density", "name": "Lymphocyte density", "unit": "1/mm2",
     "formula": "(n(lymphocyte) + n(plasma_cell)) / tissue area (mm2)"},
    {"code": "CELL_TISSUE_AREA", "family": "cells_density", "name": "Tissue area of the cell counts",
     "unit": "mm2", "formula": "pixels of the images (all tissue), or of the slide's thumbnail tissue mask "
                               "(saturation on H&E, optical density on IHC), * mpp^2 / 1e6"},
]


HE_FEATURE_DEFS = [
    {"code": "HE_LYMPHOCYTE_DENSITY", "family": "cells_density_he", "name": "Lymphocyte density on H&E (detected)",
     "unit": "1/mm2", "formula": "(n(lymphocyte) + n(plasma_cell)) detected on the H&E slide / its tissue area (mm2)"},
    {"code": "HE_CELL_TISSUE_AREA", "family": "cells_density_he", "name": "Tissue area of the H&E cell counts",
     "unit": "mm2", "formula": "tissue tiles of the H&E slide (or pixels of its images) * mpp^2 / 1e6"},
]
STAIN_FEATURE_DEFS = {"ihc": FEATURE_DEFS, "he": HE_FEATURE_DEFS}


class ScoreValue(float):
    """A float score that may carry the reason it is NaN."""

    reason: str | None

    def __new__(cls, value: float, reason: str | None = None) -> ScoreValue:
        obj = super().__new__(cls, value)
        obj.reason = reason
        return obj


def ki67_index(n_positive: int, n_negative: int) -> ScoreValue:
    """Ki-67 index in %: positive / (positive + negative); NaN (with reason) when no tumour cell is counted."""
    total = int(n_positive) + int(n_negative)
    if total == 0:
        return ScoreValue(math.nan, "no Ki-67 positive or negative tumour cells counted")
    return ScoreValue(100.0 * int(n_positive) / total)


def til_cell_score(n_lymph: int, n_positive: int, n_negative: int) -> ScoreValue:
    """TIL score in %: lymphocytes / (lymphocytes + positive + negative); NaN (with reason) when no cell."""
    total = int(n_lymph) + int(n_positive) + int(n_negative)
    if total == 0:
        return ScoreValue(math.nan, "no lymphocytes or tumour cells counted")
    return ScoreValue(100.0 * int(n_lymph) / total)


def ki67_category(pct: float) -> str | None:
    if pct is None or not np.isfinite(pct):
        return None
    return "low" if pct < 16 else ("intermediate" if pct <= 30 else "high")


def til_cell_category(pct: float) -> str | None:
    if pct is None or not np.isfinite(pct):
        return None
    return "low" if pct <= 10 else ("intermediate" if pct < 40 else "high")


def _code(category: str | None) -> float:
    return float(CATEGORIES.index(category)) if category else float("nan")


def class_counts(cells: pd.DataFrame) -> dict[str, int]:
    counts = cells["class"].value_counts()
    return {c: int(counts.get(c, 0)) for c in ("ki67_positive", "ki67_negative", "lymphocyte", "plasma_cell")}


def cell_scores(cells: pd.DataFrame, tissue_area_mm2: float, stain: str = "ihc") -> dict[str, float]:
    """The features of `STAIN_FEATURE_DEFS[stain]` for one patient's cell table over a tissue area."""
    n = class_counts(cells)
    lymph = n["lymphocyte"] + n["plasma_cell"]
    area = float(tissue_area_mm2)

    def density(count: int) -> float:
        return count / area if area > 0 else float("nan")

    if stain == "he":
        return {"HE_LYMPHOCYTE_DENSITY": density(lymph), "HE_CELL_TISSUE_AREA": area}
    ki = ki67_index(n["ki67_positive"], n["ki67_negative"])
    til = til_cell_score(lymph, n["ki67_positive"], n["ki67_negative"])

    return {
        "KI67_INDEX": float(ki), "TIL_CELL_SCORE": float(til),
        "KI67_CATEGORY": _code(ki67_category(ki)), "TIL_CELL_CATEGORY": _code(til_cell_category(til)),
        "KI67_POS_DENSITY": density(n["ki67_positive"]), "KI67_NEG_DENSITY": density(n["ki67_negative"]),
        "LYMPHOCYTE_DENSITY": density(lymph), "CELL_TISSUE_AREA": area,
    }
