"""DeLong AUC/CI/test against an independent O(m n) structural-components computation (DeLong et al. 1988,
eqs. for V10, V01, S10, S01 written out by brute force), sklearn's AUC, and Youden thresholds by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from radpath.errors import StatsError
from radpath.stats.roc import auc_ci, delong_test, mann_whitney_p, youden_threshold


def brute_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float, np.ndarray]:
    pos, neg = y == 1, y == 0
    comps = []
    for s in (a, b):
        x, w = s[pos], s[neg]
        psi = (x[:, None] > w[None, :]) + 0.5 * (x[:, None] == w[None, :])
        comps.append((psi.mean(), psi.mean(axis=1), psi.mean(axis=0)))
    m, n = pos.sum(), neg.sum()
    v10 = np.vstack([c[1] for c in comps])
    v01 = np.vstack([c[2] for c in comps])
    s = np.cov(v10) / m + np.cov(v01) / n
    return comps[0][0], comps[1][0], s


@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_brute_force(ties: bool) -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(80) < 0.4).astype(int)
    a = y * 1.0 + rng.standard_normal(80)
    b = 0.7 * a + rng.standard_normal(80)
    if ties:
        a, b = np.round(a), np.round(b * 2) / 2
    auc_a, auc_b, s = brute_delong(y, a, b)
    res = delong_test(y, a, b)
    assert res.auc_a.auc == pytest.approx(auc_a, abs=1e-12)
    assert res.auc_b.auc == pytest.approx(auc_b, abs=1e-12)
    assert res.auc_a.auc == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert res.auc_a.se == pytest.approx(np.sqrt(s[0, 0]), rel=1e-10)
    se = np.sqrt(s[0, 0] + s[1, 1] - 2 * s[0, 1])
    assert res.z == pytest.approx((auc_a - auc_b) / se, rel=1e-10)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(abs((auc_a - auc_b) / se)), rel=1e-10)
    single = auc_ci(y, a)
    assert single.ci_low == pytest.approx(max(0, auc_a - 1.959964 * np.sqrt(s[0, 0])), abs=1e-6)
    assert single.ci_high == pytest.approx(min(1, auc_a + 1.959964 * np.sqrt(s[0, 0])), abs=1e-6)


def test_hand_example() -> None:
    # positives 3, 4 ; negatives 1, 2, 3.5 -> 5 of 6 pairs ordered: AUC = 5/6
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([1.0, 2.0, 3.5, 3.0, 4.0])
    assert auc_ci(y, s).auc == pytest.approx(5 / 6)
    # Youden: cut 3.25 gives sens 1/2, spec 1 (J 0.5); cut 2.5 gives sens 1, spec 2/3 (J 0.667)
    op = youden_threshold(y, s)
    assert op.threshold == pytest.approx(2.5)
    assert (op.sensitivity, op.specificity, op.accuracy) == pytest.approx((1.0, 2 / 3, 0.8))
    assert mann_whitney_p(y, s) == pytest.approx(stats.mannwhitneyu([3, 4], [1, 2, 3.5]).pvalue)


def test_identical_scores_give_p_one_and_too_few_per_class_is_an_error() -> None:
    rng = np.random.default_rng(1)
    y = np.array([0, 1] * 10)
    a = rng.standard_normal(20)
    assert delong_test(y, a, a).p_value == 1.0
    with pytest.raises(StatsError, match="too few patients per class.*1 positive and 5 negative"):
        auc_ci([0, 0, 0, 0, 0, 1], [1, 2, 3, 4, 5, 6])
    with pytest.raises(StatsError, match="0/1"):
        auc_ci([0, 2, 1, 0], [1, 2, 3, 4])
