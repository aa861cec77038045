"""Univariate association: Pearson r with Fisher-z confidence intervals and Benjamini-Hochberg FDR.

* Pearson r of complete pairs; P from the t statistic ``t = r sqrt((n - 2) / (1 - r^2))`` with n - 2 df.
* 95% CI: ``tanh(atanh(r) -/+ z_{0.975} / sqrt(n - 3))`` (Fisher 1921).
* BH: ``q_(i) = min_{j >= i} p_(j) m / j`` over the sorted P values, capped at 1 (Benjamini & Hochberg 1995).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from radpath.errors import StatsError


@dataclass(frozen=True)
class Correlation:
    n: int
    r: float
    ci_low: float
    ci_high: float
    p_value: float


def fisher_ci(r: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Confidence interval of a Pearson r by Fisher's z transform (NaN when n <= 3)."""
    if n <= 3 or not np.isfinite(r):
        return float("nan"), float("nan")
    if abs(r) >= 1:
        return float(r), float(r)
    z = float(stats.norm.ppf(0.5 + level / 2))
    centre, half = np.arctanh(r), z / np.sqrt(n - 3)
    return float(np.tanh(centre - half)), float(np.tanh(centre + half))


def pearson(x: ArrayLike, y: ArrayLike, level: float = 0.95) -> Correlation:
    """Pearson r of the complete pairs of x and y, with Fisher-z CI and two-sided P."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape:
        raise StatsError(f"pearson: x and y differ in length ({a.shape} vs {b.shape})")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = int(len(a))
    if n < 3:
        raise StatsError(f"pearson: need at least 3 complete pairs, found {n}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise StatsError("pearson: a variable is constant over the complete pairs")
    r, p = stats.pearsonr(a, b)
    lo, hi = fisher_ci(float(r), n, level)
    return Correlation(n, float(r), lo, hi, float(p))


def bh_fdr(p_values: ArrayLike) -> NDArray[np.float64]:
    """Benjamini-Hochberg adjusted P values (q values), in the input order; NaN stays NaN."""
    p = np.asarray(p_values, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m == 0:
        return q
    order = np.argsort(p[ok])
    ranked = p[ok][order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    q[ok] = out
    return q


def associate(
    matrix: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    alpha: float = 0.05,
    fdr: float = 0.2,
    level: float = 0.95,
) -> pd.DataFrame:
    """Correlate every column of `matrix` with every column of `targets` (rows aligned by index).

    Each pair uses its complete cases (the count is in column `n`); a feature constant over them is
    dropped with a warning naming it. FDR is computed per target over its features. Returns one row
    per (code, target): n, r, ci_low, ci_high, p_value, fdr, significant (P < alpha and FDR < fdr).
    """
    rows: list[dict[str, object]] = []
    targets = targets.reindex(matrix.index)
    for target in targets.columns:
        y = targets[target].to_numpy(dtype=float)
        block: list[dict[str, object]] = []
        pvals: list[float] = []
        for code in matrix.columns:
            if code == target:
                continue
            x = matrix[code].to_numpy(dtype=float)
            keep = np.isfinite(x) & np.isfinite(y)
            if keep.sum() >= 3 and np.ptp(x[keep]) == 0:
                warnings.warn(f"feature {code} is constant over {int(keep.sum())} patients: dropped", stacklevel=2)
                continue
            if keep.sum() < 4:
                warnings.warn(f"feature {code}: only {int(keep.sum())} complete pairs with {target}: dropped",
                              stacklevel=2)
                continue
            c = pearson(x, y, level)
            block.append({"code": code, "target": target, "n": c.n, "r": c.r, "ci_low": c.ci_low,
                          "ci_high": c.ci_high, "p_value": c.p_value})
            pvals.append(c.p_value)
        if block:
            q = bh_fdr(pvals)
            for b, pv, qv in zip(block, pvals, q, strict=True):
                b["fdr"] = float(qv)
                b["significant"] = bool(pv < alpha and qv < fdr)
        rows.extend(block)
    columns = ["code", "target", "n", "r", "ci_low", "ci_high", "p_value", "fdr", "significant"]
    return pd.DataFrame(rows, columns=columns)
