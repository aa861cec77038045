"""What several feature families compute from once per case: the tumour's shape and the parenchyma around it.

The morphology family (M1-M3) and the extended family both take the tumour shape (`tumour_shape`); the
TS-BPE family and the extended set both take the tumour-surrounding parenchyma (`surrounding`). Both are
cached on the case's `CaseMaps`, so a case computes each once. Also the pyradiomics settings of a bin width
and the crop/image helpers the families share. Families import this module; it imports no family.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import ndimage

from radpath.mri.features.context import CaseMaps


@lru_cache(maxsize=8)
def settings(bin_width: float) -> dict[str, Any]:
    """pyradiomics' extractor settings for a bin width: the extractor is built once per process and width."""
    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=bin_width, label=1, additionalInfo=False)
    return dict(extractor.settings)


def box(mask: np.ndarray, pad: int = 0) -> tuple[slice, ...]:
    """Slices of the mask's bounding box grown by `pad` voxels (clipped to the array)."""
    where = np.argwhere(mask)
    lo = np.maximum(where.min(axis=0) - pad, 0)
    hi = np.minimum(where.max(axis=0) + 1 + pad, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def image(array: np.ndarray, spacing_mm: float) -> Any:
    """A SimpleITK image of an array (z, y, x) with isotropic voxels: uint8 for a mask, float64 otherwise."""
    import SimpleITK as sitk

    out = sitk.GetImageFromArray(array.astype(np.uint8) if array.dtype == bool else array.astype(np.float64))
    out.SetSpacing([spacing_mm] * 3)
    return out


def mask_shape(mask: np.ndarray, spacing_mm: float) -> dict[str, float]:
    """Every pyradiomics shape feature of a boolean mask (z, y, x) with isotropic voxels."""
    from radiomics import getFeatureClasses

    from radpath.mri.features.leveled import run

    crop = box(mask, pad=1)
    shape = getFeatureClasses()["shape"](image(mask[crop].astype(np.float64), spacing_mm),
                                         image(mask[crop], spacing_mm), **settings(1.0))
    return run(shape)


def tumour_shape(maps: CaseMaps) -> dict[str, float]:
    """The tumour's shape features, computed once per case (M1-M3 use three of them)."""
    return dict(maps.cached("tumour_shape", lambda: mask_shape(maps.tumour, maps.spacing_mm)))


def surrounding(maps: CaseMaps, distance_mm: float) -> np.ndarray:
    """Parenchyma voxels within `distance_mm` of the tumour (Euclidean, from voxel centres), once per case."""
    def shell() -> np.ndarray:
        distance = ndimage.distance_transform_edt(~maps.tumour, sampling=[maps.spacing_mm] * 3)
        return np.asarray(maps.parenchyma & (distance > 0) & (distance <= distance_mm))

    return np.asarray(maps.cached(f"surrounding:{distance_mm}", shell))
