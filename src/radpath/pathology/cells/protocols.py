"""The official detection evaluations of the TIGER challenge and of the PathoNet paper, on plain arrays.

radpath's own protocol (`matching`: optimal one-to-one matching, the best sensitivity reached at each false
positive rate) answers "how good is this detector"; the two protocols here answer "what number would the
leaderboard or the paper print for it". Their definitions are taken from the public evaluation code and
restated here (no code copied); where the official code fails or leaves an order open, what radpath does is
said.

TIGER lymphocyte detection (DIAGNijmegen/pathology-tiger-algorithm-example, `evaluations/
eval_det_froc_snippet.py`, with evalutils' `score_detection`):

* Input per ROI: ground-truth points (x, y) and predicted points (x, y, probability), in slide pixels at
  0.5 µm/px; the ROIs' total area in mm².
* Thresholds: every unique prediction probability over all ROIs, from the highest to the lowest; at a
  threshold the predictions with probability >= it are kept.
* Matching (`score_detection`, per ROI): the ground-truth points are visited in their given order; each takes
  the nearest prediction within the radius (distance <= 8 px, i.e. 4 µm at 0.5 µm/px) that no earlier
  ground-truth point took, else it is a false negative. Predictions left over are false positives. This is a
  greedy matching: a prediction between two cells can go to the first cell although the second had no other
  partner, so it can count fewer true positives than an optimal matching. Equal distances: the official
  order is scikit-learn's BallTree's (not specified); here the lower prediction index comes first.
* Per threshold, over all ROIs: sensitivity = TP / (TP + FN), false positives per mm² = FP / area.
* FROC: when the first rate is not 0, a point (0 FP/mm², sensitivity 0) is put in front; for each target rate
  (10, 20, 50, 100, 200, 300 /mm²) beyond the largest rate of the curve, a point (target, the last
  sensitivity) is appended. The sensitivity at a target is that of the last point whose rate is <= the target
  (`bisect.bisect_right(rates, target) - 1`: with rates not increasing along the curve this is still the
  official pick). The FROC score is the mean over the targets. Without any prediction the official code fails
  (no threshold); here the curve is the single point (0, 0) and every sensitivity 0. Without ground truth the
  sensitivity is NaN (0 / 0).

The matching at a threshold only depends, within one group of points linked by distances <= the radius, on
which of that group's predictions are kept; so each group is matched once per probability of its own
predictions and the curve over all thresholds is summed from the groups (the same counts as matching every
ROI at every threshold, which the tests check against a plain loop).

PathoNet (SHIDCenter/PathoNet, `evaluation.py`), per image and per class:

* Labels (x, y) in the image's pixels are scaled to the network input: int(int(x) * 256 / 1024), clamped to
  0..256 (the same for y); the official code assumes 1024 x 1024 images (`image_px`). Predictions are the
  pipeline's cell centres on the 256 x 256 network input.
* Each label point picks its nearest prediction (the first in order on equal distances); the pick counts
  only when that distance is below 20 px (strictly: at exactly 20 px the official code's sentinel wins). TP is
  the number of distinct predictions so picked (two labels picking one prediction give one TP and, the second
  label finding nothing else, one FN); FP = predictions - TP, FN = labels - TP.
* Precision, recall and F1 per class from TP, FP, FN summed over the images. The official code adds 1e-8 to
  each denominator (0 for an empty class); radpath reports NaN there.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from radpath.pathology.cells.matching import FROC_FP_PER_MM2, class_metrics

TIGER_RADIUS_PX = 8.0          # score_detection's radius in the evaluation snippet (pixels at 0.5 µm/px)
TIGER_MPP = 0.5
TIGER_RADIUS_UM = TIGER_RADIUS_PX * TIGER_MPP
PATHONET_RADIUS_PX = 20.0      # evaluation.py's distance_thr, at the network input
PATHONET_INPUT_PX = (256, 256)
PATHONET_IMAGE_PX = (1024, 1024)


def _points(xy: np.ndarray | Sequence[Sequence[float]], columns: int = 2) -> np.ndarray:
    array = np.asarray(xy, np.float64)
    return array.reshape(-1, array.shape[-1] if array.size else columns)


def _candidates(true_xy: np.ndarray, pred_xy: np.ndarray, radius: float) -> list[np.ndarray]:
    """Per ground-truth point, the predictions within `radius` (inclusive), nearest first, then by index."""
    from scipy.spatial import cKDTree

    if len(true_xy) == 0 or len(pred_xy) == 0:
        return [np.zeros(0, np.int64) for _ in range(len(true_xy))]
    near = cKDTree(pred_xy).query_ball_point(true_xy, radius + 1e-9 * max(1.0, radius))
    out = []
    for i, found in enumerate(near):
        idx = np.asarray(found, np.int64)
        d = np.hypot(*(pred_xy[idx] - true_xy[i]).T) if len(idx) else np.zeros(0)
        keep = d <= radius
        idx, d = idx[keep], d[keep]
        out.append(idx[np.lexsort((idx, d))])
    return out


def greedy_match(true_xy: np.ndarray | Sequence[Sequence[float]], pred_xy: np.ndarray | Sequence[Sequence[float]],
                 radius: float) -> list[tuple[int, int]]:
    """TIGER's (evalutils `score_detection`) pairs (i_true, j_pred): each ground-truth point in order takes its
    nearest free prediction within `radius` (see the module docstring). TP = len(pairs)."""
    true, pred = _points(true_xy), _points(pred_xy)
    taken = np.zeros(len(pred), bool)
    pairs = []
    for i, options in enumerate(_candidates(true, pred, radius)):
        for j in options:
            if not taken[j]:
                taken[j] = True
                pairs.append((i, int(j)))
                break
    return pairs


@dataclass(frozen=True)
class TigerCurve:
    """Counts over all ROIs at each threshold (every unique probability, highest first)."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @property
    def sensitivity(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(self.tp / (self.tp + self.fn), np.float64)


def _roi_steps(true: np.ndarray, pred: np.ndarray, prob: np.ndarray, radius: float
               ) -> tuple[list[float], list[int]]:
    """(probability, change of TP) steps of one ROI: TP at threshold t = sum of the changes at probabilities >= t."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    options = _candidates(true, pred, radius)
    rows = np.repeat(np.arange(len(true)), [len(o) for o in options])
    cols = np.concatenate(options) if options else np.zeros(0, np.int64)
    if len(rows) == 0:
        return [], []
    n, m = len(true), len(pred)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols + n)), shape=(n + m, n + m))
    _, component = connected_components(graph, directed=False)
    linked_true = np.unique(rows)                                           # ground truth, in order
    group = component[linked_true]
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    steps_p: list[float] = []
    steps_d: list[int] = []
    for members in np.split(linked_true[order], bounds):
        preds = np.unique(np.concatenate([options[i] for i in members]))
        before = 0
        for t in np.unique(prob[preds])[::-1]:
            kept = np.zeros(m, bool)
            kept[preds[prob[preds] >= t]] = True
            tp = 0
            for i in members:
                for j in options[i]:
                    if kept[j]:
                        kept[j] = False
                        tp += 1
                        break
            if tp != before:
                steps_p.append(float(t))
                steps_d.append(tp - before)
                before = tp
    return steps_p, steps_d


def tiger_curve(
    rois: Sequence[tuple[np.ndarray | Sequence[Sequence[float]], np.ndarray | Sequence[Sequence[float]]]],
    radius: float = TIGER_RADIUS_PX,
) -> TigerCurve:
    """TP, FP, FN at every unique probability: `rois` = [(ground truth (n, 2) x, y; predictions (k, 3) x, y, p)]."""
    parts = [(_points(t), _points(p, 3)) for t, p in rois]
    for _, p in parts:
        if len(p) and p.shape[1] != 3:
            raise ValueError(f"predictions must be (x, y, probability) rows, got {p.shape[1]} columns")
    probs = np.concatenate([p[:, 2] for _, p in parts if len(p)] or [np.zeros(0)])
    thresholds = np.unique(probs)[::-1]
    position = {float(t): k for k, t in enumerate(thresholds)}
    gain = np.zeros(len(thresholds), np.int64)
    count = np.zeros(len(thresholds), np.int64)
    n_true = 0
    for true, pred in parts:
        n_true += len(true)
        if len(pred) == 0:
            continue
        np.add.at(count, [position[float(v)] for v in pred[:, 2]], 1)
        for t, d in zip(*_roi_steps(true, pred[:, :2], pred[:, 2], radius), strict=True):
            gain[position[t]] += d
    tp = np.cumsum(gain)
    kept = np.cumsum(count)
    return TigerCurve(thresholds, tp.astype(float), (kept - tp).astype(float), (n_true - tp).astype(float))


def tiger_froc_score(sensitivity: Sequence[float], fp_per_mm2: Sequence[float],
                     targets: Sequence[float] = FROC_FP_PER_MM2) -> tuple[float, list[float]]:
    """TIGER's FROC score and the sensitivity at each target rate from a curve ordered from the highest threshold
    (see the module docstring: (0, 0) put in front, the last sensitivity carried past the end, bisect_right - 1)."""
    rates, sens = [float(v) for v in fp_per_mm2], [float(v) for v in sensitivity]
    if len(rates) != len(sens):
        raise ValueError(f"{len(sens)} sensitivities but {len(rates)} false positive rates")
    if not rates or rates[0] != 0:
        rates.insert(0, 0.0)
        sens.insert(0, 0.0)
    for target in targets:
        if target > max(rates):
            rates.append(float(target))
            sens.append(sens[-1])
    picked = [sens[min(bisect.bisect_right(rates, target) - 1, len(sens) - 1)] for target in targets]
    return float(sum(picked) / len(picked)), picked


def tiger_froc(
    rois: Sequence[tuple[np.ndarray | Sequence[Sequence[float]], np.ndarray | Sequence[Sequence[float]]]],
    area_mm2: float, radius: float = TIGER_RADIUS_PX, targets: Sequence[float] = FROC_FP_PER_MM2,
) -> dict[str, float]:
    """TIGER's FROC of point detections: sens@<target> per target rate, "froc" (their mean) and the number of
    thresholds swept ("n_thresholds"). `rois` as `tiger_curve`; `area_mm2` the ROIs' total area."""
    if not area_mm2 > 0:
        raise ValueError(f"the ROIs' area must be positive, got {area_mm2} mm2")
    curve = tiger_curve(rois, radius)
    score, picked = tiger_froc_score(curve.sensitivity.tolist(), (curve.fp / area_mm2).tolist(), targets)
    out = {f"sens@{t:g}": s for t, s in zip(targets, picked, strict=True)}
    out["froc"] = score
    out["n_thresholds"] = float(len(curve.thresholds))
    return out


def pathonet_label_points(xy: np.ndarray | Sequence[Sequence[float]], image_px: tuple[int, int] = PATHONET_IMAGE_PX,
                          input_px: tuple[int, int] = PATHONET_INPUT_PX) -> np.ndarray:
    """Label points (x, y) of an image of `image_px` (width, height) on the network input of `input_px`:
    int(int(v) * input / image), clamped to 0..input (PathoNet's `read_labels`)."""
    points = _points(xy)
    out = np.empty_like(points)
    for axis in (0, 1):
        scaled = np.trunc(np.trunc(points[:, axis]) * (input_px[axis] / image_px[axis]))
        out[:, axis] = np.clip(scaled, 0, input_px[axis])
    return out


def pathonet_counts(true_xy: np.ndarray | Sequence[Sequence[float]], pred_xy: np.ndarray | Sequence[Sequence[float]],
                    radius: float = PATHONET_RADIUS_PX) -> tuple[int, int, int]:
    """(TP, FP, FN) of one class on one image by PathoNet's rule (see the module docstring); both point sets on
    the network input."""
    true, pred = _points(true_xy), _points(pred_xy)
    if len(true) == 0 or len(pred) == 0:
        return 0, len(pred), len(true)
    d = np.hypot(pred[:, None, 0] - true[None, :, 0], pred[:, None, 1] - true[None, :, 1])
    nearest = np.argmin(d, axis=0)
    hit = d[nearest, np.arange(len(true))] < radius
    tp = len(np.unique(nearest[hit]))
    return tp, len(pred) - tp, len(true) - tp


def pathonet_image_counts(
    true_xy: np.ndarray | Sequence[Sequence[float]], true_class: Sequence[str] | np.ndarray,
    pred_xy: np.ndarray | Sequence[Sequence[float]], pred_class: Sequence[str] | np.ndarray,
    classes: Sequence[str], *, image_px: tuple[int, int] = PATHONET_IMAGE_PX,
    input_px: tuple[int, int] = PATHONET_INPUT_PX, radius: float = PATHONET_RADIUS_PX,
) -> dict[str, dict[str, float]]:
    """Per class of one image: tp, fp, fn, precision, recall, f1 by PathoNet's rule, plus "all" and "macro"
    (as `matching.match_cells`, so `matching.add_counts` pools images). Labels in the image's pixels
    (`image_px` = width, height), predictions on the network input (`input_px`)."""
    labels = pathonet_label_points(true_xy, image_px, input_px)
    pred = _points(pred_xy)
    tc = np.asarray(true_class, dtype=object).astype(str)
    pc = np.asarray(pred_class, dtype=object).astype(str)
    return class_metrics({cls: pathonet_counts(labels[tc == cls], pred[pc == cls], radius) for cls in classes})
