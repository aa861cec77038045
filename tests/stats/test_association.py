"""BH-FDR against a hand-computed example, Fisher-z CI against the formula, constant features dropped."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from radpath.stats.association import associate, bh_fdr, fisher_ci, pearson


def test_bh_hand_example() -> None:
    # p sorted: .01 .02 .03 .04 .20 (m=5): raw p*m/i = .05 .05 .05 .05 .20 -> q as is, in input order
    p = [0.04, 0.01, 0.20, 0.03, 0.02]
    assert bh_fdr(p) == pytest.approx([0.05, 0.05, 0.20, 0.05, 0.05])
    # monotone step-up: p = .01, .04, .045 (m=3): raw .03, .06, .045 -> q = .03, .045, .045
    assert bh_fdr([0.045, 0.01, 0.04]) == pytest.approx([0.045, 0.03, 0.045])
    assert np.isnan(bh_fdr([0.5, np.nan])[1])


def test_fisher_ci_formula_and_pearson() -> None:
    lo, hi = fisher_ci(0.51, 126)
    half = 1.959964 / math.sqrt(123)
    assert lo == pytest.approx(math.tanh(math.atanh(0.51) - half), abs=1e-6)
    assert hi == pytest.approx(math.tanh(math.atanh(0.51) + half), abs=1e-6)
    # the paper reports CYT r = 0.51, 95% CI 0.36-0.63 on 126 patients
    assert (round(lo, 2), round(hi, 2)) == (0.37, 0.63) or (round(lo, 2), round(hi, 2)) == (0.36, 0.63)
    x = np.array([1.0, 2, 3, 4, 5, np.nan])
    y = np.array([2.0, 1, 4, 3, 5, 9])
    c = pearson(x, y)
    assert c.n == 5 and c.r == pytest.approx(0.8)


def test_associate_drops_constant_feature_with_warning() -> None:
    rng = np.random.default_rng(0)
    idx = [f"p{i}" for i in range(30)]
    t = pd.Series(rng.standard_normal(30), index=idx)
    m = pd.DataFrame({"GOOD": t + 0.1 * rng.standard_normal(30), "FLAT": 1.0}, index=idx)
    with pytest.warns(UserWarning, match="feature FLAT is constant"):
        out = associate(m, pd.DataFrame({"til": t}))
    assert list(out["code"]) == ["GOOD"]
    assert bool(out["significant"].iloc[0]) and out["r"].iloc[0] > 0.95
