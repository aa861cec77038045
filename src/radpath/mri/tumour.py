"""A tumour mask when none was drawn: the I-SPY functional tumour volume (`auto-ftv`) or fuzzy C-means on the
enhancement maps (`auto-fcm`), on the acquisition grid of a case's pre-contrast phase (after N4).

**auto-ftv** is the functional tumour volume (FTV) of the ACRIN 6657 / I-SPY 1 trial (Hylton et al., Radiology
2012;263:663-672), the UCSF method of Partridge et al. (AJR 2005;184:1774-1781) built on Hylton's signal
enhancement ratio (Magn Reson Imaging Clin N Am 1999;7:411-420), with the defaults of the UCSF Breast Imaging
Research Group's own implementation (the 3D Slicer extension Breast_DCEMRI_FTV by R. Nadkarni, whose module 2
sets them): within the volume of interest (VOI) a voxel is tumour when

1. its pre-contrast intensity is at least the background threshold: `ftv_background_fraction` x the
   `ftv_background_percentile`-th percentile of the pre-contrast intensities in the VOI (UCSF: 60 % of the 95th
   percentile; the 95th rather than the maximum, which one bright voxel would set);
2. its early percent enhancement PE = (S_early - S_pre) / S_pre is at least `ftv_pe_threshold` (70 %);
3. its signal enhancement ratio (S_early - S_pre) / (S_late - S_pre) is >= 0, i.e. the late phase is not below
   the pre-contrast (UCSF's explicit SER >= 0);
4. at least `ftv_min_neighbours` (4) of its 26 neighbours pass 1 and 2 (UCSF's connectivity filter: isolated
   noise voxels go).

The FTV is the volume of these voxels. As the case's tumour *mask* radpath then keeps their largest 26-connected
component (the index lesion: enhancing vessels and parenchyma elsewhere in the VOI are dropped) and fills the
holes it encloses in 3D (non-enhancing necrosis inside the tumour belongs to its shape), as issue 22 asks.

Choices radpath makes where the literature assumes the I-SPY protocol:

* The background threshold assumes fat-suppressed T1 (I-SPY's protocol), where fat is dark and 60 % of the 95th
  percentile removes fat and noise. On a series not stated fat-suppressed fat is the brightest tissue: 60 % of
  its percentile would remove the gland and the tumour (about 45 % of fat on T1). There `ftv_background_fraction`
  defaults to 0.2, which removes air and noise only (`background_fraction`).
* The VOI is the given breast mask or SEG, else a box from the manifest (`mri.voi_boxes`), else the breast region
  radpath finds (`radpath.mri.breast`: chest wall and a skin band excluded). I-SPY's VOI is a radiologist's box
  around the lesion; with the whole breast as VOI the percentile is taken over the breast. Neighbours are
  counted within the VOI.
* The phases are the pipeline's early and late phases (effective times nearest 150 s and 450 s; I-SPY's early
  phase is ~2.5 min, its late ~7.5 min).

**auto-fcm** is the automatic alternative of the paper's robustness analysis (manual contours against fuzzy
C-means): fuzzy C-means (`radpath.mri.segment.fuzzy_cmeans`, the parenchyma's FCM generalised to several
features) of the VOI voxels above the background threshold, each described by its percent enhancement at the
early and at the late phase (the enhancement curve, as Chen, Giger & Bick, Acad Radiol 2006;13:63-72, cluster
lesion voxels), `fcm_tumour_clusters` clusters (3: non-enhancing tissue, background enhancement, lesion).
Voxels whose membership of the most-enhancing cluster (highest early-PE centroid) exceeds 0.5 are kept, then
the largest 26-connected component with holes filled, as for auto-ftv. PE is clipped to [-1, 4] before
clustering so that a few voxels with a near-zero pre-contrast signal cannot pull a centroid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

AUTO_METHODS = ("auto-ftv", "auto-fcm")
FCM_PE_RANGE = (-1.0, 4.0)
NOT_FAT_SUPPRESSED_FRACTION = 0.2
CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)          # 26-connected


class NoTumourFound(ValueError):
    """The rule left no voxel (the message says which step emptied the VOI)."""


@dataclass(frozen=True)
class AutoMask:
    method: str
    mask: np.ndarray             # bool (z, y, x) on the acquisition grid
    background: float            # pre-contrast threshold (intensity of the given pre-contrast array)
    candidates: int              # voxels passing the rule before the largest component was taken
    components: int              # 26-connected components among them
    voi_voxels: int

    @property
    def note(self) -> str:
        return (f"{self.method}: {self.candidates} voxel(s) passed in a VOI of {self.voi_voxels} "
                f"(background {self.background:.4g}); largest of {self.components} component(s) kept, "
                f"{int(self.mask.sum())} voxel(s) with holes filled")


def background_fraction(fraction: float | None, fat_suppressed: bool | None) -> float:
    """The background fraction used: the given one, else 0.6 on fat-suppressed series and 0.2 otherwise."""
    if fraction is not None:
        return float(fraction)
    return 0.6 if fat_suppressed else NOT_FAT_SUPPRESSED_FRACTION


def box_mask(shape: tuple[int, ...], box: Sequence[int]) -> np.ndarray:
    """A VOI box [x0, x1, y0, y1, z0, z1] (voxel indices of the pre-contrast grid, inclusive) as a (z, y, x) mask."""
    x0, x1, y0, y1, z0, z1 = (int(v) for v in box)
    out = np.zeros(shape, dtype=bool)
    out[max(z0, 0): z1 + 1, max(y0, 0): y1 + 1, max(x0, 0): x1 + 1] = True
    return out


def _crop(voi: np.ndarray) -> tuple[slice, ...]:
    where = np.argwhere(voi)
    lo, hi = where.min(axis=0), where.max(axis=0) + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def index_lesion(candidates: np.ndarray, fill_holes: bool = True) -> tuple[np.ndarray, int]:
    """(largest 26-connected component, holes filled in 3D; number of components) of a boolean array."""
    labels, n = ndimage.label(candidates, structure=CONNECTIVITY)
    if n == 0:
        return np.zeros(candidates.shape, bool), 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    lesion = labels == int(np.argmax(sizes))
    if fill_holes:
        lesion = ndimage.binary_fill_holes(lesion)
    return np.asarray(lesion, bool), int(n)


def ftv_candidates(pre: np.ndarray, early: np.ndarray, late: np.ndarray, voi: np.ndarray, background: float, *,
                   pe_threshold: float, min_neighbours: int) -> np.ndarray:
    """Voxels passing rules 1-4 of the module docstring (arrays (z, y, x) of one crop)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        pe = np.where(pre > 0, (early - pre) / pre, -np.inf)
    enhancing = voi & (pre >= background) & (pe >= pe_threshold)
    kernel = np.ones((3, 3, 3), dtype=np.int32)
    kernel[1, 1, 1] = 0
    neighbours = ndimage.convolve(enhancing.astype(np.int32), kernel, mode="constant", cval=0)
    return np.asarray(enhancing & (neighbours >= min_neighbours) & (late >= pre))


def fcm_candidates(pre: np.ndarray, early: np.ndarray, late: np.ndarray, voi: np.ndarray, background: float, *,
                   clusters: int, fuzziness: float) -> np.ndarray:
    """Voxels whose membership of the most-enhancing FCM cluster exceeds 0.5 (see the module docstring)."""
    from radpath.mri.segment import fuzzy_cmeans

    region = voi & (pre >= background) & (pre > 0)
    if int(region.sum()) < clusters:
        raise NoTumourFound(f"{int(region.sum())} VOI voxel(s) above the background threshold {background:.4g}")
    base = pre[region]
    points = np.stack([(early[region] - base) / base, (late[region] - base) / base], axis=1)
    fit = fuzzy_cmeans(np.clip(points, *FCM_PE_RANGE), clusters, fuzziness)
    out = np.zeros(pre.shape, dtype=bool)
    out[region] = fit.column(clusters - 1) > 0.5
    return out


def auto_mask(method: str, pre: np.ndarray, early: np.ndarray, late: np.ndarray, voi: np.ndarray,
              params: Any, fat_suppressed: bool | None) -> AutoMask:
    """The `method` (auto-ftv | auto-fcm) tumour mask of float arrays (z, y, x) of the acquisition grid within
    the boolean `voi`; `params` an `MRIParams`. NoTumourFound when nothing is left."""
    if method not in AUTO_METHODS:
        raise ValueError(f"unknown automatic tumour mask {method!r}; expected one of {', '.join(AUTO_METHODS)}")
    if not voi.any():
        raise NoTumourFound("the volume of interest is empty")
    box = _crop(voi)
    pre_c, early_c, late_c = (np.asarray(a[box], dtype=np.float64) for a in (pre, early, late))
    voi_c = voi[box]
    fraction = background_fraction(params.ftv_background_fraction, fat_suppressed)
    background = fraction * float(np.percentile(pre_c[voi_c], params.ftv_background_percentile))
    if method == "auto-ftv":
        candidates = ftv_candidates(pre_c, early_c, late_c, voi_c, background, pe_threshold=params.ftv_pe_threshold,
                                    min_neighbours=params.ftv_min_neighbours)
        if not candidates.any():
            raise NoTumourFound(f"no VOI voxel has PE >= {params.ftv_pe_threshold:g} above the background "
                                f"threshold {background:.4g} with {params.ftv_min_neighbours} such neighbours")
    else:
        candidates = fcm_candidates(pre_c, early_c, late_c, voi_c, background, clusters=params.fcm_tumour_clusters,
                                    fuzziness=params.fcm_fuzziness)
        if not candidates.any():
            raise NoTumourFound("no voxel belongs to the most-enhancing fuzzy C-means cluster")
    lesion, components = index_lesion(candidates, params.auto_mask_fill_holes)
    mask = np.zeros(voi.shape, dtype=bool)
    mask[box] = lesion
    return AutoMask(method, mask, background, int(candidates.sum()), components, int(voi.sum()))
