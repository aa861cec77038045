"""Kinetic maps of DCE-MRI: percent enhancement (PE) and signal enhancement ratio (SER).

PE = (S_early - S_pre) / S_pre and SER = (S_early - S_pre) / (S_late - S_pre). Voxels whose
denominator is not above `min_denominator` are masked (value 0 in the map, False in `valid`) and
counted, never inf or NaN. The image functions take and return SimpleITK images of one geometry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class KineticMap:
    values: np.ndarray   # float64, 0 where invalid
    valid: np.ndarray    # bool
    n_masked: int        # voxels whose denominator was not positive (or the value not finite / beyond clip)


def _ratio(num: np.ndarray, den: np.ndarray, min_denominator: float, clip: float | None) -> KineticMap:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    valid = np.isfinite(num) & np.isfinite(den) & (den > min_denominator)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=valid)
    if clip is not None:
        beyond = np.abs(out) > clip
        valid &= ~beyond
        out[beyond] = 0.0
    return KineticMap(out, valid, int(valid.size - valid.sum()))


def pe_array(pre: np.ndarray, early: np.ndarray, min_denominator: float = 0.0) -> KineticMap:
    """PE of arrays: (early - pre) / pre, masked where pre <= min_denominator."""
    return _ratio(np.asarray(early, float) - np.asarray(pre, float), pre, min_denominator, None)


def ser_array(
    pre: np.ndarray, early: np.ndarray, late: np.ndarray, min_denominator: float = 0.0, clip: float | None = None
) -> KineticMap:
    """SER of arrays: (early - pre) / (late - pre), masked where late - pre <= min_denominator."""
    pre = np.asarray(pre, float)
    return _ratio(np.asarray(early, float) - pre, np.asarray(late, float) - pre, min_denominator, clip)


def embedded(kind: Any, where: np.ndarray, arrays: tuple[np.ndarray, ...], scale: float,
             min_denominator: float = 0.0) -> KineticMap:
    """`kind` (pe_array or ser_array) of `arrays` / `scale` (as float64) computed at the voxels of the boolean
    `where` only, on the whole grid: there the values are those of the whole volume (the map is elementwise);
    elsewhere the map is 0 and not valid."""
    values, valid = np.zeros(where.shape), np.zeros(where.shape, dtype=bool)
    part = kind(*(np.asarray(a[where], dtype=np.float64) / scale for a in arrays), min_denominator)
    values[where], valid[where] = part.values, part.valid
    return KineticMap(values, valid, int(valid.size - valid.sum()))


def _to_image(values: np.ndarray, like: Any) -> Any:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(values)
    image.CopyInformation(like)
    return image


def percent_enhancement(pre: Any, post: Any, min_denominator: float = 0.0) -> Any:
    """PE map image of two SimpleITK images; masked voxels are 0 (see `pe_array` for the mask)."""
    import SimpleITK as sitk

    result = pe_array(sitk.GetArrayFromImage(pre), sitk.GetArrayFromImage(post), min_denominator)
    return _to_image(result.values, pre)


def signal_enhancement_ratio(pre: Any, early: Any, late: Any, min_denominator: float = 0.0) -> Any:
    """SER map image of three SimpleITK images; masked voxels are 0 (see `ser_array`)."""
    import SimpleITK as sitk

    pre_a, early_a, late_a = (sitk.GetArrayFromImage(image) for image in (pre, early, late))
    result = ser_array(pre_a, early_a, late_a, min_denominator=min_denominator)
    return _to_image(result.values, pre)
