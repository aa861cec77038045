"""A radiomics-like feature matrix for the LASSO tests and benchmarks: correlated blocks, skewed columns and
a TIL-like outcome driven by two latent factors (the shape that makes the 403-feature LASSO path deep)."""

from __future__ import annotations

import numpy as np


def radiomics_like(n: int = 126, p: int = 403, k: int = 25, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(standardised n x p matrix, TIL-like outcome in [0, 90]) from `k` latent factors."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    x = z[:, rng.integers(0, k, p)] * rng.uniform(0.6, 1.0, p)
    x += z @ (rng.standard_normal((k, p)) * 0.3 * (rng.random((k, p)) < 0.1))
    x += rng.standard_normal((n, p)) * rng.uniform(0.1, 1.0, p)
    skew = rng.random(p) < 0.3
    x[:, skew] = np.exp(x[:, skew])
    y = np.exp(1.25 + 0.5 * z[:, 0] - 0.3 * z[:, 1] + 0.8 * rng.standard_normal(n)).clip(0, 90)
    return (x - x.mean(axis=0)) / x.std(axis=0, ddof=1), y
