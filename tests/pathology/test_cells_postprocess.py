"""PathoNet post-processing on analytic density maps (known centres) and non-maximum suppression."""

from __future__ import annotations

import numpy as np
import pytest

from radpath.pathology.cells.postprocess import density_centres, map_centres, nms


def gaussians(shape: tuple[int, int], centres: list[tuple[float, float]], sigma: float = 3.0) -> np.ndarray:
    """Unit-peak Gaussians at (x, y) centres, overlapping ones combined by their maximum."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    out = np.zeros(shape)
    for x, y in centres:
        out = np.maximum(out, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return out


def test_isolated_centres_recovered_to_subpixel() -> None:
    truth = [(20.3, 15.7), (60.0, 40.5), (35.5, 70.25), (90.8, 90.1)]
    xy, score = density_centres(gaussians((110, 110), truth), 0.5)
    assert len(xy) == 4
    for x, y in truth:   # a symmetric region's density-weighted centroid is its Gaussian's centre
        assert np.min(np.hypot(xy[:, 0] - x, xy[:, 1] - y)) < 0.35
    assert np.all(score > 0.9)


def test_touching_cells_split_by_the_watershed() -> None:
    # two Gaussians 7 px apart: thresholded at 0.5 their discs (radius 3.53 px) touch into one region,
    # whose distance transform has two maxima; the watershed splits it into two cells
    truth = [(30.0, 30.0), (37.0, 30.0)]
    density = gaussians((60, 70), truth)
    from scipy import ndimage as ndi

    assert ndi.label(density > 0.5)[1] == 1
    xy, _ = density_centres(density, 0.5)
    assert len(xy) == 2
    xs = sorted(xy[:, 0])
    assert abs(xs[0] - 30.0) < 1.0 and abs(xs[1] - 37.0) < 1.0
    assert np.allclose(xy[:, 1], 30.0, atol=0.5)


def test_below_threshold_and_empty_maps() -> None:
    density = 0.4 * gaussians((40, 40), [(20, 20)])
    assert len(density_centres(density, 0.5)[0]) == 0
    assert len(density_centres(np.zeros((16, 16)), 0.1)[0]) == 0


def test_map_centres_labels_each_channel() -> None:
    maps = np.stack([gaussians((50, 50), [(10, 10)]), gaussians((50, 50), [(30, 30), (40, 10)]),
                     np.zeros((50, 50))])
    xy, names, _ = map_centres(maps, [0.5, 0.5, 0.5], ["ki67_positive", "ki67_negative", "lymphocyte"])
    assert sorted(names.tolist()) == ["ki67_negative", "ki67_negative", "ki67_positive"]
    assert np.allclose(xy[names == "ki67_positive"], [[10, 10]], atol=0.3)


def test_nms_keeps_the_best_within_the_radius() -> None:
    xy = np.array([[0.0, 0.0], [3.0, 0.0], [10.0, 0.0], [12.0, 0.0], [30.0, 0.0]])
    score = np.array([0.6, 0.9, 0.5, 0.7, 0.1])
    keep = nms(xy, score, radius=4.0)
    # 1 (0.9) suppresses 0; 3 (0.7) suppresses 2; 4 is alone
    assert keep.tolist() == [1, 3, 4]
    assert nms(np.zeros((0, 2)), np.zeros(0), 4.0).tolist() == []


@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_threshold_does_not_move_centres(threshold: float) -> None:
    xy, _ = density_centres(gaussians((40, 40), [(19.5, 20.5)]), threshold)
    assert np.allclose(xy, [[19.5, 20.5]], atol=0.3)


def test_slide_tiles_cover_the_slide_with_their_tissue_fraction() -> None:
    from radpath.pathology.cells.detect import tile_tissue

    mask = np.zeros((10, 20), bool)      # thumbnail of a 200 x 100 slide (1/10), tissue in its first 5 columns
    mask[:, :5] = True
    origins, fraction = tile_tissue(mask, 200, 100, 60.0)
    assert origins.tolist() == [[0, 0], [60, 0], [120, 0], [180, 0], [0, 60], [60, 60], [120, 60], [180, 60]]
    assert fraction.tolist() == pytest.approx([5 / 6, 0, 0, 0, 5 / 6, 0, 0, 0])
