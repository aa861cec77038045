"""Repeated k-fold LASSO selection and the final OLS signature (the paper's imaging signature).

For each of `repeats` random k-fold partitions and each fold, a LASSO is fitted on the training folds with
its penalty chosen by inner k-fold CV as scikit-learn's ``LassoCV(cv=inner_folds)`` does
(`radpath.stats.lasso`: same grid, inner folds, solver and refit; working-set inner paths with an early stop,
computed by a compiled kernel). Repeats run in parallel worker processes (``n_jobs``, one BLAS thread each), in
small interleaved chunks so that both workers stay busy to the end.

The selection frequency of a feature is the fraction of the folds x repeats fits with a non-zero coefficient.
Features selected in more than ``min_frequency`` of the fits enter a final OLS on the standardised features.
The inputs are standardised once with the cohort's means and SDs (kept for applying the model elsewhere).

The same fits give the cross-validated predictions: each fold's LASSO (fitted on the other folds) predicts
every patient, ``held_out`` marking the fold's own patients, so each repeat predicts each patient once from a
fit that did not see it (`cv_predictions_`). Their mean over the repeats is the out-of-fold prediction
(`oof_`), from which the cross-validated AUC and r are computed; a model built on the signature (the composite)
is refitted within the same folds on these predictions (`radpath.stats.crossval`).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from radpath.errors import StatsError
from radpath.processes import worker_pool
from radpath.stats.lasso import LassoSettings, lasso_cv_fit

Array = NDArray[np.float64]


def outer_splits(n: int, folds: int, repeats: int, seed: int) -> list[list[NDArray[np.int64]]]:
    """Training indices of every fold of every repeat: repeat r shuffles with ``default_rng([seed, r])``."""
    if folds < 2 or folds > n:
        raise StatsError(f"folds must be between 2 and the number of patients ({n}), got {folds}")
    out: list[list[NDArray[np.int64]]] = []
    for r in range(repeats):
        perm = np.random.default_rng([seed, r]).permutation(n)
        parts = np.array_split(perm, folds)
        out.append([np.sort(np.concatenate(parts[:k] + parts[k + 1:])) for k in range(folds)])
    return out


def _repeat_block(args: tuple[Array, Array, list[list[NDArray[np.int64]]], LassoSettings, bool]) -> tuple[Array, Array]:
    from threadpoolctl import threadpool_limits

    x, y, repeats, settings, in_worker = args
    chosen, coefs = [], []
    with warnings.catch_warnings(), threadpool_limits(1 if in_worker else None):
        warnings.simplefilter("ignore")  # ConvergenceWarning at tiny penalties, as in LassoCV
        for splits in repeats:
            for train in splits:
                alpha, coef = lasso_cv_fit(x[train], y[train], settings)
                chosen.append(alpha)
                coefs.append(coef)
    return np.asarray(chosen), np.asarray(coefs)


def repeated_lasso(
    x: Array, y: Array, *, folds: int = 10, repeats: int = 100, seed: int = 0,
    settings: LassoSettings | None = None, n_jobs: int = 1,
) -> tuple[Array, Array]:
    """Alphas (fits,) and coefficients (fits, p) of every fold x repeat LassoCV fit, in split order."""
    settings = settings or LassoSettings()
    splits = outer_splits(len(y), folds, repeats, seed)
    jobs = max(1, min(n_jobs if n_jobs > 0 else (os.cpu_count() or 1), repeats))
    if settings.solver == "compiled":
        from radpath.stats.lasso_kernel import warm_up

        warm_up()  # compiled (or loaded from cache) once here, inherited by forked workers
    if jobs == 1:
        results = [_repeat_block((x, y, splits, settings, False))]
        order = list(range(repeats))
    else:
        import sklearn.linear_model  # noqa: F401  imported once here, inherited by forked workers

        n_chunks = min(repeats, 4 * jobs)
        chunks = [list(range(i, repeats, n_chunks)) for i in range(n_chunks)]
        with worker_pool(jobs) as pool:  # one BLAS thread per worker (no oversubscription); they end with us
            results = list(pool.map(_repeat_block, [(x, y, [splits[r] for r in c], settings, True) for c in chunks]))
        order = [r for c in chunks for r in c]
    alphas = np.concatenate([a.reshape(-1, folds) for a, _ in results])
    coefs = np.concatenate([c.reshape(-1, folds, x.shape[1]) for _, c in results])
    inverse = np.argsort(order)
    return alphas[inverse].reshape(-1), coefs[inverse].reshape(-1, x.shape[1])


def fold_predictions(
    x: Array, y: Array, coefs: Array, splits: list[list[NDArray[np.int64]]], ids: pd.Index
) -> pd.DataFrame:
    """Predictions of every fold x repeat LASSO fit (``coefs`` in split order) for every patient: columns rep,
    fold, patient_id, predicted, held_out (the patient is in the fold the fit left out).

    A fit on training rows ``t`` predicts ``mean(y[t]) + (x - mean(x[t])) @ coef``, as scikit-learn's Lasso
    with an intercept does (the coefficients are fitted on the centred training rows)."""
    trains = [train for repeat in splits for train in repeat]
    n, folds = len(y), len(splits[0])
    x_means = np.stack([x[t].mean(axis=0) for t in trains])
    y_means = np.array([y[t].mean() for t in trains])
    predicted = y_means[:, None] + coefs @ x.T - (x_means * coefs).sum(axis=1)[:, None]
    held = np.ones((len(trains), n), dtype=bool)
    for k, t in enumerate(trains):
        held[k, t] = False
    fits = np.arange(len(trains))
    return pd.DataFrame({"rep": np.repeat(fits // folds, n), "fold": np.repeat(fits % folds, n),
                         "patient_id": np.tile(np.asarray(ids, dtype=str), len(trains)),
                         "predicted": predicted.reshape(-1), "held_out": held.reshape(-1)})


def standardise(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Drop constant columns (with a warning naming them) and z-score the rest (SD with ddof=1)."""
    sds = frame.std(axis=0, ddof=1)
    constant = [str(c) for c in frame.columns if not (sds[c] > 0)]
    if constant:
        warnings.warn(f"constant features dropped: {', '.join(constant)}", stacklevel=3)
    keep = [c for c in frame.columns if c not in constant]
    if not keep:
        raise StatsError("every candidate feature is constant: nothing to model")
    means, sds = frame[keep].mean(axis=0), sds[keep]
    return (frame[keep] - means) / sds, means, sds


class LassoSignature:
    """Repeated k-fold LASSO selection followed by an OLS on the frequently selected features.

    Parameters follow the paper's defaults (10 folds x 100 repeats, > 90 % selection). ``fit(X, y)``
    takes a patients x features frame (complete cases) and the target; learned attributes:
    ``means_``, ``sds_`` (standardisation), ``frequency_`` (per feature), ``selected_`` (codes),
    ``coef_`` (OLS, per SD), ``intercept_``, ``ols_`` (statsmodels result), ``summary`` (selection table).
    """

    def __init__(self, folds: int = 10, repeats: int = 100, min_frequency: float = 0.9, seed: int = 0,
                 n_jobs: int = 1, settings: LassoSettings | None = None):
        self.folds = folds
        self.repeats = repeats
        self.min_frequency = min_frequency
        self.seed = seed
        self.n_jobs = n_jobs
        self.settings = settings

    def fit(self, X: pd.DataFrame, y: pd.Series) -> LassoSignature:
        import statsmodels.api as sm

        if len(X) != len(y):
            raise StatsError(f"X has {len(X)} patients but y has {len(y)}")
        if X.isna().any().any() or y.isna().any():
            raise StatsError("missing values: pass complete cases (radpath.stats.data.complete_cases)")
        if len(X) < max(self.folds, 10):
            raise StatsError(f"too few patients for {self.folds}-fold LASSO: {len(X)}")
        z, self.means_, self.sds_ = standardise(X)
        xa, ya = z.to_numpy(dtype=float), y.to_numpy(dtype=float)
        self.alphas_, coefs = repeated_lasso(xa, ya, folds=self.folds, repeats=self.repeats, seed=self.seed,
                                             settings=self.settings, n_jobs=self.n_jobs)
        self.cv_predictions_ = fold_predictions(xa, ya, coefs, outer_splits(len(ya), self.folds, self.repeats,
                                                                            self.seed), X.index)
        nonzero = coefs != 0
        self.frequency_ = pd.Series(nonzero.mean(axis=0), index=z.columns, name="frequency")
        with np.errstate(invalid="ignore"):
            mean_coef = np.where(nonzero.any(axis=0), (coefs * nonzero).sum(axis=0) / nonzero.sum(axis=0), np.nan)
        self.mean_coef_ = pd.Series(mean_coef, index=z.columns)
        self.selected_ = [str(c) for c in z.columns if self.frequency_[c] > self.min_frequency]
        if not self.selected_:
            top = self.frequency_.sort_values(ascending=False).head(3)
            raise StatsError(
                f"no feature was selected in more than {self.min_frequency:.0%} of the LASSO fits "
                f"(most frequent: {', '.join(f'{k} {v:.0%}' for k, v in top.items())}); lower --min-frequency"
            )
        design = sm.add_constant(z[self.selected_], has_constant="add")
        self.ols_ = sm.OLS(ya, design).fit()
        self.intercept_ = float(self.ols_.params["const"])
        self.coef_ = pd.Series(self.ols_.params[self.selected_], index=self.selected_, dtype=float)
        self.n_ = len(ya)
        return self

    @property
    def oof_(self) -> pd.Series:
        """Out-of-fold prediction of each patient: the mean over the repeats of its held-out predictions."""
        held = self.cv_predictions_[self.cv_predictions_["held_out"]]
        return held.groupby("patient_id", sort=False)["predicted"].mean()

    @property
    def summary(self) -> pd.DataFrame:
        """Selection table: code, frequency, mean LASSO coefficient, selected, OLS coefficient."""
        frame = pd.DataFrame({"code": self.frequency_.index, "frequency": self.frequency_.to_numpy(),
                              "mean_coef": self.mean_coef_.to_numpy()})
        frame["selected"] = frame["code"].isin(self.selected_)
        frame["ols_coef"] = frame["code"].map(self.coef_)
        return frame.sort_values(["frequency", "code"], ascending=[False, True], ignore_index=True)

    def predict(self, X: pd.DataFrame) -> pd.Series:
        """Predicted target, standardising with the training means and SDs."""
        z = (X[self.selected_] - self.means_[self.selected_]) / self.sds_[self.selected_]
        return pd.Series(self.intercept_ + z.to_numpy() @ self.coef_.to_numpy(), index=X.index)
