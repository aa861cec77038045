"""Benchmark: the per-case executor on two local Dask worker processes vs the local process pool.

1,000 synthetic cases (each a small, seeded piece of numpy work, ~`--work-ms` of CPU, returning a few
numbers, like a per-case stage's result) run through `radpath.executor.run_cases` three ways in the same run:
inline (jobs=1, the baseline), a process pool (jobs=2), and a Dask cluster of two single-threaded worker
processes on loopback (`LocalCluster(n_workers=2, processes=True)`, what `--scheduler` connects to). Prints
wall times, the per-case overhead over the inline run, and the ratios; checks every result is the same.
Cluster start-up is timed separately (a real cluster is started once and reused).

Usage: python benchmarks/executor.py [--cases 1000] [--work-ms 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per worker, as the stages run them
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def case_work(payload: tuple[int, int]) -> float:
    """Seeded matrix work of a fixed size (what one case of a stage computes), returning one number."""
    seed, size = payload
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((size, size))
    return float(np.linalg.eigvalsh(a @ a.T).max())


def calibrate(work_ms: float) -> int:
    """Matrix size whose case_work takes about work_ms on this machine."""
    size = 20
    case_work((0, size))  # warm up LAPACK
    while size < 2000:
        t0 = time.perf_counter()
        for i in range(5):
            case_work((i, size))
        if (time.perf_counter() - t0) / 5 * 1000 >= work_ms:
            return size
        size = int(size * 1.25) + 1
    return size


def timed(cases: list[tuple[str, tuple[int, int]]], **kwargs: object) -> tuple[float, dict[str, float]]:
    from radpath.executor import run_cases

    t0 = time.perf_counter()
    out = {r.case_id: r.value for r in run_cases(case_work, cases, **kwargs) if r.ok}  # type: ignore[arg-type]
    return time.perf_counter() - t0, out


def main() -> None:
    from distributed import LocalCluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--work-ms", type=float, default=5.0)
    args = parser.parse_args()
    size = calibrate(args.work_ms)
    cases = [(f"case-{i:04d}", (i, size)) for i in range(args.cases)]
    t_inline, ref = timed(cases, jobs=1)
    t_pool, pool = timed(cases, jobs=2)
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        t_start = time.perf_counter() - t0
        t_dask, dask = timed(cases, scheduler=cluster.scheduler_address)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)  # no noise from the shutdown
    n = args.cases
    print(f"{n} cases of ~{args.work_ms:g} ms ({size} x {size} eigenproblem), 2 workers each way")
    print(f"inline (jobs=1)             : {t_inline:7.2f} s  ({t_inline / n * 1000:6.2f} ms/case)")
    print(f"process pool (jobs=2)       : {t_pool:7.2f} s  ({t_pool / n * 1000:6.2f} ms/case)")
    print(f"Dask, 2 local worker procs  : {t_dask:7.2f} s  ({t_dask / n * 1000:6.2f} ms/case; cluster start "
          f"{t_start:.2f} s not included)")
    print(f"ratio pool / inline: {t_pool / t_inline:5.2f}; Dask / inline: {t_dask / t_inline:5.2f}; "
          f"Dask / pool: {t_dask / t_pool:5.2f}")
    print(f"scheduling overhead per case over the pool: {(t_dask - t_pool) / n * 1000:6.2f} ms")
    print(f"identical results: pool {pool == ref}, Dask {dask == ref}")


if __name__ == "__main__":
    main()
