"""The features as radpath computed them before issue 15: the reference of tests/mri/test_extended_speed.py and
the baseline of benchmarks/mri.py. Not used by the pipeline.

`extended_by_extractor`: pyradiomics' extractor, one `execute` per map and region (each class cropping and
binning for itself) and one for the shape. `all_by_extractor`: all 403 features that way, the tumour shape
computed for M1-M3 and again in the extended set, the surrounding shell twice.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from scipy import ndimage

from radpath.mri.features import FAMILIES
from radpath.mri.features.context import CaseMaps
from radpath.mri.features.core import margin_sharpness, shape_features
from radpath.mri.params import MRIParams


def extended_by_extractor(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    """The extended set by pyradiomics' extractor, one `execute` per map and region; `extended` gives the same
    values in one pass."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)

    def build(classes: list[str], width: float) -> Any:
        extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=width, label=1, additionalInfo=False)
        extractor.disableAllFeatures()
        for cls in classes:
            extractor.enableFeatureClassByName(cls)
        return extractor

    shape = build(["shape"], 1.0).execute(maps.image(maps.tumour.astype(float)), maps.image(maps.tumour))
    out = {f"X_TUM_{key.split('_', 1)[1]}": float(value) for key, value in shape.items()}
    distance = ndimage.distance_transform_edt(~maps.tumour, sampling=[maps.spacing_mm] * 3)
    regions = {"TUM": maps.tumour,
               "TSP": maps.parenchyma & (distance > 0) & (distance <= params.ts_distance_mm)}
    for code, kinetic, width in (("PE", maps.pe, params.pe_bin_width), ("SER", maps.ser, params.ser_bin_width)):
        extractor = build(list(params.extended_classes), width)
        image = maps.image(kinetic.values)
        for region, roi in regions.items():
            roi = roi & kinetic.valid
            if np.count_nonzero(roi) < 2:
                continue
            result = extractor.execute(image, maps.image(roi))
            out.update({f"X_{region}_{code}_{key.split('_', 1)[1]}": float(value) for key, value in result.items()})
    return out


def all_by_extractor(maps: CaseMaps, params: MRIParams) -> dict[str, float]:
    """All the features as radpath computed them before issue 15 (see the module docstring)."""
    out: dict[str, float] = {}
    shape = shape_features(maps.tumour, maps.spacing_mm)
    sharp = margin_sharpness(maps.early - maps.pre, maps.tumour, maps.spacing_mm)
    out.update({"M1": shape["volume_mm3"] / 1000.0, "M2": shape["sphericity"], "M3": shape["surface_volume_ratio"],
                "M4": float(sharp.mean()), "M5": float(sharp.std())})
    for family in FAMILIES:
        if family.paper and family.name != "morphology":
            out.update(family.compute(maps, params))
    if params.extended:
        out.update(extended_by_extractor(maps, params))
    return out


