"""IBSI grey-level co-occurrence matrix features, 3D, averaged over the 13 directions (`_3D_avg`).

`glcm_features(image, mask, bin_width=None, bin_count=None)` discretises the intensities within the
mask (fixed bin size: floor((x - min) / w) + 1; fixed bin number: floor(n (x - min) / (max - min)) + 1,
the maximum in bin n; neither: values are already grey levels), builds one symmetric GLCM per
direction at Chebyshev distance 1, computes the IBSI features of each, and averages them. Keys are
the IBSI tags without the `_3D_avg` suffix (`cm_energy`, `cm_joint_entr`, `cm_corr`, `cm_clust_shade`, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

DIRECTIONS = [
    (dz, dy, dx)
    for dz in (-1, 0, 1) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    if (dz, dy, dx) > (0, 0, 0)
]
FEATURES = (
    "cm_joint_max", "cm_joint_avg", "cm_joint_var", "cm_joint_entr", "cm_diff_avg", "cm_diff_var",
    "cm_diff_entr", "cm_sum_avg", "cm_sum_var", "cm_sum_entr", "cm_energy", "cm_contrast",
    "cm_dissimilarity", "cm_inv_diff", "cm_inv_diff_norm", "cm_inv_diff_mom", "cm_inv_diff_mom_norm",
    "cm_inv_var", "cm_corr", "cm_auto_corr", "cm_clust_tend", "cm_clust_shade", "cm_clust_prom",
    "cm_info_corr1", "cm_info_corr2",
)


def _as_arrays(image: Any, mask: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(image, np.ndarray):
        return np.asarray(image, dtype=np.float64), np.asarray(mask).astype(bool)
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(image).astype(np.float64), sitk.GetArrayFromImage(mask) > 0


def discretise(values: np.ndarray, bin_width: float | None = None, bin_count: int | None = None) -> np.ndarray:
    """Grey levels (1..Ng, int) of the ROI intensities `values` (1D)."""
    if bin_width is not None and bin_count is not None:
        raise ValueError("give bin_width or bin_count, not both")
    if bin_width is not None:
        return (np.floor((values - values.min()) / bin_width) + 1).astype(np.int64)
    if bin_count is not None:
        low, high = values.min(), values.max()
        if high == low:
            return np.ones(values.shape, dtype=np.int64)
        levels = np.floor(bin_count * (values - low) / (high - low)) + 1
        return np.minimum(levels, bin_count).astype(np.int64)
    levels = np.rint(values).astype(np.int64)
    if levels.min() < 1:
        raise ValueError("without discretisation the ROI values must be grey levels >= 1")
    return levels


def glcm_matrices(levels: np.ndarray, mask: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """One symmetric count matrix (n_levels x n_levels) per direction; `levels` 0 outside the mask."""
    padded = np.pad(np.where(mask, levels, 0), 1)
    inner = tuple(slice(1, n + 1) for n in levels.shape)
    matrices = []
    for dz, dy, dx in DIRECTIONS:
        shifted = padded[1 + dz: 1 + dz + levels.shape[0], 1 + dy: 1 + dy + levels.shape[1],
                         1 + dx: 1 + dx + levels.shape[2]]
        a = padded[inner]
        pair = (a > 0) & (shifted > 0)
        codes = (a[pair] - 1) * n_levels + (shifted[pair] - 1)
        counts = np.bincount(codes, minlength=n_levels * n_levels).reshape(n_levels, n_levels).astype(np.float64)
        matrices.append(counts + counts.T)
    return matrices


def _entropy(p: np.ndarray) -> float:
    nz = p[p > 0]
    return float(-(nz * np.log2(nz)).sum())


def matrix_features(counts: np.ndarray) -> dict[str, float]:
    """IBSI GLCM features of one co-occurrence count matrix."""
    total = counts.sum()
    if total == 0:
        return {name: float("nan") for name in FEATURES}
    p = counts / total
    ng = p.shape[0]
    i, j = np.meshgrid(np.arange(1, ng + 1), np.arange(1, ng + 1), indexing="ij")
    px, py = p.sum(axis=1), p.sum(axis=0)
    levels = np.arange(1, ng + 1)
    mu_x, mu_y = float((levels * px).sum()), float((levels * py).sum())
    sd_x = float(np.sqrt(((levels - mu_x) ** 2 * px).sum()))
    sd_y = float(np.sqrt(((levels - mu_y) ** 2 * py).sum()))
    mu = float((i * p).sum())
    diff = np.abs(i - j)
    p_diff = np.bincount(diff.ravel(), weights=p.ravel(), minlength=ng)
    k_diff = np.arange(ng)
    p_sum = np.bincount((i + j).ravel(), weights=p.ravel(), minlength=2 * ng + 1)
    k_sum = np.arange(2 * ng + 1)
    diff_avg = float((k_diff * p_diff).sum())
    sum_avg = float((k_sum * p_sum).sum())
    hxy = _entropy(p)
    outer = np.outer(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_outer = np.where(outer > 0, np.log2(np.where(outer > 0, outer, 1.0)), 0.0)
    hxy1 = float(-(p * log_outer).sum())
    hxy2 = float(-(outer * log_outer).sum())
    hx, hy = _entropy(px), _entropy(py)
    off = i != j
    cross = i + j - mu_x - mu_y
    corr = ((i * j * p).sum() - mu_x * mu_y) / (sd_x * sd_y) if sd_x > 0 and sd_y > 0 else float("nan")
    return {
        "cm_joint_max": float(p.max()),
        "cm_joint_avg": mu,
        "cm_joint_var": float(((i - mu) ** 2 * p).sum()),
        "cm_joint_entr": hxy,
        "cm_diff_avg": diff_avg,
        "cm_diff_var": float(((k_diff - diff_avg) ** 2 * p_diff).sum()),
        "cm_diff_entr": _entropy(p_diff),
        "cm_sum_avg": sum_avg,
        "cm_sum_var": float(((k_sum - sum_avg) ** 2 * p_sum).sum()),
        "cm_sum_entr": _entropy(p_sum),
        "cm_energy": float((p ** 2).sum()),
        "cm_contrast": float(((i - j) ** 2 * p).sum()),
        "cm_dissimilarity": float((diff * p).sum()),
        "cm_inv_diff": float((p / (1 + diff)).sum()),
        "cm_inv_diff_norm": float((p / (1 + diff / ng)).sum()),
        "cm_inv_diff_mom": float((p / (1 + diff ** 2)).sum()),
        "cm_inv_diff_mom_norm": float((p / (1 + diff ** 2 / ng ** 2)).sum()),
        "cm_inv_var": float((p[off] / (diff[off] ** 2)).sum()),
        "cm_corr": float(corr),
        "cm_auto_corr": float((i * j * p).sum()),
        "cm_clust_tend": float((cross ** 2 * p).sum()),
        "cm_clust_shade": float((cross ** 3 * p).sum()),
        "cm_clust_prom": float((cross ** 4 * p).sum()),
        "cm_info_corr1": float((hxy - hxy1) / max(hx, hy)) if max(hx, hy) > 0 else 0.0,
        "cm_info_corr2": float(np.sqrt(max(0.0, 1 - np.exp(-2 * (hxy2 - hxy))))),
    }


def glcm_features(
    image: Any, mask: Any, bin_width: float | None = None, bin_count: int | None = None
) -> dict[str, float]:
    """IBSI 3D-averaged GLCM features of `image` within `mask` (SimpleITK images or (z, y, x) arrays)."""
    values, roi = _as_arrays(image, mask)
    if values.shape != roi.shape:
        raise ValueError(f"image {values.shape} and mask {roi.shape} differ in shape")
    if not roi.any():
        raise ValueError("the mask is empty")
    levels = np.zeros(values.shape, dtype=np.int64)
    levels[roi] = discretise(values[roi], bin_width, bin_count)
    n_levels = int(levels.max())
    per_direction = [matrix_features(m) for m in glcm_matrices(levels, roi, n_levels) if m.sum() > 0]
    if not per_direction:
        return {name: float("nan") for name in FEATURES}
    return {name: float(np.mean([f[name] for f in per_direction])) for name in FEATURES}
