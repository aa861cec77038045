"""Genomics timings: radpath ComBat vs neuroCombat 0.2.12 (baseline, same data, same run), and CYT scoring.

Run: .venv/bin/python benchmarks/genomics.py [--genes 5000 --samples 400]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time

import numpy as np
import pandas as pd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--genes", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=400)
    args = parser.parse_args()
    from neuroCombat import neuroCombat

    from radpath.genomics.combat import combat
    from radpath.genomics.cytolytic import cytolytic_score

    rng = np.random.default_rng(0)
    n = args.samples
    batch = np.where(np.arange(n) < n * 0.55, "tcga", "ispy")
    x = rng.normal(6, 1, (args.genes, n)) + rng.normal(0, 2, (args.genes, 1))
    x[:, batch == "ispy"] = 1.5 + 0.8 * x[:, batch == "ispy"]
    cols = [f"s{i}" for i in range(n)]
    frame = pd.DataFrame(x, columns=cols)

    start = time.perf_counter()
    mine, _ = combat(frame, pd.Series(batch, index=cols))
    t_mine = time.perf_counter() - start
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ref = neuroCombat(x.copy(), pd.DataFrame({"batch": batch}), "batch")
    t_ref = time.perf_counter() - start
    diff = float(np.abs(mine.to_numpy() - ref["data"]).max())
    print(f"ComBat {args.genes} genes x {n} samples: radpath {t_mine:.3f}s, neuroCombat {t_ref:.3f}s, "
          f"ratio {t_ref / t_mine:.2f}x (max |diff| {diff:.2e})")

    g, p = rng.lognormal(3, 1, 1_000_000), rng.lognormal(3, 1, 1_000_000)
    start = time.perf_counter()
    cytolytic_score(g, p, "linear")
    t_cyt = time.perf_counter() - start
    start = time.perf_counter()
    loop = [((a + 0.01) * (b + 0.01)) ** 0.5 for a, b in zip(g[:100_000], p[:100_000], strict=True)]
    t_loop = (time.perf_counter() - start) * 10
    assert len(loop) == 100_000
    print(f"CYT 1e6 samples: vectorised {t_cyt:.4f}s, python loop (extrapolated) {t_loop:.3f}s, "
          f"ratio {t_loop / t_cyt:.1f}x")


if __name__ == "__main__":
    main()
