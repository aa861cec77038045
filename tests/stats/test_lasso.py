"""Working-set LassoCV (radpath.stats.lasso) against the full-problem path and scikit-learn's LassoCV.

The data imitate a radiomics matrix: 403 features built from 25 latent factors (blocks of strongly correlated
features, a third of them skewed), a skewed TIL-like target driven by two factors, demo-sized (126 patients).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LassoCV

from radpath.stats.lasso import LassoSettings, lasso_cv_fit
from radpath.stats.signature import outer_splits, repeated_lasso
from radpath.synth.matrix import radiomics_like


def _fits(x: np.ndarray, y: np.ndarray, settings: LassoSettings, repeats: int, work: dict[str, int]) -> list:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [lasso_cv_fit(x[t], y[t], settings, work) for s in outer_splits(len(y), 10, repeats, 1) for t in s]


def test_working_sets_choose_what_the_full_path_chooses_with_less_work() -> None:
    x, y = radiomics_like()
    work_path: dict[str, int] = {}
    work_ws: dict[str, int] = {}
    ref = _fits(x, y, LassoSettings(solver="path"), 2, work_path)
    new = _fits(x, y, LassoSettings(), 2, work_ws)
    assert [a for a, _ in new] == [a for a, _ in ref]                  # the same penalty in every fit
    for (_, c_new), (_, c_ref) in zip(new, ref, strict=True):
        np.testing.assert_array_equal(c_new, c_ref)                     # hence the same refit, bit for bit
    assert work_ws["alphas"] == work_path["alphas"]                      # same early stops
    assert work_ws["updates"] < 0.5 * work_path["updates"]               # at most half the coordinate updates


def test_few_features_use_gram_solves_like_lassocv_and_choose_as_before() -> None:
    x, y = radiomics_like(p=17, seed=2)
    work: dict[str, int] = {}
    ref = _fits(x, y, LassoSettings(solver="path"), 1, work)
    assert LassoSettings().working_sets(17, 100) is False
    new = _fits(x, y, LassoSettings(), 1, work)
    assert [a for a, _ in new] == [a for a, _ in ref]
    for (_, c_new), (_, c_ref) in zip(new, ref, strict=True):
        np.testing.assert_array_equal(c_new, c_ref)


def test_more_features_than_patients_matches_sklearn_lassocv() -> None:
    x, y = radiomics_like(n=60, p=80, k=10, seed=5)
    alphas, coefs = repeated_lasso(x, y, folds=5, repeats=1, seed=3, settings=LassoSettings(full_path=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, train in enumerate(outer_splits(60, 5, 1, 3)[0]):
            ref = LassoCV(cv=5).fit(x[train], y[train])
            assert alphas[k] == pytest.approx(ref.alpha_, rel=1e-12)
            np.testing.assert_array_equal(coefs[k] != 0, ref.coef_ != 0)


def test_unknown_solver_is_refused() -> None:
    from radpath.errors import StatsError

    x, y = radiomics_like(n=30, p=10)
    with pytest.raises(StatsError, match="unknown LASSO solver 'fast'; known: working_set, path"):
        lasso_cv_fit(x, y, LassoSettings(solver="fast"))
