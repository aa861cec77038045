"""CYT golden values: a hand-made table against hand-computed geometric means (Rooney 2015 definition)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from radpath.errors import GenomicsError
from radpath.genomics.cytolytic import cytolytic_log2, cytolytic_score


def test_linear_scale_is_offset_geometric_mean() -> None:
    gzma = pd.Series([10.0, 0.0, 3.99, 99.99], index=["a", "b", "c", "d"])
    prf1 = pd.Series([40.0, 5.0, 0.01, 0.99], index=gzma.index)
    # by hand: sqrt(10.01 * 40.01), sqrt(0.01 * 5.01), sqrt(4.00 * 0.02), sqrt(100 * 1)
    expected = [math.sqrt(10.01 * 40.01), math.sqrt(0.01 * 5.01), math.sqrt(0.08), 10.0]
    score = cytolytic_score(gzma, prf1, "linear")
    assert list(score.index) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(score.to_numpy(), expected, rtol=1e-12)
    assert score["d"] == pytest.approx(10.0)


def test_log2_scale_is_mean_of_logs_and_agrees_with_linear() -> None:
    g = np.array([8.0, 2.0, -1.0])
    p = np.array([4.0, 6.0, 3.0])
    np.testing.assert_allclose(cytolytic_score(g, p, "log2"), [6.0, 4.0, 1.0])
    linear_g, linear_p = np.array([255.99, 15.99]), np.array([0.99, 3.99])
    # log2 of sqrt(256 * 1) = 4 and of sqrt(16 * 4) = 3
    np.testing.assert_allclose(cytolytic_log2(linear_g, linear_p, "linear"), [4.0, 3.0], atol=1e-12)


def test_bad_values_are_rejected() -> None:
    with pytest.raises(GenomicsError, match="GZMA has negative values on a linear scale"):
        cytolytic_score(np.array([-1.0]), np.array([2.0]), "linear")
    with pytest.raises(GenomicsError, match="PRF1 has zero values on a linear scale and no offset"):
        cytolytic_score(np.array([1.0]), np.array([0.0]), "linear", offset=0.0)
    with pytest.raises(GenomicsError, match="PRF1 has NaN values"):
        cytolytic_score(np.array([1.0, 2.0]), np.array([np.nan, 2.0]), "log2")
    with pytest.raises(GenomicsError, match="unknown expression scale 'ln'"):
        cytolytic_score(np.array([1.0]), np.array([1.0]), "ln")  # type: ignore[arg-type]
