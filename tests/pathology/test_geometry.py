"""Map geometry, tissue detection, aggregation, RGB maps and scores on hand-made examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radpath.pathology.slides import best_level, open_slide, read_patch
from radpath.pathology.til import maps
from radpath.pathology.til.scores import til_scores
from radpath.pathology.tissue import PatchGrid, otsu_threshold, patch_side0, tissue_mask
from radpath.synth.slides import write_pyramid


def test_grid_shape_of_known_slide() -> None:
    # 1536 x 1152 px at 0.5 um/px; the paper's lymphocyte patch is 100 px at 0.5 um/px = 100 slide px
    grid = PatchGrid(1536, 1152, patch_side0(100, 0.5, 0.5))
    assert grid.shape == (11, 15)
    # tumour patch 350 px at 0.25 um/px = 87.5 um = 175 slide px at 0.5 um/px -> 6 x 8 whole patches
    tumour = PatchGrid(1536, 1152, patch_side0(350, 0.25, 0.5))
    assert tumour.patch0 == pytest.approx(175.0)
    assert tumour.shape == (6, 8)
    assert grid.origin(2, 3) == (300.0, 200.0)
    assert grid.origin(2, 3, downsample=4.0) == (75.0, 50.0)


def _checker_slide(path: Path) -> np.ndarray:
    """A slide whose 64-px blocks carry distinct colours, so a misplaced read shows."""
    rng = np.random.default_rng(5)
    colours = rng.integers(30, 230, size=(12, 16, 3))
    image = np.repeat(np.repeat(colours, 64, 0), 64, 1).astype(np.uint8)
    write_pyramid(path, image, mpp=0.5, levels=3)
    return image


@pytest.mark.parametrize("downsample", [1, 2, 4])
def test_patch_maps_to_slide_coordinates_at_every_level(tmp_path: Path, downsample: int) -> None:
    image = _checker_slide(tmp_path / "checker.tiff")
    slide, info = open_slide(tmp_path / "checker.tiff", "checker")
    grid = PatchGrid(info.width, info.height, 128.0)
    out_px = 128 // downsample
    assert best_level(info, 128 / out_px) == {1: 0, 2: 1, 4: 2}[downsample]
    for i, j in [(0, 0), (2, 5), (5, 7)]:
        x0, y0 = grid.origin0(i, j)
        patch = read_patch(slide, info, x0, y0, 128, out_px, "checker").astype(float)
        crop = image[y0 : y0 + 128, x0 : x0 + 128].astype(float)
        expected = crop.reshape(out_px, downsample, out_px, downsample, 3).mean(axis=(1, 3))
        # JPEG tiles and box downsampling: compare away from block edges, where colours are flat
        inner = slice(4 // downsample + 2, -(4 // downsample + 2))
        assert np.median(np.abs(patch[inner, inner] - expected[inner, inner])) <= 2.0
        # the check can fail: the patch one block (64 px) to the right does not match
        shifted = image[y0 : y0 + 128, x0 + 64 : x0 + 192].astype(float)
        if shifted.shape[1] == 128:
            other = shifted.reshape(out_px, downsample, out_px, downsample, 3).mean(axis=(1, 3))
            assert np.median(np.abs(patch[inner, inner] - other[inner, inner])) > 10.0
    slide.close()


def test_otsu_matches_brute_force_between_class_variance() -> None:
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(0.1, 0.03, 3000), rng.normal(0.6, 0.08, 1000)]).clip(0, 1)
    cut = otsu_threshold(values)
    hist, edges = np.histogram(values, bins=256, range=(0, 1))
    best, best_t = -1.0, 0.0
    for k in range(1, 256):  # independent reference: class means and weights recomputed at each cut
        below, above = values[values < edges[k]], values[values >= edges[k]]
        if len(below) == 0 or len(above) == 0:
            continue
        score = len(below) * len(above) * (below.mean() - above.mean()) ** 2
        if score > best:
            best, best_t = score, edges[k]
    assert cut == pytest.approx(best_t, abs=1 / 256)
    assert 0.15 < cut < 0.5


def test_glass_only_thumbnail_has_no_tissue() -> None:
    rng = np.random.default_rng(0)
    glass = (243 + rng.normal(0, 2, (200, 300, 3))).clip(0, 255).astype(np.uint8)
    assert tissue_mask(glass).sum() == 0
    pink = glass.copy()
    pink[50:150, 100:200] = (230, 160, 190)
    mask = tissue_mask(pink)
    # smoothing moves the edge by at most a couple of pixels
    assert mask[52:148, 102:198].all() and not mask[:46].any() and abs(int(mask.sum()) - 100 * 100) < 4 * 100 * 2


def test_section_with_little_glass_keeps_its_stroma() -> None:
    # mostly stroma with dense dark nuclei: Otsu alone would split nuclei from stroma and call stroma glass
    rng = np.random.default_rng(3)
    image = np.full((200, 200, 3), (236, 166, 196), float)
    image[:, :20] = 243
    nuclei = rng.random((200, 200)) < 0.3
    image[nuclei & (np.arange(200)[None, :] >= 20)] = (38, 22, 92)
    mask = tissue_mask(image.astype(np.uint8))
    assert mask[:, 30:].mean() > 0.99 and mask[:, :15].mean() < 0.01


def test_tissue_fraction_per_patch() -> None:
    mask = np.zeros((100, 100), bool)
    mask[:50, :25] = True                      # thumbnail at 1/10 of a 1000 x 1000 slide
    grid = PatchGrid(1000, 1000, 250.0)        # 4 x 4 patches of 25 x 25 thumbnail px
    frac = grid.tissue_fraction(mask)
    expected = np.zeros((4, 4))
    expected[:2, 0] = 1.0
    np.testing.assert_allclose(frac, expected)


def test_aggregation_matches_hand_computed_example() -> None:
    nan = np.nan
    h = np.array([
        [0.1, 0.9, 0.2, 0.3, 0.5],
        [0.4, 0.2, nan, 0.1, 0.7],
        [0.6, 0.3, 0.8, 0.2, nan],
    ], dtype=np.float32)
    # 2 x 2 blocks starting at multiples of 2: {0.1 .9 .4 .2} {.2 .3 .1} {.5 .7} {.6 .3} {.8 .2} {}
    mx = maps.aggregate(h, 2, "max")
    expected_max = np.array([[0.9, 0.9, 0.3, 0.3, 0.7], [0.9, 0.9, nan, 0.3, 0.7], [0.6, 0.6, 0.8, 0.8, nan]])
    np.testing.assert_allclose(mx, expected_max, rtol=1e-6)
    avg = maps.aggregate(h, 2, "average")
    assert avg[0, 0] == pytest.approx(0.4) and avg[0, 2] == pytest.approx(0.2) and avg[2, 1] == pytest.approx(0.45)
    med = maps.aggregate(h, 2, "median")
    assert med[1, 0] == pytest.approx(0.3) and med[1, 3] == pytest.approx(0.2) and med[0, 4] == pytest.approx(0.6)
    np.testing.assert_array_equal(maps.aggregate(h, 1, "max"), h)
    with pytest.raises(ValueError, match="aggregation must be one of"):
        maps.aggregate(h, 2, "mode")


def test_rgb_map_round_trips() -> None:
    rng = np.random.default_rng(2)
    tumour, lymph = rng.random((7, 9)).astype(np.float32), rng.random((7, 9)).astype(np.float32)
    tissue = rng.random((7, 9)) > 0.3
    rgb = maps.encode_rgb(tumour, lymph, tissue)
    assert rgb.dtype == np.uint8 and rgb.shape == (7, 9, 3)
    t2, l2, tissue2 = maps.decode_rgb(rgb)
    np.testing.assert_array_equal(tissue2, tissue)
    assert np.nanmax(np.abs(t2 - tumour)[tissue]) <= 0.5 / 255 + 1e-6
    assert np.nanmax(np.abs(l2 - lymph)[tissue]) <= 0.5 / 255 + 1e-6
    assert np.isnan(t2[~tissue]).all() and (rgb[~tissue] == 0).all()
    np.testing.assert_array_equal(maps.encode_rgb(t2, l2, tissue2), rgb)


def test_resample_takes_source_patch_under_each_centre() -> None:
    src = np.arange(12, dtype=np.float32).reshape(3, 4)      # patches of 175 px
    out = maps.resample(src, 175.0, (5, 7), 100.0)           # centres at 50, 150, 250, ... px
    assert out[0, 0] == src[0, 0] and out[0, 1] == src[0, 0] and out[0, 2] == src[0, 1]
    assert out[4, 6] == src[2, 3]                            # centre (650, 450) -> src (2, 3)


def test_scores_on_hand_made_maps() -> None:
    tissue = np.zeros((6, 8), bool)
    tissue[1:5, 1:7] = True                                    # 24 tissue patches
    tumour = np.zeros((6, 8), np.float32)
    tumour[2:4, 3:5] = 0.9                                     # 4 tumour patches
    lymph = np.zeros((6, 8), np.float32)
    lymph[2, 3] = 0.8                                          # 1 TIL+ in tumour
    lymph[1, 2] = lymph[4, 5] = 0.7                            # 2 TIL+ in the 1-patch band (12 patches)
    lymph[4, 1] = 0.6                                          # 1 TIL+ elsewhere (8 patches)
    s = til_scores(tumour, lymph, tissue, 50.0, band_um=50.0)
    assert s["TIL_INTRATUMORAL"] == pytest.approx(25.0)
    assert s["TIL_PERITUMORAL"] == pytest.approx(100 * 2 / 12)
    assert s["TIL_NONTUMOR"] == pytest.approx(100 * 1 / 8)
    assert s["TIL_SCORE"] == pytest.approx(100 * 3 / 16)
    assert s["TISSUE_AREA"] == pytest.approx(24 * 0.05**2)
    assert s["TUMOR_AREA"] == pytest.approx(4 * 0.05**2)
    empty = til_scores(tumour, lymph, np.zeros_like(tissue), 50.0)
    assert empty["TISSUE_AREA"] == 0.0 and np.isnan(empty["TIL_SCORE"])
