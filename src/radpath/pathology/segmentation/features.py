"""Per-slide features from a tissue label mask: compartment areas, tumour-stroma ratio, stromal TILs.

Stroma is TIGER labels 2 (tumour-associated stroma) and 6 (inflamed stroma); tumour is label 1
(invasive tumour). Areas count mask pixels times the mask's pixel area. A binary-stroma mask has no
tumour, so its tumour features are not written.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from radpath.pathology.segmentation.labels import STROMA, TUMOUR
from radpath.pathology.tissue import stromal_til_score

FAMILY = "wsi_segmentation"
FEATURE_DEFS: list[dict[str, Any]] = [
    {"code": "STROMAL_TIL", "family": FAMILY, "name": "Stromal TIL score (TIGER, from detected cells)", "unit": "%",
     "formula": "min(100, 100 * #(lymphocytes + plasma cells with centre in stroma) * cell_area_um2 "
                "/ stroma area um2); cell_area_um2 = 8 x 8 um by default; stroma = labels 2 + 6"},
    {"code": "STROMAL_TIL_PATCH", "family": FAMILY, "name": "Stromal TIL score (lymphocyte patch map in stroma)",
     "unit": "%", "formula": "100 * stroma area on TIL-positive lymphocyte-map patches (probability >= threshold) "
                             "/ stroma area; map from score-wsi"},
    {"code": "STROMA_AREA", "family": FAMILY, "name": "Stroma area (segmented)", "unit": "mm2",
     "formula": "#(mask pixels labelled 2 or 6) * (mask_mpp / 1000)^2"},
    {"code": "TUMOR_AREA_SEG", "family": FAMILY, "name": "Invasive tumour area (segmented)", "unit": "mm2",
     "formula": "#(mask pixels labelled 1) * (mask_mpp / 1000)^2"},
    {"code": "TUMOR_STROMA_RATIO", "family": FAMILY, "name": "Stroma share of tumour + stroma (tumour-stroma ratio)",
     "unit": "%", "formula": "100 * stroma area / (stroma area + invasive tumour area); > 50 = stroma-high"},
]


def patch_map_positive(lymph: np.ndarray, patch_um: float, mask_shape: tuple[int, int], mask_mpp: float,
                       threshold: float = 0.5) -> np.ndarray:
    """Which mask pixels lie on a TIL-positive patch of a lymphocyte probability map (NaN = not positive).

    Map patch (i, j) covers microns [j, j+1) x [i, i+1) times `patch_um`; a mask pixel counts by its centre.
    """
    rows = np.floor((np.arange(mask_shape[0]) + 0.5) * mask_mpp / patch_um).astype(np.int64)
    cols = np.floor((np.arange(mask_shape[1]) + 0.5) * mask_mpp / patch_um).astype(np.int64)
    positive = np.nan_to_num(np.asarray(lymph, np.float64), nan=-1.0) >= threshold
    padded = np.zeros((max(rows.max(initial=0) + 1, positive.shape[0]),
                       max(cols.max(initial=0) + 1, positive.shape[1])), bool)
    padded[: positive.shape[0], : positive.shape[1]] = positive
    return np.asarray(padded[rows][:, cols])


def slide_features(
    labels: np.ndarray, mask_mpp: float, *, label_set: str, cells_xy_um: np.ndarray | None = None,
    cell_area_um2: float = 64.0, lymph_map: np.ndarray | None = None, patch_um: float | None = None,
    til_threshold: float = 0.5,
) -> dict[str, float]:
    """The features of one slide's mask (see FEATURE_DEFS); STROMAL_TIL only with cells, STROMAL_TIL_PATCH
    only with a lymphocyte map."""
    stroma = np.isin(labels, STROMA)
    pixel_mm2 = (mask_mpp / 1000.0) ** 2
    stroma_mm2 = float(stroma.sum() * pixel_mm2)
    out: dict[str, float] = {"STROMA_AREA": stroma_mm2}
    if label_set != "binary-stroma":
        tumour_mm2 = float(np.isin(labels, TUMOUR).sum() * pixel_mm2)
        out["TUMOR_AREA_SEG"] = tumour_mm2
        both = stroma_mm2 + tumour_mm2
        out["TUMOR_STROMA_RATIO"] = 100.0 * stroma_mm2 / both if both else float("nan")
    if cells_xy_um is not None:
        out["STROMAL_TIL"] = stromal_til_score(cells_xy_um, stroma, mask_mpp, cell_area_um2)
    if lymph_map is not None and patch_um:
        positive = patch_map_positive(lymph_map, patch_um, labels.shape, mask_mpp, til_threshold)
        n = int(stroma.sum())
        out["STROMAL_TIL_PATCH"] = 100.0 * float((stroma & positive).sum()) / n if n else float("nan")
    return out
