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


def test_renderers_in_parallel_write_the_same_study(tmp_path) -> None:
    """--jobs 2 runs the renderers in spawned processes; every file (and the manifests) is byte-identical
    (spreadsheets: the same cells; gzip: the same content)."""
    from radpath.synth.study import generate_study

    kinds = ["tables", "mri", "genomics"]
    one = generate_study(tmp_path / "one", seed=3, n_train=10, n_valid=10, modalities=kinds, jobs=1)
    two = generate_study(tmp_path / "two", seed=3, n_train=10, n_valid=10, modalities=kinds, jobs=2)
    files = sorted(p.relative_to(one.out) for p in one.out.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two.out) for p in two.out.rglob("*") if p.is_file())
    assert any(p.suffix in (".gz", ".nii") or p.name.endswith(".nii.gz") for p in files)   # MRI volumes rendered
    for rel in files:
        if rel.suffix == ".xlsx":   # a zip whose entries carry the time they were written
            import pandas as pd

            pd.testing.assert_frame_equal(pd.read_excel(one.out / rel), pd.read_excel(two.out / rel))
            continue
        if rel.suffix == ".gz":     # gzip headers carry the time they were written
            import gzip

            assert gzip.decompress((one.out / rel).read_bytes()) == gzip.decompress((two.out / rel).read_bytes())
            continue
        assert (one.out / rel).read_bytes() == (two.out / rel).read_bytes(), rel
