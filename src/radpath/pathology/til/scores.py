"""TIL scores from a slide's maps (all on the lymphocyte grid, one value per patch).

Regions: tumour = tissue patches with (aggregated) tumour probability >= `tumour_threshold`;
peritumoral band = tissue within `band_um` of tumour (Chebyshev distance in patches, ceil(band / patch))
but not tumour; non-tumour = the rest of the tissue. A patch is TIL-positive when its lymphocyte
probability >= `lymphocyte_threshold`. Scores (%) are TIL-positive patches / patches of the region;
TIL_SCORE is that fraction over the tumour bed (tumour + band); where no tumour is found it is NaN (the
run stores the QC flag `no_tumour`), never the whole-tissue score (that is TIL_NONTUMOR). Areas are patch
counts times the patch area.
"""

from __future__ import annotations

import math

import numpy as np

FEATURE_DEFS = [
    {"code": "TIL_SCORE", "family": "wsi_til", "name": "Computational TIL score (tumour bed)", "unit": "%",
     "formula": "100 * #(TIL+ patches in tumour or peritumoral band) / #(patches in tumour or band); "
                "NaN without tumour"},
    {"code": "TIL_INTRATUMORAL", "family": "wsi_til", "name": "Intratumoral TIL-positive patch fraction",
     "unit": "%", "formula": "100 * #(TIL+ tumour patches) / #(tumour patches)"},
    {"code": "TIL_PERITUMORAL", "family": "wsi_til", "name": "Peritumoral TIL-positive patch fraction",
     "unit": "%", "formula": "100 * #(TIL+ band patches) / #(band patches); band = within band_um of tumour"},
    {"code": "TIL_NONTUMOR", "family": "wsi_til", "name": "Non-tumour TIL-positive patch fraction", "unit": "%",
     "formula": "100 * #(TIL+ other tissue patches) / #(other tissue patches)"},
    {"code": "TISSUE_AREA", "family": "wsi_area", "name": "Tissue area", "unit": "mm2",
     "formula": "#(tissue patches) * (patch_um / 1000)^2"},
    {"code": "TUMOR_AREA", "family": "wsi_area", "name": "Tumour area", "unit": "mm2",
     "formula": "#(tumour patches) * (patch_um / 1000)^2"},
]


def _pct(positive: np.ndarray, region: np.ndarray) -> float:
    n = int(region.sum())
    return float(100.0 * positive[region].sum() / n) if n else float("nan")


def til_scores(
    tumour: np.ndarray, lymph: np.ndarray, tissue: np.ndarray, patch_um: float, *,
    tumour_threshold: float = 0.5, lymphocyte_threshold: float = 0.5, band_um: float = 50.0,
) -> dict[str, float]:
    """Scores of one slide; see the module docstring."""
    from scipy.ndimage import binary_dilation

    tissue = tissue.astype(bool)
    tum = tissue & (np.nan_to_num(tumour, nan=0.0) >= tumour_threshold)
    pos = tissue & (np.nan_to_num(lymph, nan=0.0) >= lymphocyte_threshold)
    radius = math.ceil(band_um / patch_um - 1e-9) if band_um > 0 else 0
    grown = binary_dilation(tum, structure=np.ones((2 * radius + 1,) * 2, bool)) if radius and tum.any() else tum
    band = tissue & np.asarray(grown) & ~tum
    other = tissue & ~tum & ~band
    bed = tum | band
    area = (patch_um / 1000.0) ** 2
    return {
        "TIL_SCORE": _pct(pos, bed),
        "TIL_INTRATUMORAL": _pct(pos, tum),
        "TIL_PERITUMORAL": _pct(pos, band),
        "TIL_NONTUMOR": _pct(pos, other),
        "TISSUE_AREA": float(tissue.sum() * area),
        "TUMOR_AREA": float(tum.sum() * area),
    }
