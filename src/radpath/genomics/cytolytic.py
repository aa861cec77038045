"""Cytolytic activity (CYT), Rooney et al., Cell 2015: the geometric mean of GZMA and PRF1 expression.

On a linear scale (TPM) ``CYT = sqrt((GZMA + 0.01) * (PRF1 + 0.01))`` (0.01 TPM offset, as Rooney et al.).
On a log2 scale (microarrays) the same quantity is the mean of the two log2 values,
``log2 CYT = (log2 GZMA + log2 PRF1) / 2``, i.e. the log of the geometric mean. The scale travels with
every value (`cytolytic_scores.scale`); `cyt_log2` is comparable across both.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import pandas as pd

from radpath.errors import GenomicsError

OFFSET = 0.01
ArrayLike = TypeVar("ArrayLike", pd.Series, np.ndarray)


def cytolytic_score(
    gzma: ArrayLike, prf1: ArrayLike, scale: Literal["linear", "log2"] = "linear", offset: float = OFFSET
) -> ArrayLike:
    """Per-sample CYT on the input's scale (linear: geometric mean with `offset`; log2: mean of log2 values).

    Raises GenomicsError on NaN, on negative linear values, and on zero linear values when `offset` is 0
    (a geometric mean of zero carries no information about the other gene).
    """
    if scale not in ("linear", "log2"):
        raise GenomicsError(f"unknown expression scale {scale!r}; expected 'linear' or 'log2'")
    g = np.asarray(gzma, dtype=float)
    p = np.asarray(prf1, dtype=float)
    if g.shape != p.shape:
        raise GenomicsError(f"GZMA and PRF1 have different lengths ({g.shape} vs {p.shape})")
    for name, values in (("GZMA", g), ("PRF1", p)):
        if np.isnan(values).any():
            raise GenomicsError(f"{name} has NaN values ({int(np.isnan(values).sum())} samples)")
        if scale == "linear" and (values < 0).any():
            raise GenomicsError(f"{name} has negative values on a linear scale (min {values.min():.4g})")
        if scale == "linear" and offset <= 0 and (values == 0).any():
            raise GenomicsError(f"{name} has zero values on a linear scale and no offset: the geometric mean is 0")
    score = np.sqrt((g + offset) * (p + offset)) if scale == "linear" else (g + p) / 2.0
    if isinstance(gzma, pd.Series):
        return pd.Series(score, index=gzma.index, name="CYT")  # type: ignore[return-value]
    return score  # type: ignore[return-value]


def cytolytic_log2(gzma: ArrayLike, prf1: ArrayLike, scale: Literal["linear", "log2"]) -> ArrayLike:
    """log2 CYT whatever the input scale (linear: log2 of the offset geometric mean)."""
    score = cytolytic_score(gzma, prf1, scale)
    return np.log2(score) if scale == "linear" else score  # type: ignore[return-value]
