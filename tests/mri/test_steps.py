"""Pipeline steps on phantoms with known answers: kinetics, phase choice, N4, normalisation, resampling, FCM."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from radpath.mri import kinetics, preprocess, segment
from radpath.mri.phases import choose_phases, effective_times

from .helpers import image


def test_pe_and_ser_of_piecewise_constant_phases_are_exact() -> None:
    pre = np.array([100.0, 100.0, 200.0, 50.0])
    early = np.array([200.0, 150.0, 500.0, 50.0])
    late = np.array([150.0, 175.0, 350.0, 60.0])
    pe = kinetics.pe_array(pre, early)
    ser = kinetics.ser_array(pre, early, late)
    np.testing.assert_allclose(pe.values, [1.0, 0.5, 1.5, 0.0])
    np.testing.assert_allclose(ser.values, [2.0, 50 / 75, 2.0, 0.0])
    assert pe.valid.all() and ser.valid.all()


def test_image_functions_keep_geometry() -> None:
    pre, early, late = (image(np.full((3, 4, 5), v), (0.7, 0.8, 2.0)) for v in (100.0, 180.0, 140.0))
    pe = kinetics.percent_enhancement(pre, early)
    ser = kinetics.signal_enhancement_ratio(pre, early, late)
    assert pe.GetSpacing() == pre.GetSpacing()
    np.testing.assert_allclose(sitk.GetArrayFromImage(pe), 0.8)
    np.testing.assert_allclose(sitk.GetArrayFromImage(ser), 2.0)


def test_non_positive_denominators_are_masked_and_counted_never_inf_or_nan() -> None:
    pre = np.array([0.0, 100.0, 100.0, 100.0, 100.0])
    early = np.array([10.0, 150.0, 150.0, 150.0, np.nan])
    late = np.array([5.0, 100.0, 90.0, 120.0, 120.0])        # late - pre: 5, 0, -10, 20, 20
    pe = kinetics.pe_array(pre, early)
    ser = kinetics.ser_array(pre, early, late)
    assert np.isfinite(pe.values).all() and np.isfinite(ser.values).all()
    assert pe.valid.tolist() == [False, True, True, True, False] and pe.n_masked == 2
    assert ser.valid.tolist() == [True, False, False, True, False] and ser.n_masked == 3
    assert ser.values[3] == pytest.approx(2.5)


def test_ser_clip_masks_near_zero_washout_denominators() -> None:
    ser = kinetics.ser_array(np.array([100.0]), np.array([200.0]), np.array([100.5]), clip=5.0)
    assert not ser.valid[0] and ser.n_masked == 1


@pytest.mark.parametrize(
    ("times", "early", "late"),
    [
        ([0, 60, 120, 180, 240, 300, 360, 420], 2, 7),   # 7 post-contrast phases, 60 s apart: effective 90..450 s
        ([0, 90, 390], 1, 2),                              # the minimum: two post-contrast phases
        ([0, 400, 460, 520], 1, 2),                        # everything late: still distinct, early first
        ([0, 30, 150, 270, 390, 510], 1, 4),              # effective 90 / 210 tie: the earlier wins
    ],
)
def test_phase_choice(times: list[float], early: int, late: int) -> None:
    choice = choose_phases(times)
    assert (choice.pre, choice.early, choice.late) == (0, early, late)
    assert choice.early < choice.late


def test_effective_times_take_the_centre_of_each_acquisition() -> None:
    assert effective_times([100, 160, 280, 400]) == [0.0, 120.0, 240.0, 360.0]
    assert effective_times([0, 60, 120], centre_fraction=0.0) == [0.0, 60.0, 120.0]


@pytest.mark.parametrize("times", [[0.0], [0.0, 60.0], [0.0, 120.0, 60.0]])
def test_phase_choice_rejects_too_few_or_unordered_phases(times: list[float]) -> None:
    with pytest.raises(ValueError, match="phase"):
        choose_phases(times)


def test_n4_reduces_a_planted_bias_field() -> None:
    rng = np.random.default_rng(0)
    shape = (24, 48, 48)
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    tissue = np.zeros(shape, bool)
    tissue[3:-3, 4:-4, 4:-4] = True
    bias = 1.0 + 0.4 * (x / shape[2] - 0.5) + 0.3 * (y / shape[1] - 0.5) ** 2
    array = np.where(tissue, 500.0, 5.0) * bias + rng.normal(0, 2.0, shape)
    img = image(array, (2.0, 2.0, 2.0))
    mask = image(tissue, (2.0, 2.0, 2.0), np.uint8)
    field = preprocess.n4_field(img, mask, shrink=2, iterations=[30, 20])
    corrected = sitk.GetArrayFromImage(preprocess.apply_field(img, field))
    before = preprocess.coefficient_of_variation(array[tissue])
    after = preprocess.coefficient_of_variation(corrected[tissue])
    assert before > 0.08
    assert after < 0.5 * before


def test_iqr_mean_is_the_mean_of_the_middle_half() -> None:
    values = np.concatenate([np.arange(1, 101, dtype=float), [1e6]])
    q1, q3 = np.percentile(values, [25, 75])
    assert preprocess.iqr_mean(values) == pytest.approx(values[(values >= q1) & (values <= q3)].mean())
    assert preprocess.iqr_mean(values) < 60


def test_isotropic_resampling_keeps_extent_and_volume() -> None:
    mask = np.zeros((10, 20, 20), bool)
    mask[3:7, 5:15, 5:15] = True                       # 4 x 10 x 10 voxels of 2 x 1.5 x 1.5 mm = 1800 mm3
    img = image(mask, (1.5, 1.5, 2.0), np.uint8)
    reference = preprocess.isotropic_grid(img, 1.0)
    assert reference.GetSize() == (30, 30, 20)
    iso = sitk.GetArrayFromImage(preprocess.resample(img, reference, is_mask=True))
    assert iso.sum() == pytest.approx(1800, rel=0.05)


def test_fuzzy_cmeans_finds_the_darker_tissue() -> None:
    rng = np.random.default_rng(1)
    shape = (10, 30, 30)
    breast = np.ones(shape, bool)
    truth = np.zeros(shape, bool)
    truth[:, :, :12] = True                                     # 40 % parenchyma
    pre = np.where(truth, 400.0, 1000.0) + rng.normal(0, 40, shape)
    tumour = np.zeros(shape, bool)
    tumour[4:6, 14:16, 2:4] = True
    found = segment.parenchyma_mask(pre, breast, tumour)
    assert not (found & tumour).any()
    agreement = (found == (truth & ~tumour)).mean()
    assert agreement > 0.99
    fcm = segment.fuzzy_cmeans_1d(pre[breast], 2)
    assert fcm.centroids == pytest.approx([400, 1000], abs=15)
    assert np.allclose(fcm.membership.sum(axis=1), 1.0)


def test_breast_mask_excludes_air() -> None:
    array = np.full((12, 30, 30), 5.0)
    array[2:10, 4:26, 4:26] = 800.0
    array[5:7, 10:14, 10:14] = 300.0                              # darker tissue inside: a hole Otsu would leave
    mask = sitk.GetArrayFromImage(segment.breast_mask(image(array)))
    assert mask[2:10, 4:26, 4:26].mean() > 0.9
    assert mask[5:7, 10:14, 10:14].all()
    assert mask[0].sum() == 0 and mask[:, 0].sum() == 0


def test_a_map_computed_where_it_is_used_equals_the_whole_volume_bit_for_bit() -> None:
    """The pipeline normalises and computes the acquisition-grid PE at the parenchyma's voxels only (issue 22 §4):
    the same values, bit for bit, as normalising and mapping the whole float32 volume."""
    rng = np.random.default_rng(4)
    pre = rng.uniform(0.0, 900.0, (12, 20, 20)).astype(np.float32)
    early = (pre * rng.uniform(0.8, 2.5, pre.shape)).astype(np.float32)
    where = rng.random(pre.shape) < 0.3
    scale = 437.123
    whole = kinetics.pe_array(pre.astype(np.float64) / scale, early.astype(np.float64) / scale, 0.01)
    part = kinetics.embedded(kinetics.pe_array, where, (pre, early), scale, 0.01)
    np.testing.assert_array_equal(part.values[where], whole.values[where])
    np.testing.assert_array_equal(part.valid[where], whole.valid[where])
    assert not part.valid[~where].any() and (part.values[~where] == 0).all()


def test_fcm_memberships_in_blocks_equal_one_pass_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(6)
    values = np.concatenate([rng.normal(400, 40, 3000), rng.normal(1000, 60, 2000)])
    one_pass = segment.fuzzy_cmeans_1d(values, 3)
    monkeypatch.setattr(segment, "CHUNK", 256)
    blocks = segment.fuzzy_cmeans_1d(values, 3)
    np.testing.assert_array_equal(blocks.centroids, one_pass.centroids)
    np.testing.assert_array_equal(blocks.membership, one_pass.membership)
    np.testing.assert_array_equal(blocks.column(2), one_pass.membership[:, 2])
