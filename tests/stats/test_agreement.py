"""Agreement statistics (Pearson, Spearman, Bland-Altman) against values worked out by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from radpath.stats.agreement import agreement


def test_agreement_by_hand() -> None:
    frame = pd.DataFrame({"score": [1.0, 2.0, 3.0, 4.0, None], "shifted": [3.0, 4.0, 5.0, 6.0, 7.0],
                          "reading": [1.0, 3.0, 2.0, 4.0, 9.0], "sparse": [1.0, None, None, None, None]})
    out = agreement(frame, ["score", "shifted", "sparse", "absent"], "reading").set_index("measure")
    assert list(out.index) == ["score", "shifted"]           # fewer than 3 pairs, or no column: left out
    score = out.loc["score"]
    # x = 1,2,3,4 against y = 1,3,2,4: r = 0.8 (Sxy = 4, Sxx = Syy = 5); ranks identical, so rho = 0.8;
    # differences 0,-1,1,0: bias 0, SD sqrt(2/3), limits +-1.96 sqrt(2/3) = +-1.6003
    assert score["n"] == 4
    assert score["pearson_r"] == pytest.approx(0.8)
    assert score["spearman_rho"] == pytest.approx(0.8)
    assert score["bias"] == pytest.approx(0.0)
    assert score["loa_high"] == pytest.approx(1.96 * math.sqrt(2 / 3))
    shifted = out.loc["shifted"]
    # shifted - reading = 2,1,3,2,-2 over five patients: bias 1.2, SD sqrt(14.8/4)
    assert shifted["bias"] == pytest.approx(1.2)
    assert shifted["loa_low"] == pytest.approx(1.2 - 1.96 * math.sqrt(14.8 / 4))
