"""Working-set LassoCV (radpath.stats.lasso) against the full-problem path and scikit-learn's LassoCV, and the
compiled kernel (radpath.stats.lasso_kernel, the default) against the working-set solver it replaces and
against scikit-learn's lasso_path / LassoCV on random problems.

The data imitate a radiomics matrix: 403 features built from 25 latent factors (blocks of strongly correlated
features, a third of them skewed), a skewed TIL-like target driven by two factors, demo-sized (126 patients).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LassoCV

from radpath.stats.lasso import LassoSettings, inner_cv, lasso_cv_fit
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
    new = _fits(x, y, LassoSettings(solver="working_set"), 2, work_ws)
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
    for solver in ("working_set", "compiled"):
        new = _fits(x, y, LassoSettings(solver=solver), 1, work)
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
    with pytest.raises(StatsError, match="unknown LASSO solver 'fast'; known: compiled, working_set, path"):
        lasso_cv_fit(x, y, LassoSettings(solver="fast"))


@pytest.mark.parametrize(("n", "p", "seed"), [(126, 403, 0), (126, 403, 7), (126, 91, 3)])
def test_compiled_kernel_makes_the_same_fits_as_the_working_set_solver(n: int, p: int, seed: int) -> None:
    # the demo's shape (two data sets), and p = 91 = n of most inner training folds (all-feature solves there)
    x, y = radiomics_like(n=n, p=p, seed=seed)
    work_ws: dict[str, int] = {}
    work_new: dict[str, int] = {}
    ref = _fits(x, y, LassoSettings(solver="working_set"), 1, work_ws)
    new = _fits(x, y, LassoSettings(), 1, work_new)
    assert [a for a, _ in new] == [a for a, _ in ref]                  # the same penalty in every fit
    for (_, c_new), (_, c_ref) in zip(new, ref, strict=True):
        np.testing.assert_array_equal(c_new, c_ref)                     # hence the same refit, bit for bit
    assert work_new["alphas"] == work_ws["alphas"]                       # same early stops
    # the same coordinate updates, up to the order of floating-point sums
    assert work_new["updates"] == pytest.approx(work_ws["updates"], rel=1e-3)


def _random_problem(n: int, p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlated Gaussian features (4 latent factors), a sparse linear truth and noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 4))
    x = z[:, rng.integers(0, 4, p)] + rng.standard_normal((n, p))
    beta = np.zeros(p)
    beta[rng.choice(p, 5, replace=False)] = rng.normal(0, 2, 5)
    return x, x @ beta + 3.0 + rng.standard_normal(n)


@pytest.mark.parametrize(("n", "p", "seed"), [(60, 150, 1), (80, 40, 2), (50, 40, 3), (50, 200, 4)])
def test_compiled_paths_match_sklearn_lasso_path_and_lassocv(n: int, p: int, seed: int) -> None:
    """With a tight tolerance every solver reaches the same optimum, so the kernel's inner paths can be checked
    against scikit-learn's own: LassoCV's mse_path_ (summed over its folds), its chosen alpha and coefficients,
    and lasso_path's coefficients on each inner fold at the last alpha of the grid."""
    from sklearn.linear_model import lasso_path

    x, y = _random_problem(n, p, seed)
    s = LassoSettings(full_path=True, n_alphas=30, tol=1e-11, max_iter=100_000)
    alphas, mse, folds = inner_cv(x, y, s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LassoCV(cv=5, alphas=30, tol=1e-11, max_iter=100_000).fit(x, y)
    np.testing.assert_allclose(alphas, ref.alphas_, rtol=1e-12)
    np.testing.assert_allclose(mse, ref.mse_path_.sum(axis=1), rtol=1e-7)
    alpha, coef = lasso_cv_fit(x, y, s)
    assert alpha == pytest.approx(ref.alpha_, rel=1e-12)                 # the same grid point
    np.testing.assert_array_equal(coef != 0, ref.coef_ != 0)            # the same selection
    np.testing.assert_allclose(coef, ref.coef_, rtol=1e-6, atol=1e-9)
    for fold in folds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiniest alphas with p > n stop at max_iter, as the kernel does
            _, path, _ = lasso_path(fold.xt, fold.yt, alphas=alphas, tol=1e-11, max_iter=100_000)
        np.testing.assert_allclose(fold.coef, path[:, -1], rtol=1e-6, atol=1e-9)
