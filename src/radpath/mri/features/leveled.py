"""pyradiomics' feature classes given grey levels discretised once per map and region (issue 15, item 9).

pyradiomics bins the image inside every feature class it builds. The extended set bins each map and region once
(`bin_region`: `radiomics.imageoperations.binImage`, fixed bin width) and hands the levels 1..Ng to every class
(`feature_class`): the class's own binning is skipped, everything else is pyradiomics' code. Two steps of
pyradiomics' GLCM class that grow with the cube of the number of grey levels are computed another way with the
same formulas:

- `pxAddy` / `pxSuby` (sum and difference distributions): one `bincount` per angle instead of one boolean mask
  of the whole matrix per k;
- MCC's Q(i, j) = sum_k p(i, k) p(j, k) / (p_x(i) p_y(k) + eps): one matrix product per angle instead of a
  Python loop over k of Ng x Ng x angles arrays.

On a parenchyma region with ~150 occupied grey levels (SER over its clip range, bin width 0.05) these two steps
were the largest part of pyradiomics' GLCM class, its slowest class there. Values equal pyradiomics' to
rounding (tests/mri/test_extended_speed.py, 1e-9 relative).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np


class _GivenLevels:
    """Mixin of pyradiomics' feature classes: `_applyBinning` returns the grey levels given at construction
    (`levels`: int, 1..Ng in the mask, 0 outside, as `binImage` returns them; `present`: the levels in the mask)
    and records what pyradiomics' own binning records. The image keeps its raw values (first order needs them)."""

    coefficients: dict[str, Any]

    def __init__(self, image: Any, mask: Any, levels: np.ndarray, present: np.ndarray, **kwargs: Any) -> None:
        self._levels, self._present = levels, present
        super().__init__(image, mask, **kwargs)  # type: ignore[call-arg]

    def _applyBinning(self, matrix: np.ndarray) -> np.ndarray:
        self.coefficients["grayLevels"] = self._present
        self.coefficients["Ng"] = int(np.max(self._present))
        return self._levels


def bin_region(values: np.ndarray, mask: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(levels, levels present) of `values` in `mask` by pyradiomics' binning; the levels are read-only, shared
    by every class of the region."""
    from radiomics import imageoperations

    levels, _ = imageoperations.binImage(values, mask, **settings)
    present = np.unique(levels[mask])
    levels.flags.writeable = present.flags.writeable = False
    return levels, present


def _glcm_coefficients(self: Any) -> None:
    """`RadiomicsGLCM._calculateCoefficients` with the sum and difference distributions by bincount."""
    eps = np.spacing(1)
    ng = self.coefficients["Ng"]
    levels = self.coefficients["grayLevels"].astype("float")
    i, j = np.meshgrid(levels, levels, indexing="ij", sparse=True)
    k_sum = np.arange(2, (ng * 2) + 1, dtype="float")
    k_diff = np.arange(0, ng, dtype="float")
    p = self.P_glcm                                   # (Nv, Ng, Ng, angles)
    px = p.sum(2, keepdims=True)
    py = p.sum(1, keepdims=True)
    ux = np.sum(i[None, :, :, None] * p, (1, 2), keepdims=True)
    uy = np.sum(j[None, :, :, None] * p, (1, 2), keepdims=True)
    sum_index = (i + j - 2).astype(int).ravel()       # k = i + j, from 2
    diff_index = np.abs(i - j).astype(int).ravel()    # k = |i - j|, from 0
    n_v, n_a = p.shape[0], p.shape[3]
    px_add_y = np.empty((n_v, len(k_sum), n_a))
    px_sub_y = np.empty((n_v, len(k_diff), n_a))
    for v in range(n_v):
        for a in range(n_a):
            weights = p[v, :, :, a].ravel()
            px_add_y[v, :, a] = np.bincount(sum_index, weights, minlength=len(k_sum))
            px_sub_y[v, :, a] = np.bincount(diff_index, weights, minlength=len(k_diff))
    hxy = (-1) * np.sum((p * np.log2(p + eps)), (1, 2))
    self.coefficients.update({
        "eps": eps, "i": i, "j": j, "kValuesSum": k_sum, "kValuesDiff": k_diff, "px": px, "py": py, "ux": ux,
        "uy": uy, "pxAddy": px_add_y, "pxSuby": px_sub_y, "HXY": hxy,
    })


def _glcm_mcc(self: Any) -> Any:
    """`RadiomicsGLCM.getMCCFeatureValue` with Q as a matrix product per angle."""
    px, py, eps = self.coefficients["px"], self.coefficients["py"], self.coefficients["eps"]
    p = self.P_glcm
    q = np.empty((p.shape[0], p.shape[3], p.shape[1], p.shape[1]))    # (Nv, angles, Ng, Ng)
    for v in range(p.shape[0]):
        for a in range(p.shape[3]):
            weighted = p[v, :, :, a] / (px[v, :, 0, a][:, None] * py[v, 0, :, a][None, :] + eps)
            q[v, a] = weighted @ p[v, :, :, a].T
    eigenvalues = np.linalg.eigvals(q)
    eigenvalues.sort()
    if eigenvalues.shape[2] < 2:
        return 1  # flat region (pyradiomics' convention)
    return np.nanmean(np.sqrt(eigenvalues[:, :, -2]), 1).real


@cache
def feature_class(name: str) -> type:
    """pyradiomics' feature class `name` built as `(image, mask, levels, present, **settings)` (`_GivenLevels`)."""
    from radiomics import getFeatureClasses

    base = getFeatureClasses()[name]
    # __module__: the class logs to pyradiomics' logger (radpath sets it to ERROR), as the class it extends
    members: dict[str, Any] = {"__doc__": f"pyradiomics {name} on grey levels binned once (radpath).",
                               "__module__": base.__module__}
    if name == "glcm":
        members.update({"_calculateCoefficients": _glcm_coefficients, "getMCCFeatureValue": _glcm_mcc})
    return type(f"Leveled{base.__name__}", (_GivenLevels, base), members)


def run(feature: Any) -> dict[str, float]:
    """Every (non-deprecated) feature of one built feature class."""
    feature.enableAllFeatures()
    return {name: float(value) for name, value in feature.execute().items()}
