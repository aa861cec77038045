"""The extended radiomic set (the paper started from 110 features): pyradiomics classes on PE and SER maps.

Regions: TUM (tumour) and TSP (parenchyma within `ts_distance_mm` of the tumour), each on the 1 mm grid,
restricted to voxels where the map is valid. Discretisation: fixed bin width per map from the params.
Codes: `X_<region>_<map>_<class>_<feature>`, plus `X_TUM_shape_<feature>` for the tumour shape.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from radpath.mri.features.context import CaseMaps
from radpath.mri.params import MRIParams

REGIONS = {"TUM": "tumour", "TSP": "tumour-surrounding parenchyma"}
MAPS = {"PE": "percent enhancement", "SER": "signal enhancement ratio"}


def _class_names(name: str) -> list[str]:
    from radiomics import getFeatureClasses

    cls = getFeatureClasses()[name]
    return sorted(k for k, deprecated in cls.getFeatureNames().items() if not deprecated)


def extended_defs(params: MRIParams) -> list[dict[str, Any]]:
    rows = []
    for feature in _class_names("shape"):
        rows.append({"code": f"X_TUM_shape_{feature}", "family": "extended_shape", "name": f"tumour shape {feature}",
                     "unit": None, "formula": f"pyradiomics shape.{feature} of the tumour mask (1 mm grid)"})
    for region, region_name in REGIONS.items():
        for map_code, map_name in MAPS.items():
            width = params.pe_bin_width if map_code == "PE" else params.ser_bin_width
            for cls in params.extended_classes:
                for feature in _class_names(cls):
                    rows.append({
                        "code": f"X_{region}_{map_code}_{cls}_{feature}",
                        "family": f"extended_{cls}",
                        "name": f"{map_name} {cls} {feature}, {region_name}",
                        "unit": None,
                        "formula": f"pyradiomics {cls}.{feature} of the {map_code} map within the {region_name} "
                                   f"(valid voxels, 1 mm grid, bin width {width})",
                    })
    return rows


def _extractor(classes: list[str], bin_width: float) -> Any:
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=bin_width, label=1, additionalInfo=False)
    extractor.disableAllFeatures()
    for cls in classes:
        extractor.enableFeatureClassByName(cls)
    return extractor


def extended(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    from radpath.mri.features.core import surrounding

    out: dict[str, float] = {}
    mask_image = maps.image(maps.tumour)
    shape = _extractor(["shape"], 1.0).execute(maps.image(maps.tumour.astype(float)), mask_image)
    for key, value in shape.items():
        out[f"X_TUM_{key.split('_', 1)[1]}"] = float(value)
    regions = {"TUM": maps.tumour, "TSP": surrounding(maps, params.ts_distance_mm)}
    for map_code, kinetic, width in (("PE", maps.pe, params.pe_bin_width), ("SER", maps.ser, params.ser_bin_width)):
        extractor = _extractor(params.extended_classes, width)
        image = maps.image(kinetic.values)
        for region, roi in regions.items():
            roi = roi & kinetic.valid
            if np.count_nonzero(roi) < 2:
                continue  # left missing: too few voxels for texture
            result = extractor.execute(image, maps.image(roi))
            for key, value in result.items():
                out[f"X_{region}_{map_code}_{key.split('_', 1)[1]}"] = float(value)
    return out
