"""Cell matching (optimal assignment) vs hand-computed cases and a brute-force matching; FROC by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from radpath.pathology.cells import match_cells
from radpath.pathology.cells.matching import froc, match_points


def greedy_closest_first(pred: np.ndarray, true: np.ndarray, radius: float) -> int:
    """The greedy loop the optimal assignment replaces: pairs by distance, each point used once."""
    pairs = sorted((float(np.hypot(*(p - t))), i, j) for (i, p), (j, t) in itertools.product(enumerate(pred),
                                                                                             enumerate(true)))
    used_p, used_t, n = set(), set(), 0
    for d, i, j in pairs:
        if d <= radius and i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
            n += 1
    return n


def brute_force(pred: np.ndarray, true: np.ndarray, radius: float) -> tuple[int, float]:
    """(most matches, smallest total distance among them) over every one-to-one partial matching."""
    best = (0, 0.0)
    for k in range(min(len(pred), len(true)), 0, -1):
        costs = []
        for ps in itertools.permutations(range(len(pred)), k):
            for ts in itertools.combinations(range(len(true)), k):
                d = [float(np.hypot(*(pred[i] - true[j]))) for i, j in zip(ps, ts, strict=True)]
                if max(d) <= radius:
                    costs.append(sum(d))
        if costs:
            return k, min(costs)
    return best


def test_optimal_beats_greedy_where_it_matters() -> None:
    # T1 (0, 0), T2 (9, 0); P1 (4.8, 0) is 4.2 from T2 and 4.8 from T1; P2 (13.4, 0) is 4.4 from T2 only.
    # Greedy closest-first gives T2 to P1 and leaves P2 and T1 unmatched (1 TP); optimal: 2 TP.
    true = np.array([[0.0, 0.0], [9.0, 0.0]])
    pred = np.array([[4.8, 0.0], [13.4, 0.0]])
    assert greedy_closest_first(pred, true, 5.0) == 1
    result = match_cells(pred, ["lymphocyte"] * 2, true, ["lymphocyte"] * 2, 5.0)["lymphocyte"]
    assert (result["tp"], result["fp"], result["fn"]) == (2, 0, 0)
    assert sorted(match_points(pred, true, 5.0)) == [(0, 0), (1, 1)]


def test_two_detections_near_one_cell_by_hand() -> None:
    # one truth cell, two detections within R: one TP (the closer), one FP; P = 1/2, R = 1, F1 = 2/3
    result = match_cells([[1.0, 0.0], [2.0, 0.0]], ["ki67_positive"] * 2, [[0.0, 0.0]], ["ki67_positive"], 5.0)
    m = result["ki67_positive"]
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 0)
    assert m["precision"] == 0.5 and m["recall"] == 1.0
    assert m["f1"] == pytest.approx(2 / 3)
    assert match_points(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[0.0, 0.0]]), 5.0) == [(0, 0)]


def test_classes_match_only_their_own_class_and_pool() -> None:
    pred = [[0, 0], [10, 0], [20, 0], [40, 0]]
    pred_c = ["ki67_positive", "ki67_negative", "lymphocyte", "lymphocyte"]
    true = [[0.5, 0], [10, 0.5], [20, 1], [60, 0]]
    true_c = ["ki67_positive", "ki67_positive", "lymphocyte", "ki67_negative"]
    r = match_cells(pred, pred_c, true, true_c, 3.0)
    assert (r["ki67_positive"]["tp"], r["ki67_positive"]["fp"], r["ki67_positive"]["fn"]) == (1, 0, 1)
    assert (r["ki67_negative"]["tp"], r["ki67_negative"]["fp"], r["ki67_negative"]["fn"]) == (0, 1, 1)
    assert (r["lymphocyte"]["tp"], r["lymphocyte"]["fp"], r["lymphocyte"]["fn"]) == (1, 1, 0)
    assert (r["all"]["tp"], r["all"]["fp"], r["all"]["fn"]) == (2, 2, 2)
    assert r["all"]["f1"] == pytest.approx(0.5)
    # macro F1: mean of 2/3, nan -> 0 ... the negative class has tp 0: F1 = 0
    assert r["macro"]["f1"] == pytest.approx((2 / 3 + 0.0 + 2 / 3) / 3)


def test_radius_is_inclusive_and_empty_sets() -> None:
    r = match_cells([[3.0, 4.0]], ["lymphocyte"], [[0.0, 0.0]], ["lymphocyte"], 5.0)["lymphocyte"]
    assert r["tp"] == 1
    r = match_cells(np.zeros((0, 2)), [], [[0.0, 0.0]], ["lymphocyte"], 5.0)["lymphocyte"]
    assert (r["tp"], r["fn"]) == (0, 1) and r["recall"] == 0.0 and math.isnan(r["precision"])


@pytest.mark.parametrize("seed", range(25))
def test_equals_brute_force_on_random_point_sets(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.uniform(0, 12, (int(rng.integers(1, 5)), 2))
    true = rng.uniform(0, 12, (int(rng.integers(1, 5)), 2))
    pairs = match_points(pred, true, 4.0)
    n, cost = brute_force(pred, true, 4.0)
    assert len(pairs) == n
    assert sum(float(np.hypot(*(pred[i] - true[j]))) for i, j in pairs) == pytest.approx(cost)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})


def test_froc_by_hand() -> None:
    # 100 x 100 um field (0.01 mm2), one lymphocyte; the true detection has the lowest score:
    # t = 0.9: 1 FP (100 / mm2), sens 0; t = 0.8: 2 FP (200 / mm2), sens 0; t = 0.3: 2 FP, sens 1
    pred = np.array([[50.0, 50.0], [80.0, 80.0], [0.5, 0.0]])
    score = np.array([0.9, 0.8, 0.3])
    out = froc([(pred, score, np.array([[0.0, 0.0]]))], area_mm2=0.01, radius=4.0)
    assert [out[f"sens@{r}"] for r in (10, 20, 50, 100, 200, 300)] == [0, 0, 0, 0, 1, 1]
    assert out["froc"] == pytest.approx(2 / 6)
