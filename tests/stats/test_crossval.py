"""Cross-validated predictions: the signature's fold fits predict like scikit-learn's Lasso at the same penalty,
each repeat holds every patient out once, and the composite refitted within the folds is the OLS of each fold's
training patients (statsmodels as the reference)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Lasso

from radpath.stats.crossval import out_of_fold, refit_within_folds
from radpath.stats.signature import LassoSignature, outer_splits


def _data(n: int = 50, p: int = 8, seed: int = 5) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal(n)
    x = rng.standard_normal((n, p))
    x[:, :2] += 1.5 * latent[:, None]
    ids = [f"P{i:03d}" for i in range(n)]
    return pd.DataFrame(x, index=ids, columns=[f"F{j}" for j in range(p)]), pd.Series(20 + 8 * latent
                                                                                     + rng.normal(0, 3, n), index=ids)


def test_fold_predictions_are_those_of_the_fold_lasso() -> None:
    X, y = _data()
    sig = LassoSignature(folds=5, repeats=2, seed=3).fit(X, y)
    cv = sig.cv_predictions_
    assert len(cv) == 2 * 5 * len(y)
    # every repeat holds every patient out exactly once
    held = cv[cv["held_out"]]
    assert (held.groupby(["rep", "patient_id"]).size() == 1).all() and held["rep"].nunique() == 2
    assert set(held["patient_id"]) == set(y.index)
    z = ((X - sig.means_) / sig.sds_).to_numpy()
    splits = outer_splits(len(y), 5, 2, 3)
    for k in (0, 7):
        rep, fold = divmod(k, 5)
        train = splits[rep][fold]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = Lasso(alpha=sig.alphas_[k], tol=1e-10, max_iter=100_000).fit(z[train], y.to_numpy()[train])
        ours = cv[(cv["rep"] == rep) & (cv["fold"] == fold)].set_index("patient_id").loc[y.index]
        # same penalty; our refit stops at the LassoCV tolerance (1e-4), the reference runs to convergence
        np.testing.assert_allclose(ours["predicted"], ref.predict(z), atol=2e-3)
        assert set(ours.index[ours["held_out"]]) == set(np.asarray(y.index)[np.setdiff1d(np.arange(len(y)), train)])
    # the out-of-fold prediction is the mean of a patient's held-out predictions over the repeats
    oof = out_of_fold(cv)
    first = y.index[0]
    assert oof[first] == pytest.approx(held.loc[held["patient_id"] == first, "predicted"].mean())
    assert sig.oof_[first] == pytest.approx(oof[first])


def test_composite_refitted_within_the_folds_is_each_folds_ols() -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    ids = [f"P{i}" for i in range(12)]
    rows = []
    for rep in range(2):
        order = rng.permutation(12)
        for fold in range(3):
            out = set(order[fold * 4:(fold + 1) * 4])
            rows += [{"rep": rep, "fold": fold, "patient_id": ids[i], "predicted": float(rng.normal(15, 6)),
                      "held_out": i in out} for i in range(12)]
    component = pd.DataFrame(rows)
    terms = pd.DataFrame({"sig": rng.normal(size=12), "CYT": rng.normal(3, 1, 12)}, index=ids)
    til = pd.Series(rng.uniform(0, 80, 12), index=ids)
    cv = refit_within_folds(component, "sig", terms, til)
    assert len(cv) == 2 * 3 * 12
    for rep, fold in ((0, 1), (1, 2)):
        part = component[(component["rep"] == rep) & (component["fold"] == fold)].set_index("patient_id").loc[ids]
        design = sm.add_constant(pd.DataFrame({"sig": part["predicted"], "CYT": terms["CYT"]}))
        train = ~part["held_out"].to_numpy()
        ref = sm.OLS(til.to_numpy()[train], design[train]).fit().predict(design)
        got = cv[(cv["rep"] == rep) & (cv["fold"] == fold)].set_index("patient_id").loc[ids]
        np.testing.assert_allclose(got["predicted"], ref, rtol=1e-9)
        assert (got["held_out"] == part["held_out"]).all()
    # a patient the component's cross-validation did not cover is left out
    more = pd.concat([terms, pd.DataFrame({"sig": [0.0], "CYT": [1.0]}, index=["NEW"])])
    assert "NEW" not in set(refit_within_folds(component, "sig", more, til)["patient_id"])
