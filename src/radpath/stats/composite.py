"""Composite TIL model: OLS of TIL on the imaging signature and molecular scores (paper Table 4).

Terms (signature prediction, CYT, TMB) are standardised with the training cohort's means and SDs, so their
coefficients are per SD; molecular scores are log2(1 + x) transformed first (CYT is stored on a linear
TPM-like scale, TMB as mutations per Mb; both are right-skewed). Clinical adjustments enter as coded in
`radpath.stats.data.covariates` (stage 1-4, receptor status and TNBC 0/1), unstandardised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from radpath.errors import StatsError
from radpath.stats.association import pearson


def ols_table(y: pd.Series, X: pd.DataFrame, fit: str) -> pd.DataFrame:
    """Coefficients, SE, t, P and 95% CI of an OLS with intercept, one row per term."""
    import statsmodels.api as sm

    if len(y) <= X.shape[1] + 1:
        raise StatsError(f"OLS ({fit}): {len(y)} patients are too few for {X.shape[1]} terms and an intercept")
    constant = [str(c) for c in X.columns if X[c].nunique() < 2]
    if constant:
        raise StatsError(f"OLS ({fit}): terms {constant} are constant over the {len(y)} patients")
    res = sm.OLS(y.to_numpy(dtype=float), sm.add_constant(X.astype(float), has_constant="add")).fit()
    ci = res.conf_int()
    names = ["intercept" if t == "const" else str(t) for t in res.params.index]
    return pd.DataFrame({
        "fit": fit, "term": names, "coef": res.params.to_numpy(), "se": res.bse.to_numpy(),
        "t_value": res.tvalues.to_numpy(), "p_value": res.pvalues.to_numpy(),
        "ci_low": np.asarray(ci)[:, 0], "ci_high": np.asarray(ci)[:, 1], "n": len(y), "r2": float(res.rsquared),
    })


@dataclass
class CompositeModel:
    """OLS of TIL on standardised terms. ``fit(terms, til, adjustments=None)``; learned attributes:
    (``terms`` and ``til`` must be complete; ``adjustments`` may hold missing values: the adjusted fit and each
    covariate's univariate r use the patients that have them)
    ``means_``, ``sds_``, ``coef_`` (final refit on the terms), ``intercept_``, ``univariate_`` (Pearson r of
    each term and adjustment with TIL), ``adjusted_`` (multivariable fit with adjustments, or None),
    ``summary`` (all rows: univariate, adjusted, final)."""

    def fit(self, terms: pd.DataFrame, til: pd.Series, adjustments: pd.DataFrame | None = None) -> CompositeModel:
        sds = terms.std(ddof=1)
        bad = [str(c) for c in terms.columns if not sds[c] > 0]
        if bad:
            raise StatsError(f"composite terms {bad} are constant in the training cohort")
        self.means_, self.sds_ = terms.mean(), sds
        z = (terms - self.means_) / self.sds_
        rows = []
        extra = adjustments if adjustments is not None else pd.DataFrame(index=terms.index)
        for name, column in list(terms.items()) + list(extra.items()):
            known = column.notna().to_numpy()
            if column.nunique() < 2:
                continue
            c = pearson(column.to_numpy(dtype=float)[known], til.to_numpy(dtype=float)[known])
            rows.append({"fit": "univariate", "term": str(name), "coef": c.r, "se": np.nan, "t_value": np.nan,
                         "p_value": c.p_value, "ci_low": c.ci_low, "ci_high": c.ci_high, "n": c.n, "r2": np.nan})
        self.univariate_ = pd.DataFrame(rows)
        # the adjusted fit uses the patients with every covariate; the final model keeps every patient with its terms
        rows_ok = extra.notna().all(axis=1)
        self.adjusted_ = (ols_table(til[rows_ok], pd.concat([z, extra], axis=1)[rows_ok], "adjusted")
                          if len(extra.columns) else None)
        final = ols_table(til, z, "final")
        self.final_ = final
        self.intercept_ = float(final.loc[final["term"] == "intercept", "coef"].iloc[0])
        self.coef_ = final[final["term"] != "intercept"].set_index("term")["coef"].astype(float)
        return self

    @property
    def summary(self) -> pd.DataFrame:
        parts = [self.univariate_, self.adjusted_, self.final_]
        return pd.concat([p for p in parts if p is not None and not p.empty], ignore_index=True)
