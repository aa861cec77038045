"""Benchmark: repeated k-fold LASSO selection (radpath) against baselines measured in the same run.

1. 126 patients x 110 features (6 carry a latent that drives a skewed TIL-like target): radpath's
   `repeated_lasso` vs a plain loop of scikit-learn ``LassoCV(cv=5)`` fits on the same outer splits.
2. The demo's size, 126 x 403 (a radiomics-like matrix: 25 latent factors, blocks of correlated and skewed
   features; or the real matrix of a warehouse with ``--db``/``--cohort``): the compiled inner-CV kernel
   (today's default) vs the previous solver (``--baseline``: ``working_set``, sklearn's Cython solver called
   per alpha, or ``path``), both with ``--jobs`` workers. The baseline runs ``--baseline-repeats`` repeats (it
   is slow); times are compared per fit and the fits both ran are compared one by one (alphas and
   coefficients bit for bit). CPU seconds (this process and its workers) are printed beside wall seconds: on
   a shared machine they say what the run costs on idle cores. The kernel's one-off numba compile (empty
   cache) and its load from the cache are timed in fresh processes.

Usage: python benchmarks/modeling.py [--repeats 100] [--jobs 2] [--baseline-repeats 20] [--db W --cohort C]
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import numpy as np

from radpath.synth.matrix import radiomics_like


def warehouse_matrix(db: str, cohort: str) -> tuple[np.ndarray, np.ndarray]:
    """The standardised MRI matrix and TIL of a cohort's complete cases, as fit-signature builds them."""
    import pandas as pd

    from radpath.stats import data
    from radpath.stats.signature import standardise
    from radpath.warehouse import open_warehouse

    with open_warehouse(db) as con:
        matrix, _ = data.feature_matrix(con, cohort, modalities=["mri"])
        joined = matrix.join(data.til_target(con, cohort), how="inner")
    complete, _ = data.complete_cases(joined, "benchmark")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z, _, _ = standardise(complete.drop(columns=["til"]))
    return z.to_numpy(dtype=float), pd.to_numeric(complete["til"]).to_numpy(dtype=float)


def cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the worker processes)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def lassocv_loop(args: argparse.Namespace) -> None:
    from sklearn.linear_model import LassoCV

    from radpath.stats.signature import outer_splits, repeated_lasso

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
    print(f"[1] {args.folds}-fold x {args.repeats} repeats on {n} x {p}: {fits} LassoCV-equivalent fits")
    print(f"radpath repeated_lasso (jobs={args.jobs}): {t_radpath:8.2f} s")
    print(f"sklearn LassoCV loop          : {t_sklearn:8.2f} s")
    print(f"ratio (sklearn / radpath)     : {t_sklearn / t_radpath:8.1f} x")
    print(f"identical selections: {same_sel}/{fits}; identical alphas: {same_alpha}/{fits}")


def kernel_start_seconds() -> tuple[float, float]:
    """Seconds to compile the LASSO kernel into an empty numba cache, then to load it from that cache (each in
    a fresh interpreter, numba's import included)."""
    import os
    import subprocess
    import sys
    import tempfile

    code = "from radpath.stats.lasso_kernel import warm_up; warm_up()"
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            out.append(time.perf_counter() - t0)
    return out[0], out[1]


def demo_sized(args: argparse.Namespace) -> None:
    from radpath.stats.lasso import LassoSettings
    from radpath.stats.signature import repeated_lasso

    if args.db:
        x, y = warehouse_matrix(args.db, args.cohort)
        what = f"{args.cohort} MRI matrix of {args.db}"
    else:
        x, y = radiomics_like(seed=args.data_seed)
        what = f"radiomics-like matrix (seed {args.data_seed})"
    n, p = x.shape
    compile_s, load_s = kernel_start_seconds()
    from radpath.stats.lasso_kernel import warm_up

    t0 = time.perf_counter()
    warm_up()  # loaded from the cache here once (timed above in fresh interpreters), not inside the timed run
    warm_s = time.perf_counter() - t0
    runs = {}
    for solver, repeats in (("compiled", args.repeats), (args.baseline, args.baseline_repeats)):
        t0, c0 = time.perf_counter(), cpu_seconds()
        alphas, coefs = repeated_lasso(x, y, folds=args.folds, repeats=repeats, seed=args.seed, n_jobs=args.jobs,
                                       settings=LassoSettings(solver=solver))
        runs[solver] = (time.perf_counter() - t0, cpu_seconds() - c0, alphas, coefs)
    t_new, cpu_new, a_new, c_new = runs["compiled"]
    t_old, cpu_old, a_old, c_old = runs[args.baseline]
    k = len(a_old)
    per_new, per_old = t_new / len(a_new), t_old / k
    same_alpha = int((a_new[:k] == a_old).sum())
    same_coef = int((c_new[:k] == c_old).all(axis=1).sum())
    same_sel = int(((c_new[:k] != 0) == (c_old != 0)).all(axis=1).sum())
    freq = (c_new != 0).mean(axis=0)
    cpu_fit_new, cpu_fit_old = cpu_new / len(a_new), cpu_old / k
    print(f"[2] {what}: {n} x {p}, {args.folds}-fold, jobs={args.jobs}")
    print(f"kernel start: compile into an empty cache {compile_s:5.1f} s, load from the cache {load_s:5.1f} s "
          f"(fresh interpreters); {warm_s:4.1f} s in this process before the timed runs")
    print(f"compiled kernel    : {len(a_new)} fits in {t_new:7.2f} s wall ({per_new * 1000:6.1f} ms/fit), "
          f"{cpu_new:7.2f} s CPU ({cpu_fit_new * 1000:6.1f} ms/fit)")
    print(f"{args.baseline + ' solver':<19}: {k} fits in {t_old:7.2f} s wall ({per_old * 1000:6.1f} ms/fit), "
          f"{cpu_old:7.2f} s CPU ({cpu_fit_old * 1000:6.1f} ms/fit)")
    print(f"ratio ({args.baseline} / compiled, per fit): wall {per_old / per_new:5.2f} x, "
          f"CPU {cpu_fit_old / cpu_fit_new:5.2f} x; "
          f"{len(a_new)} fits on {args.jobs} idle cores: compiled ~{cpu_new / args.jobs:6.1f} s, "
          f"{args.baseline} ~{cpu_fit_old * len(a_new) / args.jobs:6.1f} s")
    print(f"identical alphas: {same_alpha}/{k}; identical coefficients: {same_coef}/{k}; "
          f"identical selections: {same_sel}/{k}; features selected in > 90% of fits: {int((freq > 0.9).sum())}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="outer-split seed of the demo-sized run")
    parser.add_argument("--baseline", choices=["working_set", "path"], default="working_set",
                        help="the previous solver to compare with")
    parser.add_argument("--baseline-repeats", type=int, default=20, help="repeats of the slow baseline solver")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the radiomics-like matrix")
    parser.add_argument("--db", help="warehouse to read the real MRI matrix from (with --cohort)")
    parser.add_argument("--cohort", default="tcga_brca")
    parser.add_argument("--only", choices=["lassocv", "demo"], help="run one of the two benchmarks")
    args = parser.parse_args()
    if args.only != "demo":
        lassocv_loop(args)
    if args.only != "lassocv":
        demo_sized(args)


if __name__ == "__main__":
    main()
