"""Breast and fibroglandular parenchyma segmentation on the pre-contrast image.

The breast region (body-air boundary, chest wall and skin band excluded) is built in `radpath.mri.breast`.
The parenchyma is found by fuzzy C-means on the pre-contrast intensities within the
breast, excluding the tumour: voxels whose membership of the parenchymal cluster (the darkest on
non-fat-suppressed T1, the brightest on fat-suppressed images) exceeds a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def breast_mask(pre: Any) -> Any:
    """Foreground (body) mask of a pre-contrast SimpleITK image (see `radpath.mri.breast.body_mask`)."""
    from radpath.mri.breast import body_mask

    return body_mask(pre)


@dataclass(frozen=True)
class FCMResult:
    centroids: np.ndarray        # sorted ascending
    membership: np.ndarray       # (n_voxels, clusters) memberships of the input voxels, columns as centroids


def fuzzy_cmeans_1d(values: np.ndarray, clusters: int = 2, m: float = 2.0, iterations: int = 50,
                    bins: int = 256, tol: float = 1e-6) -> FCMResult:
    """Fuzzy C-means of scalar intensities, fitted on their histogram (exact for the binned values)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size < clusters:
        raise ValueError(f"fuzzy C-means needs at least {clusters} voxels, found {values.size}")
    counts, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    keep = counts > 0
    x, w = centres[keep], counts[keep].astype(float)
    c = np.quantile(values, (np.arange(clusters) + 0.5) / clusters)
    if np.unique(c).size < clusters:
        # one tissue holds most voxels (fat around a small gland): equal quantiles would start every centroid at
        # the same value, where fuzzy C-means stays; start them spread over the intensity range instead
        c = values.min() + (np.arange(clusters) + 0.5) / clusters * (values.max() - values.min())
    exponent = 2.0 / (m - 1.0)
    for _ in range(iterations):
        u = _membership(x, c, exponent)
        um = (u ** m) * w[:, None]
        new = (um * x[:, None]).sum(axis=0) / um.sum(axis=0)
        if np.abs(new - c).max() < tol * (np.abs(c).max() + 1e-12):
            c = new
            break
        c = new
    order = np.argsort(c)
    c = c[order]
    return FCMResult(c, _membership(values, c, exponent))


def _membership(x: np.ndarray, c: np.ndarray, exponent: float) -> np.ndarray:
    d = np.abs(x[:, None] - c[None, :]) + 1e-12
    ratio = (d[:, :, None] / d[:, None, :]) ** exponent
    return 1.0 / ratio.sum(axis=2)


def parenchyma_mask(pre: np.ndarray, breast: np.ndarray, tumour: np.ndarray, *, clusters: int = 2,
                    fuzziness: float = 2.0, threshold: float = 0.5, darkest: bool = True) -> np.ndarray:
    """Boolean parenchyma of arrays (z, y, x): breast minus tumour, FCM membership of the parenchymal cluster."""
    region = breast.astype(bool) & ~tumour.astype(bool)
    values = pre[region]
    result = fuzzy_cmeans_1d(values, clusters, fuzziness)
    column = 0 if darkest else clusters - 1
    out = np.zeros(pre.shape, dtype=bool)
    out[region] = result.membership[:, column] > threshold
    return out
