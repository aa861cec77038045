"""The synthetic study's truth follows the paper's Table 2 and is fixed by its seed."""

from __future__ import annotations

import numpy as np

from radpath.synth.truth import TRAIN, VALID, draw_truth, til_category


def test_til_categories_follow_table_2() -> None:
    # paper Table 2 (training, n = 126): low 92 (73 %), intermediate 25 (20 %), high 9 (7 %)
    shares = []
    for seed in range(1, 21):
        truth = draw_truth(seed)
        train = truth[(truth["cohort"] == TRAIN) & truth["included"]]
        assert len(train) == 126
        shares.append(train["til_category"].value_counts(normalize=True).reindex(["low", "intermediate", "high"]))
    mean = np.mean(shares, axis=0)
    assert np.allclose(mean, [0.73, 0.20, 0.07], atol=0.04), mean


def test_seed_fixes_the_study_and_counts_are_honoured() -> None:
    a, b = draw_truth(5, 40, 30), draw_truth(5, 40, 30)
    assert a.equals(b)
    assert not a.equals(draw_truth(6, 40, 30))
    assert (a.query("cohort == @VALID")["included"]).sum() == 30
    excluded = a[~a["included"]]
    flags = excluded[["invasive", "has_mri", "has_slide", "has_expression", "has_outcome"]]
    assert ((~flags).sum(axis=1) == 1).all(), "each excluded patient fails exactly one criterion"


def test_til_category_boundaries() -> None:
    assert [til_category(x) for x in (0, 10, 10.5, 40, 41)] == ["low", "low", "intermediate", "intermediate", "high"]


def test_low_til_tnbc_has_worse_rfs_in_the_truth() -> None:
    truth = draw_truth(2, 126, 2000)
    valid = truth[truth["cohort"] == VALID]
    tnbc = valid[valid["subtype"] == "TNBC"]
    rate = tnbc.groupby(tnbc["til_category"] == "low")["rfs_event"].sum() / tnbc.groupby(
        tnbc["til_category"] == "low")["rfs_days"].sum()
    assert rate[True] / rate[False] > 3.0
