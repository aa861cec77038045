"""The breast region that fuzzy C-means clusters: body inside the body-air boundary, chest wall and skin out.

Real breast MRI shows the skin as a bright line along the whole breast contour; left in the region,
fuzzy C-means takes it (with vessels) as fibroglandular tissue and BPE counts it. As breast-density tools do,
the region is built first and a skin band is removed before clustering:

1. body: the largest Otsu foreground component of the (smoothed) pre-contrast image, holes filled (on
   fat-suppressed series, where fat is darker than the gland, the lower of two Otsu thresholds); its
   boundary with the air is the skin surface. Where the body meets the edge of the field of view (the
   thorax side) there is no air, so no skin is removed there.
2. breast: the given breast mask, or the body with the chest wall excluded: from the face of the field of
   view the body cuts the most (the patient's thorax), the slabs in which the body fills at least `chest_fill`
   of the view are removed, up to the first that it fills less (the breasts taper off the chest; the thorax
   fills the view). When the body touches no face, nothing is removed.
3. skin band: voxels within `skin_band_mm` of the air (Euclidean distance on the physical grid) are removed.

Which FCM cluster is parenchyma: the darkest on non-fat-suppressed T1 (fat is bright), the brightest on
fat-suppressed series (fat is dark). `fat_suppressed(headers)` decides from the DICOM Scan Options and
series description; `MRIParams.fat_suppressed` overrides it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FAT_SAT_WORDS = ("FAT SAT", "FATSAT", "FAT-SAT", "SPAIR", "SPIR", "STIR", "DIXON W", "WATER", " FS", "_FS", "FS_")


@dataclass(frozen=True)
class Region:
    breast: Any                   # SimpleITK uint8 image: breast (given or found), chest wall excluded
    clustered: np.ndarray         # bool (z, y, x): breast minus the skin band, what FCM clusters
    skin: np.ndarray              # bool (z, y, x): the skin band removed from the breast
    source: str                   # user | auto


def body_mask(pre: Any, fat_suppressed: bool | None = None) -> Any:
    """Foreground (body) mask of a pre-contrast SimpleITK image: largest Otsu component, holes filled.

    On a fat-suppressed series fat is dark, between air and the gland: one Otsu threshold falls between fat and
    gland and the body would be the gland alone, so there the lower of two Otsu thresholds (air | fat | gland)
    separates air from the body."""
    import SimpleITK as sitk

    smooth = sitk.SmoothingRecursiveGaussian(sitk.Cast(pre, sitk.sitkFloat32), float(min(pre.GetSpacing())))
    if fat_suppressed:
        foreground = sitk.Cast(sitk.OtsuMultipleThresholds(smooth, 2) > 0, sitk.sitkUInt8)
    else:
        foreground = sitk.OtsuThreshold(smooth, 0, 1)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(foreground), sortByObjectSize=True)
    largest = sitk.Cast(components == 1, sitk.sitkUInt8)
    return sitk.Cast(sitk.BinaryFillhole(largest), sitk.sitkUInt8)


def distance_to_air(body: np.ndarray, spacing_zyx: tuple[float, ...]) -> np.ndarray:
    """Euclidean distance (mm) of every body voxel (z, y, x) to the nearest air voxel; the edge of the array is
    not air (ITK's Maurer transform: exact, linear time)."""
    import SimpleITK as sitk

    if body.all():
        return np.full(body.shape, np.inf)
    air = sitk.GetImageFromArray((~body).astype(np.uint8))
    air.SetSpacing([float(v) for v in spacing_zyx[::-1]])
    distance = sitk.SignedMaurerDistanceMap(air, insideIsPositive=False, squaredDistance=False, useImageSpacing=True)
    return sitk.GetArrayFromImage(distance)


def skin_band(breast: np.ndarray, body: np.ndarray, spacing_zyx: tuple[float, ...], band_mm: float) -> np.ndarray:
    """Breast voxels within `band_mm` of the air. The distance is computed on the breast's bounding box grown by
    the band: air farther out cannot be within the band of a breast voxel, so the crop changes nothing."""
    out = np.zeros(breast.shape, bool)
    if band_mm <= 0 or not breast.any():
        return out
    pad = np.ceil(band_mm / np.asarray(spacing_zyx, dtype=float)).astype(int) + 1
    where = np.argwhere(breast)
    lo = np.maximum(where.min(axis=0) - pad, 0)
    hi = np.minimum(where.max(axis=0) + 1 + pad, breast.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    # a given breast mask may stop short of the air: the air is what neither the body nor the mask holds
    near = distance_to_air(body[box] | breast[box], spacing_zyx) <= band_mm
    out[box] = breast[box] & near
    return out


def exclude_chest_wall(body: np.ndarray, chest_fill: float = 0.9) -> np.ndarray:
    """The body without the thorax: see step 2 of the module docstring (arrays (z, y, x))."""
    best: tuple[float, int, int] | None = None        # (fraction of the face cut by the body, axis, side)
    for axis in range(3):
        for side in (0, -1):
            face = np.take(body, 0 if side == 0 else body.shape[axis] - 1, axis=axis)
            cut = float(face.mean())
            if cut > 0 and (best is None or cut > best[0]):
                best = (cut, axis, side)
    if best is None:
        return body.copy()
    _, axis, side = best
    other = tuple(a for a in range(3) if a != axis)
    fill = body.mean(axis=other)                                        # foreground fraction per slab
    order = range(body.shape[axis]) if side == 0 else range(body.shape[axis] - 1, -1, -1)
    out = body.copy()
    index: list[Any] = [slice(None)] * 3
    for k in order:
        if fill[k] < chest_fill:
            break
        index[axis] = k
        out[tuple(index)] = False
    return out


def breast_region(pre: Any, breast: Any | None, *, skin_band_mm: float, chest_fill: float = 0.9,
                  fat_suppressed: bool | None = None) -> Region:
    """Breast region and skin band of a pre-contrast SimpleITK image (`breast`: a given mask on its grid)."""
    import SimpleITK as sitk

    body = sitk.GetArrayFromImage(body_mask(pre, fat_suppressed)) > 0
    if breast is None:
        breast_a = exclude_chest_wall(body, chest_fill)
        image = sitk.GetImageFromArray(breast_a.astype(np.uint8))
        image.CopyInformation(pre)
        source = "auto"
    else:
        breast_a = sitk.GetArrayFromImage(breast) > 0
        image, source = breast, "user"
    spacing = tuple(float(v) for v in pre.GetSpacing()[::-1])
    skin = skin_band(breast_a, body, spacing, skin_band_mm)
    return Region(image, breast_a & ~skin, skin, source)


def fat_suppressed(meta: dict[str, Any]) -> bool | None:
    """True when the headers say the series is fat-suppressed (Scan Options FS/FAT, or a fat-saturation word in
    the series description); None otherwise: vendors do not reliably state its absence."""
    options = str(meta.get("scan_options") or "").upper()
    description = " " + str(meta.get("series_description") or "").upper() + " "
    words = {w.strip() for w in options.replace("\\", " ").split()}
    if words & {"FS", "FAT"} or any(w in description for w in FAT_SAT_WORDS):
        return True
    return None


def parenchyma_column(fat_sat: bool | None) -> tuple[bool, str]:
    """(darkest, why) of the FCM cluster taken as parenchyma."""
    if fat_sat:
        return False, "brightest (fat-suppressed: fat is dark)"
    if fat_sat is None:
        return True, "darkest (fat suppression not stated in the headers: assumed non-fat-suppressed T1)"
    return True, "darkest (non-fat-suppressed T1 stated: fat is bright)"
