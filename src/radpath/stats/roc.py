"""ROC analysis: AUC with DeLong confidence intervals, the paired DeLong test and Youden thresholds.

DeLong's method (DeLong, DeLong & Clarke-Pearson 1988) estimates the covariance of correlated AUCs from
the structural components V10 (one per positive) and V01 (one per negative). It is computed here with
the fast midrank algorithm of Sun & Xu (2014, IEEE Signal Process. Lett. 21:1389), O(n log n) per score:
with midranks Tx (positives only), Ty (negatives only) and Tz (all) of each score,
``V10 = (Tz_pos - Tx) / n``, ``V01 = 1 - (Tz_neg - Ty) / m`` and ``AUC = mean(V10)``
(m positives, n negatives); ``S = S10 / m + S01 / n`` with S10, S01 the sample covariances.
Ties count one half. The "positive" class is the higher TIL category; higher scores predict it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from radpath.errors import StatsError

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class AucCI:
    """AUC of one score with its DeLong standard error and confidence interval."""

    auc: float
    se: float
    ci_low: float
    ci_high: float
    n_positive: int
    n_negative: int


@dataclass(frozen=True)
class DelongResult:
    """Paired DeLong comparison of two scores on the same patients."""

    auc_a: AucCI
    auc_b: AucCI
    difference: float
    se: float
    z: float
    p_value: float


def _labels(y_true: ArrayLike, min_per_class: int) -> NDArray[np.bool_]:
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise StatsError(f"y_true must be one-dimensional, got shape {y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise StatsError(f"y_true must hold 0/1 (negative/positive), found values {sorted(values)[:5]}")
    positive = y.astype(bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if min(n_pos, n_neg) < min_per_class:
        raise StatsError(
            f"too few patients per class for ROC analysis: {n_pos} positive and {n_neg} negative "
            f"(need at least {min_per_class} of each)"
        )
    return positive


def _scores(score: ArrayLike, n: int, what: str = "score") -> NDArray[np.float64]:
    s = np.asarray(score, dtype=float)
    if s.shape != (n,):
        raise StatsError(f"{what} must have one value per patient ({n}), got shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise StatsError(f"{what} has {int((~np.isfinite(s)).sum())} missing or infinite values")
    return s


def delong_components(
    positive: NDArray[np.bool_], scores: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """AUCs (k,), V10 (k, m) and V01 (k, n) of k scores (k, N) by the midrank algorithm."""
    pos, neg = scores[:, positive], scores[:, ~positive]
    m, n = pos.shape[1], neg.shape[1]
    tx = stats.rankdata(pos, axis=1)
    ty = stats.rankdata(neg, axis=1)
    tz = stats.rankdata(np.concatenate([pos, neg], axis=1), axis=1)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    auc = v10.mean(axis=1)
    return auc, v10, v01


def _covariance(v10: NDArray[np.float64], v01: NDArray[np.float64]) -> NDArray[np.float64]:
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((v10.shape[0],) * 2)
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((v01.shape[0],) * 2)
    return np.asarray(s10 / m + s01 / n)


def _ci(auc: float, se: float, m: int, n: int, level: float) -> AucCI:
    z = float(stats.norm.ppf(0.5 + level / 2))
    return AucCI(float(auc), float(se), max(0.0, auc - z * se), min(1.0, auc + z * se), m, n)


def auc_ci(y_true: ArrayLike, score: ArrayLike, *, level: float = 0.95, min_per_class: int = 2) -> AucCI:
    """AUC of `score` for `y_true` (1 = positive) with its DeLong CI (clipped to [0, 1])."""
    positive = _labels(y_true, min_per_class)
    s = _scores(score, len(positive))
    auc, v10, v01 = delong_components(positive, s[None, :])
    var = float(_covariance(v10, v01)[0, 0])
    return _ci(float(auc[0]), float(np.sqrt(max(var, 0.0))), v10.shape[1], v01.shape[1], level)


def delong_test(
    y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike, *, level: float = 0.95, min_per_class: int = 2
) -> DelongResult:
    """Paired DeLong test of AUC(a) = AUC(b) for two scores of the same patients (two-sided)."""
    positive = _labels(y_true, min_per_class)
    a = _scores(score_a, len(positive), "score_a")
    b = _scores(score_b, len(positive), "score_b")
    auc, v10, v01 = delong_components(positive, np.vstack([a, b]))
    cov = _covariance(v10, v01)
    m, n = v10.shape[1], v01.shape[1]
    ci_a = _ci(float(auc[0]), float(np.sqrt(max(cov[0, 0], 0.0))), m, n, level)
    ci_b = _ci(float(auc[1]), float(np.sqrt(max(cov[1, 1], 0.0))), m, n, level)
    var = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    diff = float(auc[0] - auc[1])
    if var <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
        return DelongResult(ci_a, ci_b, diff, 0.0, z, p)
    se = float(np.sqrt(var))
    z = diff / se
    return DelongResult(ci_a, ci_b, diff, se, z, float(2 * stats.norm.sf(abs(z))))


def mann_whitney_p(y_true: ArrayLike, score: ArrayLike) -> float:
    """Two-sided Mann-Whitney U P value of the score between the classes (H0: AUC = 0.5)."""
    positive = _labels(y_true, 1)
    s = _scores(score, len(positive))
    return float(stats.mannwhitneyu(s[positive], s[~positive], alternative="two-sided").pvalue)


@dataclass(frozen=True)
class Operating:
    """A cut-off and its performance: positive when score > threshold."""

    threshold: float
    sensitivity: float
    specificity: float
    accuracy: float


def operating_point(y_true: ArrayLike, score: ArrayLike, threshold: float) -> Operating:
    """Sensitivity, specificity and accuracy of calling positive when score > threshold."""
    positive = np.asarray(y_true).astype(bool)
    s = np.asarray(score, dtype=float)
    called = s > threshold
    sens = float((called & positive).sum() / max(positive.sum(), 1))
    spec = float((~called & ~positive).sum() / max((~positive).sum(), 1))
    acc = float((called == positive).mean())
    return Operating(float(threshold), sens, spec, acc)


def youden_threshold(y_true: ArrayLike, score: ArrayLike, *, min_per_class: int = 1) -> Operating:
    """The cut-off maximising Youden's J = sensitivity + specificity - 1.

    Candidates are the midpoints between consecutive distinct scores (and one below the minimum);
    among equal J the lowest cut-off wins.
    """
    positive = _labels(y_true, min_per_class)
    s = _scores(score, len(positive))
    distinct = np.unique(s)
    candidates = np.concatenate([[distinct[0] - 1.0], (distinct[:-1] + distinct[1:]) / 2])
    called = s[None, :] > candidates[:, None]
    sens = (called & positive).sum(axis=1) / positive.sum()
    spec = (~called & ~positive).sum(axis=1) / (~positive).sum()
    best = int(np.argmax(sens + spec - 1))
    return operating_point(positive, s, float(candidates[best]))
