"""TIGER's FROC and PathoNet's counting against hand-computed cases and against plain re-implementations of
the official definitions (DIAGNijmegen/pathology-tiger-algorithm-example `eval_det_froc_snippet.py` with
evalutils' `score_detection`; SHIDCenter/PathoNet `evaluation.py`), written here as the official text reads:
a loop over thresholds and ROIs with scikit-learn's BallTree, and a loop over labels."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest
from sklearn.neighbors import BallTree

from radpath.pathology.cells.matching import froc, match_points
from radpath.pathology.cells.protocols import (
    greedy_match,
    pathonet_counts,
    pathonet_image_counts,
    pathonet_label_points,
    tiger_curve,
    tiger_froc,
    tiger_froc_score,
)

TARGETS = (10, 20, 50, 100, 200, 300)


def reference_score_detection(gt: np.ndarray, pred: np.ndarray, radius: float) -> tuple[int, int, int]:
    """evalutils' score_detection as documented: ground truth in order, hits nearest first, each prediction once."""
    if len(gt) == 0:
        return 0, len(pred), 0
    if len(pred) == 0:
        return 0, 0, len(gt)
    hits = BallTree(pred).query_radius(gt, r=radius, return_distance=True, sort_results=True)[0]
    used = [False] * len(pred)
    tp = fn = 0
    for found in hits:
        for j in found:
            if not used[j]:
                used[j] = True
                tp += 1
                break
        else:
            fn += 1
    return tp, used.count(False), fn


def reference_froc(rois: list[tuple[np.ndarray, np.ndarray]], area_mm2: float, radius: float
                   ) -> tuple[float, list[float], list[tuple[int, int, int]]]:
    """The snippet's compute_scores + compute_froc_score: every unique probability, high to low."""
    probs = np.concatenate([p[:, 2] for _, p in rois if len(p)])
    counts = []
    for t in np.sort(np.unique(probs))[::-1]:
        tp = fp = fn = 0
        for gt, pred in rois:
            a, b, c = reference_score_detection(gt, pred[pred[:, 2] >= t, :2] if len(pred) else pred, radius)
            tp, fp, fn = tp + a, fp + b, fn + c
        counts.append((tp, fp, fn))
    tprs = [tp / (tp + fn) for tp, _, fn in counts]
    fps = [fp / area_mm2 for _, fp, _ in counts]
    if fps[0] != 0:
        fps.insert(0, 0)
        tprs.insert(0, 0)
    for t in TARGETS:
        if t > max(fps):
            fps.append(t)
            tprs.append(tprs[-1])
    sens = [tprs[min(bisect.bisect_right(fps, t) - 1, len(tprs) - 1)] for t in TARGETS]
    return sum(sens) / len(sens), sens, counts


def test_greedy_gives_the_shared_prediction_to_the_first_cell() -> None:
    # T1 (0, 0), T2 (10, 0); P1 (5, 0) is 5 px from both, P2 (-6, 0) 6 px from T1 only (radius 8).
    # Greedy: T1 takes its nearest, P1; T2 finds P1 taken and nothing else -> 1 TP. Optimal: T1-P2, T2-P1 -> 2 TP.
    true = np.array([[0.0, 0.0], [10.0, 0.0]])
    pred = np.array([[5.0, 0.0], [-6.0, 0.0]])
    assert greedy_match(true, pred, 8.0) == [(0, 0)]
    assert len(match_points(pred, true, 8.0)) == 2
    # the order of the ground truth decides: T2 first takes P1, T1 then takes P2
    assert greedy_match(true[::-1], pred, 8.0) == [(0, 0), (1, 1)]
    # the radius is inclusive (BallTree.query_radius): 8 px exactly is a hit
    assert greedy_match([[0.0, 0.0]], [[8.0, 0.0]], 8.0) == [(0, 0)]
    assert greedy_match([[0.0, 0.0]], [[8.01, 0.0]], 8.0) == []


def test_tiger_froc_where_greedy_and_optimal_differ_by_hand() -> None:
    # the case above with probabilities P1 0.9, P2 0.6 on a 0.01 mm2 ROI:
    # t = 0.9: T1-P1, 1 TP, 0 FP, sens 0.5; t = 0.6: T1-P1 again, P2 a FP: 100 FP/mm2, sens 0.5.
    # Curve (0, 0.5), (100, 0.5); 200 and 300 lie past its end: 0.5 carried. FROC 0.5.
    true = np.array([[0.0, 0.0], [10.0, 0.0]])
    pred = np.array([[5.0, 0.0, 0.9], [-6.0, 0.0, 0.6]])
    out = tiger_froc([(true, pred)], area_mm2=0.01)
    assert [out[f"sens@{t}"] for t in TARGETS] == [0.5] * 6 and out["froc"] == 0.5 and out["n_thresholds"] == 2
    curve = tiger_curve([(true, pred)])
    assert curve.thresholds.tolist() == [0.9, 0.6]
    assert (curve.tp.tolist(), curve.fp.tolist(), curve.fn.tolist()) == ([1, 1], [0, 1], [1, 1])
    # radpath's protocol (optimal matching) on the same points: at 0.6 both cells are found with 0 FP -> 1.0
    assert froc([(pred[:, :2], pred[:, 2], true)], area_mm2=0.01, radius=8.0)["froc"] == 1.0


def test_curve_starting_above_zero_false_positives_by_hand() -> None:
    # one cell at (0, 0); the most probable prediction (0.9) is a FP far away, the cell's (0.5) comes second.
    # t = 0.9: 0 TP, 1 FP (100 /mm2 on 0.01 mm2); t = 0.5: 1 TP, 1 FP. The curve starts at 100 /mm2, so (0, 0)
    # goes in front: rates [0, 100, 100, 200, 300], sens [0, 0, 1, 1, 1]. At 10, 20, 50 the last point <= the
    # target is (0, 0) -> 0; at 100 bisect_right picks the second 100 -> 1. FROC 3 / 6.
    true = np.array([[0.0, 0.0]])
    pred = np.array([[50.0, 50.0, 0.9], [1.0, 0.0, 0.5]])
    out = tiger_froc([(true, pred)], area_mm2=0.01)
    assert [out[f"sens@{t}"] for t in TARGETS] == [0, 0, 0, 1, 1, 1] and out["froc"] == 0.5


def test_froc_score_rules_by_hand() -> None:
    # a curve that ends at 60 FP/mm2: targets 100-300 take its last sensitivity
    score, sens = tiger_froc_score([0.2, 0.5, 0.7], [0.0, 15.0, 60.0])
    assert sens == [0.2, 0.5, 0.5, 0.7, 0.7, 0.7] and score == pytest.approx(3.3 / 6)
    # a rate exactly at a target counts for it (<=); the last of equal rates wins (bisect_right - 1)
    score, sens = tiger_froc_score([0.1, 0.3, 0.4, 0.9], [0.0, 20.0, 20.0, 400.0])
    assert sens == [0.1, 0.4, 0.4, 0.4, 0.4, 0.4]
    # no predictions at all: the official code has no threshold; here the curve is (0, 0)
    assert tiger_froc_score([], []) == (0.0, [0.0] * 6)
    with pytest.raises(ValueError, match="sensitivities"):
        tiger_froc_score([0.1], [0.0, 1.0])


def test_tied_probabilities_enter_together() -> None:
    # two predictions with probability 0.8 (one on a cell, one not) and one 0.3 on the second cell:
    # thresholds 0.8, 0.3 only; t = 0.8: 1 TP, 1 FP; t = 0.3: 2 TP, 1 FP.
    true = np.array([[0.0, 0.0], [40.0, 0.0]])
    pred = np.array([[1.0, 0.0, 0.8], [20.0, 30.0, 0.8], [41.0, 1.0, 0.3]])
    curve = tiger_curve([(true, pred)])
    assert curve.thresholds.tolist() == [0.8, 0.3]
    assert (curve.tp.tolist(), curve.fp.tolist(), curve.fn.tolist()) == ([1, 2], [1, 1], [1, 0])
    out = tiger_froc([(true, pred)], area_mm2=0.1)      # 10 FP/mm2 from the first threshold on
    assert [out[f"sens@{t}"] for t in TARGETS] == [1.0] * 6


def test_rois_without_truth_or_predictions_and_no_truth_at_all() -> None:
    rois = [(np.zeros((0, 2)), np.array([[5.0, 5.0, 0.7]])),            # only a FP
            (np.array([[0.0, 0.0], [30.0, 30.0]]), np.zeros((0, 3))),     # only FNs
            (np.array([[0.0, 0.0]]), np.array([[2.0, 0.0, 0.4]]))]        # one TP at 0.4
    curve = tiger_curve(rois)
    assert (curve.tp.tolist(), curve.fp.tolist(), curve.fn.tolist()) == ([0, 1], [1, 1], [3, 2])
    assert math.isnan(tiger_curve([(np.zeros((0, 2)), np.array([[1.0, 1.0, 0.5]]))]).sensitivity[0])
    with pytest.raises(ValueError, match="area"):
        tiger_froc(rois, area_mm2=0.0)


@pytest.mark.parametrize("seed", range(3))
def test_equals_the_official_definition_on_dense_random_sets(seed: int) -> None:
    # the measurement set-up, smaller: ROIs of 256 x 256 px at 0.5 um/px with 30-70 cells, detections
    # jittered around the cells plus spurious ones, every probability distinct
    rng = np.random.default_rng(seed)
    rois = []
    for _ in range(2):
        cells = rng.uniform(0, 256, (int(rng.integers(30, 70)), 2))
        found = cells[rng.random(len(cells)) < 0.8]
        found = found + rng.normal(0, 3.5, found.shape)
        found = np.vstack([found, rng.uniform(0, 256, (int(rng.integers(5, 40)), 2))])
        pred = np.column_stack([found, rng.random(len(found))])
        rois.append((cells, pred))
    area = 2 * (256 * 0.5e-3) ** 2
    score, sens, counts = reference_froc(rois, area, 8.0)
    curve = tiger_curve(rois, 8.0)
    assert list(zip(curve.tp.astype(int), curve.fp.astype(int), curve.fn.astype(int), strict=True)) == counts
    out = tiger_froc(rois, area)
    assert [out[f"sens@{t}"] for t in TARGETS] == pytest.approx(sens) and out["froc"] == pytest.approx(score)


def reference_pathonet(labels: np.ndarray, pred: np.ndarray, radius: float = 20.0) -> tuple[int, int, int]:
    """PathoNet's metric as its text reads: every label's nearest prediction, taken when closer than the
    threshold; TP = how many different predictions were taken."""
    taken = set()
    for x, y in labels:
        if len(pred) == 0:
            break
        d = [math.hypot(px - x, py - y) for px, py in pred]
        best = min(range(len(d)), key=lambda j: (d[j], j))
        if d[best] < radius:
            taken.add(best)
    return len(taken), len(pred) - len(taken), len(labels) - len(taken)


def test_pathonet_duplicates_by_hand() -> None:
    # labels L1 (0, 0), L2 (4, 0); predictions P1 (2, 0) (2 px from both), P2 (7, 0) (3 px from L2).
    # Both labels pick their nearest, P1: one distinct prediction -> TP 1, FP 1 (P2), FN 1 (L2), although L2
    # had P2 within 20 px. TIGER's greedy matching and the optimal one both find 2.
    labels, pred = np.array([[0.0, 0.0], [4.0, 0.0]]), np.array([[2.0, 0.0], [7.0, 0.0]])
    assert pathonet_counts(labels, pred) == (1, 1, 1)
    assert len(greedy_match(labels, pred, 20.0)) == 2 and len(match_points(pred, labels, 20.0)) == 2
    # two predictions near one label: the nearer is the TP, the other a FP
    assert pathonet_counts([[10.0, 10.0]], [[12.0, 10.0], [10.0, 15.0]]) == (1, 1, 0)
    # 20 px exactly is not a hit (strictly closer than the threshold); equal distances: the first prediction
    assert pathonet_counts([[0.0, 0.0]], [[20.0, 0.0]]) == (0, 1, 1)
    assert pathonet_counts([[0.0, 0.0]], [[19.99, 0.0]]) == (1, 0, 0)
    assert pathonet_counts([[0.0, 0.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 3.0]]) == (1, 1, 1)
    assert pathonet_counts(np.zeros((0, 2)), [[1.0, 1.0]]) == (0, 1, 0)
    assert pathonet_counts([[1.0, 1.0]], np.zeros((0, 2))) == (0, 0, 1)


def test_pathonet_label_scaling_by_hand() -> None:
    # int(int(x) * 256 / 1024) clamped to 0..256: 1023.9 -> 1023 -> 255.75 -> 255; 7 -> 1; 1030 -> 257 -> 256
    out = pathonet_label_points([[1023.9, 7.0], [1030.0, 3.99]])
    assert out.tolist() == [[255.0, 1.0], [256.0, 0.0]]
    assert pathonet_label_points([[100.0, 100.0]], image_px=(512, 256)).tolist() == [[50.0, 100.0]]


def test_pathonet_image_counts_per_class_and_pooled() -> None:
    # 1024 px image: labels scale by 1/4; predictions are on the 256 px input
    true = np.array([[400.0, 400.0], [800.0, 800.0], [40.0, 40.0]])
    true_c = ["ki67_positive", "ki67_positive", "lymphocyte"]
    pred = np.array([[101.0, 99.0], [10.0, 50.0], [30.0, 30.0]])       # 100,100 hit; 10,50 is 40 px off 10,10
    pred_c = ["ki67_positive", "lymphocyte", "ki67_negative"]
    out = pathonet_image_counts(true, true_c, pred, pred_c, ["ki67_positive", "ki67_negative", "lymphocyte"])
    assert [out["ki67_positive"][k] for k in ("tp", "fp", "fn")] == [1, 0, 1]
    assert [out["ki67_negative"][k] for k in ("tp", "fp", "fn")] == [0, 1, 0]
    assert [out["lymphocyte"][k] for k in ("tp", "fp", "fn")] == [0, 1, 1]
    assert [out["all"][k] for k in ("tp", "fp", "fn")] == [1, 2, 2]
    assert out["ki67_positive"]["precision"] == 1.0 and out["ki67_positive"]["recall"] == 0.5


@pytest.mark.parametrize("seed", range(10))
def test_pathonet_equals_the_official_definition_on_random_sets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = np.floor(rng.uniform(0, 256, (int(rng.integers(0, 60)), 2)))
    pred = rng.uniform(0, 256, (int(rng.integers(0, 60)), 2))
    assert pathonet_counts(labels, pred) == reference_pathonet(labels, pred)

