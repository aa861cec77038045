"""Benchmark: repeated k-fold LASSO selection (radpath) vs a plain loop of scikit-learn LassoCV fits.

Same data (126 patients x 110 features: 6 carry a latent that drives a skewed TIL-like target), same outer
splits, same inner CV (LassoCV(cv=5) defaults). Prints both timings, the ratio, and whether every fit selected
the same features with the same alpha. Usage: python benchmarks/modeling.py [--repeats 100] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def main() -> None:
    from sklearn.linear_model import LassoCV

    from radpath.stats.signature import outer_splits, repeated_lasso

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, p = 126, 110
    z = rng.standard_normal(n)
    x = rng.standard_normal((n, p))
    x[:, :6] += z[:, None]
    y = np.exp(1.25 + 0.7 * z + 0.7 * rng.standard_normal(n)).clip(0, 90)
    x = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)

    t0 = time.perf_counter()
    alphas, coefs = repeated_lasso(x, y, folds=args.folds, repeats=args.repeats, seed=1, n_jobs=args.jobs)
    t_radpath = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref_alpha, ref_nonzero = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for splits in outer_splits(n, args.folds, args.repeats, 1):
            for train in splits:
                model = LassoCV(cv=5).fit(x[train], y[train])
                ref_alpha.append(model.alpha_)
                ref_nonzero.append(model.coef_ != 0)
    t_sklearn = time.perf_counter() - t0
    same_sel = int(((coefs != 0) == np.asarray(ref_nonzero)).all(axis=1).sum())
    same_alpha = int(np.isclose(alphas, ref_alpha, rtol=1e-12).sum())
    fits = args.folds * args.repeats
    print(f"{args.folds}-fold x {args.repeats} repeats on {n} x {p}: {fits} LassoCV-equivalent fits")
    print(f"radpath repeated_lasso (jobs={args.jobs}): {t_radpath:8.2f} s")
    print(f"sklearn LassoCV loop          : {t_sklearn:8.2f} s")
    print(f"ratio (sklearn / radpath)     : {t_sklearn / t_radpath:8.1f} x")
    print(f"identical selections: {same_sel}/{fits}; identical alphas: {same_alpha}/{fits}")


if __name__ == "__main__":
    main()
