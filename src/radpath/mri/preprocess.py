"""N4 bias correction, parenchyma normalisation and resampling of DCE phases.

Order used by the pipeline: N4 on the pre-contrast phase (within the breast), the same field
dividing every phase; parenchyma segmentation (intensity-scale invariant) on the corrected
pre-contrast phase; normalisation by the mean of the interquartile pre-contrast parenchyma
voxels; then resampling to isotropic voxels over the tumour's region (image: linear; masks: nearest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def n4_field(image: Any, mask: Any | None = None, shrink: int = 4, iterations: Sequence[int] = (20, 10)) -> Any:
    """The multiplicative bias field (float32 image on `image`'s grid) estimated by N4 on a shrunk copy."""
    import SimpleITK as sitk

    image = sitk.Cast(image, sitk.sitkFloat32)
    # N4 works on log intensities: keep them strictly positive
    floor = float(np.percentile(sitk.GetArrayViewFromImage(image), 99)) * 1e-3 + 1e-6
    positive = sitk.Maximum(image, floor)
    small = sitk.Shrink(positive, [shrink] * image.GetDimension()) if shrink > 1 else positive
    if mask is None:
        small_mask = sitk.OtsuThreshold(small, 0, 1)
    else:
        small_mask = sitk.Resample(sitk.Cast(mask, sitk.sitkUInt8), small, sitk.Transform(), sitk.sitkNearestNeighbor)
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([int(i) for i in iterations])
    corrector.Execute(small, small_mask)
    log_field = corrector.GetLogBiasFieldAsImage(positive)
    return sitk.Cast(sitk.Exp(log_field), sitk.sitkFloat32)


def apply_field(image: Any, field: Any) -> Any:
    import SimpleITK as sitk

    return sitk.Cast(image, sitk.sitkFloat32) / field


def iqr_mean(values: np.ndarray) -> float:
    """Mean of the voxels between the 25th and 75th percentiles (inclusive)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("no voxels to normalise by")
    q1, q3 = np.percentile(values, [25, 75])
    middle = values[(values >= q1) & (values <= q3)]
    return float(middle.mean())


def coefficient_of_variation(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values.std() / values.mean())


def crop_box(mask: np.ndarray, spacing_xyz: Sequence[float], margin_mm: float) -> tuple[slice, slice, slice]:
    """Slices (z, y, x) of the mask's bounding box grown by `margin_mm`, clipped to the array."""
    where = np.argwhere(mask)
    lo, hi = where.min(axis=0), where.max(axis=0) + 1
    spacing_zyx = np.array(spacing_xyz[::-1], dtype=float)
    pad = np.ceil(margin_mm / spacing_zyx).astype(int)
    lo = np.maximum(lo - pad, 0)
    hi = np.minimum(hi + pad, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def crop(image: Any, box: tuple[slice, slice, slice]) -> Any:
    """The sub-image of `box` (z, y, x slices) keeping physical coordinates."""
    import SimpleITK as sitk

    z, y, x = box
    return sitk.RegionOfInterest(
        image, [x.stop - x.start, y.stop - y.start, z.stop - z.start], [x.start, y.start, z.start]
    )


def isotropic_grid(image: Any, spacing_mm: float) -> Any:
    """An empty image with `spacing_mm` voxels covering `image`'s extent (same origin and direction)."""
    import SimpleITK as sitk

    size = [max(1, int(round(n * s / spacing_mm))) for n, s in zip(image.GetSize(), image.GetSpacing(), strict=True)]
    reference = sitk.Image(size, sitk.sitkFloat32)
    reference.SetSpacing([spacing_mm] * 3)
    reference.SetDirection(image.GetDirection())
    # keep the outer voxel corners aligned: origin is a voxel centre
    offset = [(spacing_mm - s) / 2.0 for s in image.GetSpacing()]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    reference.SetOrigin(tuple(np.array(image.GetOrigin()) + direction @ np.array(offset)))
    return reference


def resample(image: Any, reference: Any, *, is_mask: bool = False) -> Any:
    import SimpleITK as sitk

    if is_mask:
        return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    return sitk.Resample(image, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
