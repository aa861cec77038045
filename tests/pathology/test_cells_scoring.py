"""Ki-67 index, cell TIL score, categories and densities vs hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from radpath.pathology.cells import ki67_index, til_cell_score
from radpath.pathology.cells.scoring import FEATURE_DEFS, cell_scores, ki67_category, til_cell_category


def test_scores_by_hand() -> None:
    assert ki67_index(30, 70) == pytest.approx(30.0)
    assert til_cell_score(25, 30, 45) == pytest.approx(25.0)
    assert ki67_index(1, 2) == pytest.approx(100 / 3)


def test_zero_denominator_is_nan_with_a_reason() -> None:
    value = ki67_index(0, 0)
    assert math.isnan(value) and "no Ki-67" in (value.reason or "")
    value = til_cell_score(0, 0, 0)
    assert math.isnan(value) and value.reason
    assert til_cell_score(5, 0, 0) == 100.0   # lymphocytes only: defined


@pytest.mark.parametrize(("pct", "expected"), [(15.99, "low"), (16.0, "intermediate"), (30.0, "intermediate"),
                                               (30.01, "high"), (float("nan"), None)])
def test_ki67_categories(pct: float, expected: str | None) -> None:
    assert ki67_category(pct) == expected


@pytest.mark.parametrize(("pct", "expected"), [(0.0, "low"), (10.0, "low"), (10.5, "intermediate"),
                                               (39.9, "intermediate"), (40.0, "high")])
def test_til_categories(pct: float, expected: str) -> None:
    assert til_cell_category(pct) == expected


def test_cell_scores_and_densities() -> None:
    cells = pd.DataFrame({"class": ["ki67_positive"] * 20 + ["ki67_negative"] * 60 + ["lymphocyte"] * 15
                          + ["plasma_cell"] * 5 + ["other"] * 7})
    s = cell_scores(cells, tissue_area_mm2=0.5)
    assert s["KI67_INDEX"] == pytest.approx(25.0)             # 20 / 80
    assert s["TIL_CELL_SCORE"] == pytest.approx(20.0)         # 20 / (20 + 80)
    assert s["KI67_CATEGORY"] == 1 and s["TIL_CELL_CATEGORY"] == 1
    assert s["KI67_POS_DENSITY"] == pytest.approx(40.0) and s["KI67_NEG_DENSITY"] == pytest.approx(120.0)
    assert s["LYMPHOCYTE_DENSITY"] == pytest.approx(40.0)
    assert set(s) == {d["code"] for d in FEATURE_DEFS}
    empty = cell_scores(pd.DataFrame({"class": []}), 0.0)
    assert np.isnan(empty["KI67_INDEX"]) and np.isnan(empty["KI67_CATEGORY"]) and np.isnan(empty["LYMPHOCYTE_DENSITY"])
