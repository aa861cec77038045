"""Breast and fibroglandular parenchyma segmentation on the pre-contrast image.

The breast region (body-air boundary, chest wall and skin band excluded) is built in `radpath.mri.breast`.
The parenchyma is found by fuzzy C-means on the pre-contrast intensities within the
breast, excluding the tumour: voxels whose membership of the parenchymal cluster (the darkest on
non-fat-suppressed T1, the brightest on fat-suppressed images) exceeds a threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def breast_mask(pre: Any) -> Any:
    """Foreground (body) mask of a pre-contrast SimpleITK image (see `radpath.mri.breast.body_mask`)."""
    from radpath.mri.breast import body_mask

    return body_mask(pre)


class FCMResult:
    """Fitted fuzzy C-means: `centroids` ((clusters,) for scalars, else (clusters, features)), sorted by the first
    feature, and the memberships of the voxels it was fitted on (`membership`: every column; `column(k)`: one,
    a fraction of the work)."""

    def __init__(self, centroids: np.ndarray, points: np.ndarray, exponent: float) -> None:
        self.centroids = centroids
        self._points, self._exponent = points, exponent
        self._c = centroids.reshape(len(centroids), -1)

    @property
    def membership(self) -> np.ndarray:
        """(n_voxels, clusters) memberships of the input voxels, columns as the centroids."""
        return _membership(self._points, self._c, self._exponent)

    def column(self, k: int) -> np.ndarray:
        """Membership of cluster `k` of every input voxel (equal to `membership[:, k]`, bit for bit)."""
        return _membership(self._points, self._c, self._exponent, k)[:, 0]


def _fit(x: np.ndarray, w: np.ndarray, c: np.ndarray, m: float, iterations: int, tol: float) -> np.ndarray:
    """Centroids (clusters, features) of weighted points `x` (k, features) from the start `c`."""
    exponent = 2.0 / (m - 1.0)
    for _ in range(iterations):
        um = (_membership(x, c, exponent) ** m) * w[:, None]
        new = (um.T @ x) / um.sum(axis=0)[:, None] if x.shape[1] > 1 else \
            ((um * x).sum(axis=0) / um.sum(axis=0))[:, None]
        if np.abs(new - c).max() < tol * (np.abs(c).max() + 1e-12):
            return new
        c = new
    return c


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
    c = _fit(x[:, None], w, c[:, None], m, iterations, tol)[:, 0]
    return FCMResult(np.sort(c), values[:, None], 2.0 / (m - 1.0))


def fuzzy_cmeans(points: np.ndarray, clusters: int = 3, m: float = 2.0, iterations: int = 100, bins: int = 64,
                 tol: float = 1e-6) -> FCMResult:
    """Fuzzy C-means of voxels with several features (`points`: (n_voxels, features)), fitted on their joint
    histogram (`bins` per feature) as `fuzzy_cmeans_1d` is on the intensity histogram; centroids start spread
    along the first feature's quantiles and come back sorted by it."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] < clusters:
        raise ValueError(f"fuzzy C-means needs at least {clusters} voxels, found {points.shape[0]}")
    counts, edges = np.histogramdd(points, bins=bins)
    centres = np.meshgrid(*[(e[:-1] + e[1:]) / 2 for e in edges], indexing="ij")
    keep = counts > 0
    x = np.stack([axis[keep] for axis in centres], axis=1)
    order = np.argsort(points[:, 0], kind="stable")
    starts = order[((np.arange(clusters) + 0.5) / clusters * (len(order) - 1)).astype(int)]
    c = _fit(x, counts[keep].astype(float), points[starts].copy(), m, iterations, tol)
    return FCMResult(c[np.argsort(c[:, 0], kind="stable")], points, 2.0 / (m - 1.0))


CHUNK = 1 << 16      # voxels per block of `_membership`: its temporaries stay in cache (same values, ~2x faster)


def _membership(x: np.ndarray, c: np.ndarray, exponent: float, column: int | None = None) -> np.ndarray:
    """Memberships (n, clusters) of points `x` (n, features) in clusters `c` (clusters, features), or of the one
    `column` ((n, 1)): u_k = 1 / sum_j (d_k / d_j)^exponent, d Euclidean (|x - c| for one feature)."""
    if len(x) > CHUNK:
        out = np.empty((len(x), len(c) if column is None else 1))
        for start in range(0, len(x), CHUNK):
            out[start: start + CHUNK] = _membership(x[start: start + CHUNK], c, exponent, column)
        return out
    diff = x[:, None, :] - c[None, :, :]
    d = (np.abs(diff[:, :, 0]) if x.shape[1] == 1 else np.sqrt((diff ** 2).sum(axis=2))) + 1e-12
    rows = d[:, :, None] if column is None else d[:, [column], None]
    ratio = (rows / d[:, None, :]) ** exponent
    return np.asarray(1.0 / ratio.sum(axis=2))


def parenchyma_mask(pre: np.ndarray, breast: np.ndarray, tumour: np.ndarray, *, clusters: int = 2,
                    fuzziness: float = 2.0, threshold: float = 0.5, darkest: bool = True) -> np.ndarray:
    """Boolean parenchyma of arrays (z, y, x): breast minus tumour, FCM membership of the parenchymal cluster."""
    region = breast.astype(bool) & ~tumour.astype(bool)
    values = pre[region]
    result = fuzzy_cmeans_1d(values, clusters, fuzziness)
    out = np.zeros(pre.shape, dtype=bool)
    out[region] = result.column(0 if darkest else clusters - 1) > threshold
    return out
