"""Evaluation of detected cells against labelled centres (the papers' protocol) and TIGER's FROC.

A detection is a true positive when it lies within `radius` of a ground-truth cell of the same class,
each truth cell matched at most once and each detection at most once; among the matchings, the one
with the most matches and, among those, the smallest total distance is taken (an optimal assignment,
`scipy.optimize.linear_sum_assignment`, so a detection between two cells never steals the only partner
of another, as a greedy closest-first loop can). Matching is solved per connected group of points that
lie within `radius` of each other (a KD-tree finds the pairs), so whole slides stay cheap.

`match_cells` returns per class tp, fp, fn, precision, recall, f1, plus "all" (TP/FP/FN pooled over the
classes, the papers' "Average") and "macro" (the mean of the per-class precision, recall and F1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FROC_FP_PER_MM2 = (10, 20, 50, 100, 200, 300)   # TIGER's lymphocyte detection operating points


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def match_points(pred: np.ndarray, true: np.ndarray, radius: float) -> list[tuple[int, int]]:
    """Optimal (max count, then min total distance) one-to-one pairs (i_pred, j_true) within `radius`."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pred = np.asarray(pred, np.float64).reshape(-1, 2)
    true = np.asarray(true, np.float64).reshape(-1, 2)
    if len(pred) == 0 or len(true) == 0:
        return []
    close = cKDTree(pred).sparse_distance_matrix(cKDTree(true), radius, output_type="coo_matrix")
    keep = close.data <= radius
    rows, cols, dist = close.row[keep], close.col[keep], close.data[keep]
    if len(rows) == 0:
        return []
    n, m = len(pred), len(true)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols + n)), shape=(n + m, n + m))
    _, component = connected_components(graph, directed=False)
    pairs: list[tuple[int, int]] = []
    big = radius * (min(n, m) + 1) + 1.0
    group_of_edge = component[rows]
    order = np.argsort(group_of_edge, kind="stable")
    bounds = np.flatnonzero(np.diff(group_of_edge[order])) + 1
    for edges in np.split(order, bounds):
        r, c, d = rows[edges], cols[edges], dist[edges]
        ur, ri = np.unique(r, return_inverse=True)
        uc, ci = np.unique(c, return_inverse=True)
        cost = np.full((len(ur), len(uc)), big)
        cost[ri, ci] = d
        a, b = linear_sum_assignment(cost)
        pairs += [(int(ur[i]), int(uc[j])) for i, j in zip(a, b, strict=True) if cost[i, j] <= radius]
    return pairs


def _metrics(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * tp, 2 * tp + fp + fn)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall, "f1": f1}


def class_metrics(counts: dict[str, tuple[int, int, int]]) -> dict[str, dict[str, float]]:
    """Per class (tp, fp, fn) -> tp, fp, fn, precision, recall, f1 per class, "all" (the counts pooled over the
    classes) and "macro" (the mean of the per-class precision, recall and F1 that are defined)."""
    out = {cls: _metrics(*c) for cls, c in counts.items()}
    out["all"] = _metrics(*(sum(int(c[k]) for c in counts.values()) for k in range(3)))
    per = [out[c] for c in counts]
    out["macro"] = {k: _mean([m[k] for m in per]) for k in ("precision", "recall", "f1")}
    return out


def match_cells(
    pred_xy: np.ndarray | Sequence[Sequence[float]], pred_class: Sequence[str] | np.ndarray,
    true_xy: np.ndarray | Sequence[Sequence[float]], true_class: Sequence[str] | np.ndarray, radius: float,
    classes: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per class (and "all", "macro"): tp, fp, fn, precision, recall, f1 (see the module docstring)."""
    pred_xy = np.asarray(pred_xy, np.float64).reshape(-1, 2)
    true_xy = np.asarray(true_xy, np.float64).reshape(-1, 2)
    pc, tc = np.asarray(pred_class, dtype=object).astype(str), np.asarray(true_class, dtype=object).astype(str)
    names = list(classes) if classes is not None else sorted(set(pc.tolist()) | set(tc.tolist()))
    counts = {}
    for cls in names:
        p, t = pred_xy[pc == cls], true_xy[tc == cls]
        tp = len(match_points(p, t, radius))
        counts[cls] = (tp, len(p) - tp, len(t) - tp)
    return class_metrics(counts)


def add_counts(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Pool two `match_cells` results (sums of tp, fp, fn; metrics recomputed) over images."""
    names = [k for k in {**a, **b} if k not in ("all", "macro")]

    def total(cls: str) -> tuple[int, int, int]:
        tp, fp, fn = (int(a.get(cls, {}).get(k, 0)) + int(b.get(cls, {}).get(k, 0)) for k in ("tp", "fp", "fn"))
        return tp, fp, fn

    return class_metrics({cls: total(cls) for cls in names})


def froc(
    images: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], area_mm2: float, radius: float,
    fp_per_mm2: Sequence[float] = FROC_FP_PER_MM2,
) -> dict[str, float]:
    """TIGER-style FROC of one class: `images` = [(pred_xy, pred_score, true_xy)], `area_mm2` their total area.

    For every score threshold the detections at or above it are matched; the sensitivity at a rate r is the
    highest sensitivity reached with at most r false positives per mm2. Returns sens@r per rate and their
    mean ("froc").
    """
    scores = np.concatenate([np.asarray(s, np.float64) for _, s, _ in images]) if images else np.zeros(0)
    n_true = sum(len(t) for _, _, t in images)
    thresholds = np.unique(scores)[::-1]
    if len(thresholds) > 200:
        thresholds = np.unique(np.quantile(scores, np.linspace(0, 1, 200)))[::-1]
    curve = []
    for t in thresholds:
        tp = fp = 0
        for xy, s, true in images:
            sel = np.asarray(s) >= t
            hit = len(match_points(np.asarray(xy)[sel], true, radius))
            tp, fp = tp + hit, fp + int(sel.sum()) - hit
        curve.append((fp, _ratio(tp, n_true)))
    return froc_points(curve, area_mm2, fp_per_mm2)


def froc_points(
    curve: Sequence[tuple[float, float]], area_mm2: float, fp_per_mm2: Sequence[float] = FROC_FP_PER_MM2,
) -> dict[str, float]:
    """sens@r per rate r and their mean ("froc") from operating points [(false positives, sensitivity)] over
    `area_mm2`: the highest sensitivity reached with at most r false positives per mm2 (0 when none is)."""
    curve = [(0.0, 0.0)] + [(fp / area_mm2 if area_mm2 > 0 else float("inf"), sens) for fp, sens in curve]
    out = {}
    for rate in fp_per_mm2:
        reached = [sens for fpr, sens in curve if fpr <= rate and np.isfinite(sens)]
        out[f"sens@{rate:g}"] = float(max(reached)) if reached else 0.0
    out["froc"] = float(np.mean([out[f"sens@{r:g}"] for r in fp_per_mm2]))
    return out
