"""Whole-slide segmentation geometry: centre stitching leaves no seams, glass is skipped, the label TIFF
opens in openslide at the right microns per pixel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radpath.pathology.segmentation.maskfile import overlay_png, write_label_tiff
from radpath.pathology.segmentation.wsi import layout_for, segment_slide_mask
from radpath.pathology.slides import open_slide

from .conftest import make_slide

META = {"label_set": "tiger", "tile_px": 32, "margin_px": 4, "mpp": 0.5, "mean": [0.5] * 3, "std": [0.25] * 3}


def _context_model():  # type: ignore[no-untyped-def]
    """Two 3 x 3 convolutions (receptive field: 2 px each side) with fixed random weights, 8 classes."""
    import torch
    from torch import nn

    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.Tanh(), nn.Conv2d(6, 8, 3, padding=1))
    return model.eval()


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("segslide") / "S.tiff"
    make_slide(path, 40.0, seed=3, shape=(200, 264))
    return path


def _whole_slide_reference(path: Path, model, margin: int, rows: int, cols: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The same network run once over the whole slide (padded with glass as the tiles are)."""
    import torch
    from PIL import Image

    slide, _ = open_slide(path, "S")
    region = slide.read_region((-margin, -margin), 0, (cols + 2 * margin, rows + 2 * margin))
    slide.close()
    rgb = np.asarray(Image.alpha_composite(Image.new("RGBA", region.size, (255,) * 4), region).convert("RGB"))
    x = torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float()[None] / 255.0
    with torch.inference_mode():
        out = model((x - 0.5) / 0.25)[0].argmax(0).numpy()
    return out[margin:-margin, margin:-margin] if margin else out


def test_centre_stitching_has_no_seams(slide_path: Path) -> None:
    model = _context_model()
    slide, info = open_slide(slide_path, "S")
    slide.close()
    mask, counts = segment_slide_mask(model, META, info, case_id="S", batch=5, readers=2)
    assert mask.shape == (200, 264) and counts["tiles"] == counts["tiles_total"] == 9 * 11   # cores of 24 px
    reference = _whole_slide_reference(slide_path, model, 4, 200, 264)
    assert (mask == reference).mean() > 0.9999
    # the same network on plain tiles (no margin) differs along the tile borders
    naive, _ = segment_slide_mask(model, {**META, "margin_px": 0}, info, case_id="S", batch=5, readers=0)
    wrong = naive != reference
    near = np.isin(np.arange(264) % 32, (0, 1, 30, 31))   # within the 2-px receptive field of a tile border
    border = near[None, :200].T | near[None, :]
    assert wrong[border].mean() > 0.05 and wrong[~border].mean() < 1e-4


def test_glass_is_skipped_and_layout_covers_the_slide(slide_path: Path) -> None:
    model = _context_model()
    slide, info = open_slide(slide_path, "S")
    slide.close()
    layout = layout_for(info, 2.0, 32, 4)   # 4 level-0 px per mask px: 50 x 66 mask px, cores of 24 px
    assert layout.mask_shape == (50, 66) and layout.grid == (3, 3)
    assert layout.origins0(np.array([[1, 2]])).tolist() == [[(2 * 24 - 4) * 4, (24 - 4) * 4]]
    empty = np.zeros((10, 10), bool)
    mask, counts = segment_slide_mask(model, META, info, case_id="S", thumb_mask=empty)
    assert counts["tiles"] == 0 and not mask.any()
    corner = empty.copy()
    corner[0, 0] = True    # tissue only in the top-left corner: its core and none far from it
    _, counts = segment_slide_mask(model, META, info, case_id="S", thumb_mask=corner)
    assert 0 < counts["tiles"] < counts["tiles_total"]
    with pytest.raises(ValueError, match="leaves no core"):
        layout_for(info, 0.5, 32, 16)


def test_label_tiff_opens_in_openslide_with_its_mpp(tmp_path: Path) -> None:
    import openslide

    labels = np.random.default_rng(0).integers(0, 8, (300, 700)).astype(np.uint8)
    path = write_label_tiff(tmp_path / "m.tiff", labels, 2.0)
    slide = openslide.OpenSlide(str(path))
    assert slide.level_dimensions == ((700, 300), (350, 150), (175, 75))   # halved until one tile
    assert float(slide.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(2.0)
    read = np.asarray(slide.read_region((0, 0), 0, (700, 300)))
    assert (read[..., 0] == labels).all()
    assert (np.asarray(slide.read_region((0, 0), 1, (350, 150)))[..., 0] == labels[::2, ::2]).all()
    slide.close()
    thumb = np.full((30, 70, 3), 200, np.uint8)
    png = overlay_png(tmp_path / "o.png", thumb, labels)
    from PIL import Image

    from radpath.palettes import COMPARTMENTS

    over = np.asarray(Image.open(png))
    assert over.shape[0] > 30 and over.shape[2] == 3 and not (over[:30, :70] == 200).all()
    # the legend band below the picture lists every compartment's colour as a swatch
    band = over[30:]
    for _, _, rgb in COMPARTMENTS.shown:
        assert (band == np.array(rgb, np.uint8)).all(axis=-1).sum() >= 50
