"""From a density map to cell centres (PathoNet's post-processing) and non-maximum suppression.

PathoNet (Negahbani et al. 2021, "Methodology" and Fig. 7): each class channel of the predicted density
map is thresholded to a binary image; the distance transform of that image scores region centres high
and borders low; a watershed on the inverted distance transform splits touching cells; each region
gives one centre. Here the markers of the watershed are the local maxima of the distance transform at
least `min_distance` pixels apart (scikit-image `peak_local_max`), and a region's centre is its
density-weighted centroid (`scipy.ndimage.center_of_mass`), so sub-pixel centres come out of smooth maps.

`nms` keeps, among scored points, the highest-scoring one within `radius` and drops the others (the IHC
lymphocyte paper's non-maximum suppression of overlapping patch detections).
"""

from __future__ import annotations

import numpy as np


def density_centres(
    density: np.ndarray, threshold: float, *, min_distance: int = 3, min_area: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Centres ((n, 2) x, y float pixels) and scores (peak density, n) of one class's density map."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    density = np.asarray(density, np.float32)
    binary = density > threshold
    if not binary.any():
        return np.zeros((0, 2)), np.zeros(0, np.float32)
    distance = ndi.distance_transform_edt(binary)
    regions, n_regions = ndi.label(binary)
    # peaks over the whole map (scikit-image's per-label loop is slow on many small regions); distance is 0
    # between regions, so a peak lies in one region; a region whose peak a neighbour suppressed gets a marker below
    peaks = peak_local_max(distance, min_distance=max(1, int(min_distance)), threshold_abs=0.5, exclude_border=False)
    markers = np.zeros(density.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # a region without a peak (a one-pixel plateau edge case) still gets a marker
    has_peak = np.zeros(n_regions + 1, bool)
    has_peak[regions[tuple(peaks.T)]] = True
    for label in np.flatnonzero(~has_peak[1:]) + 1:
        y, x = np.argwhere(regions == label)[0]
        markers[y, x] = markers.max() + 1
    labels = watershed(-distance, markers, mask=binary)
    index = np.arange(1, int(labels.max()) + 1)
    if index.size == 0:
        return np.zeros((0, 2)), np.zeros(0, np.float32)
    area = ndi.sum_labels(np.ones_like(density), labels, index)
    weights = np.clip(density, 0.0, None)
    centres = np.array(ndi.center_of_mass(weights, labels, index), np.float64).reshape(-1, 2)
    score = np.asarray(ndi.maximum(density, labels, index), np.float32)
    keep = (area >= min_area) & np.isfinite(centres).all(axis=1)
    return centres[keep][:, ::-1].copy(), score[keep]


def map_centres(
    density: np.ndarray, thresholds: list[float], classes: list[str], *, min_distance: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres of every channel of a (C, H, W) density map: xy (n, 2), class names (n,), scores (n,)."""
    xys, names, scores = [], [], []
    for channel, threshold, cls in zip(density, thresholds, classes, strict=True):
        xy, score = density_centres(channel, threshold, min_distance=min_distance)
        xys.append(xy)
        names += [cls] * len(xy)
        scores.append(score)
    return (np.concatenate(xys) if xys else np.zeros((0, 2)), np.array(names, dtype=object).astype(str),
            np.concatenate(scores) if scores else np.zeros(0, np.float32))


def nms(xy: np.ndarray, score: np.ndarray, radius: float) -> np.ndarray:
    """Indices of the points kept by greedy non-maximum suppression within `radius` (highest score first)."""
    from scipy.spatial import cKDTree

    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    order = np.argsort(-np.asarray(score), kind="stable")
    if len(order) == 0:
        return order
    tree = cKDTree(xy)
    suppressed = np.zeros(len(xy), bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed[tree.query_ball_point(xy[i], radius)] = True
    return np.array(keep, np.int64)
