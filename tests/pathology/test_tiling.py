"""The shared tiled-inference loop: tiles read ahead equal tiles read one by one, in order, and a
reader's failure reaches the caller with the case and file named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radpath.errors import PathologyError
from radpath.pathology.slides import open_slide, read_patch
from radpath.pathology.tiling import read_batches, run_batches

from .conftest import make_slide


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiling") / "T.tiff"
    make_slide(path, 40.0, seed=4)
    return path


def _origins() -> np.ndarray:
    # 23 regions, some leaving the slide (800 x 600 px) on the right
    xs, ys = np.meshgrid(np.arange(0, 800, 150), np.arange(0, 600, 140))
    return np.stack([xs.ravel(), ys.ravel()], axis=1)[:23]


@pytest.mark.parametrize("readers", [0, 1, 3])
def test_read_ahead_gives_the_tiles_read_one_by_one_in_order(slide_path: Path, readers: int) -> None:
    slide, info = open_slide(slide_path, "T")
    origins = _origins()
    expected = np.stack([read_patch(slide, info, int(x), int(y), 90, 30, "T") for x, y in origins])
    slide.close()
    got_index, got_tiles = [], []
    for index, tiles in read_batches(info, origins, 90, 30, "T", batch=5, readers=readers, ahead=2):
        assert tiles.shape == (len(index), 30, 30, 3) and tiles.dtype == np.uint8
        got_index.append(index)
        got_tiles.append(tiles)
    assert [len(i) for i in got_index] == [5, 5, 5, 5, 3]
    np.testing.assert_array_equal(np.concatenate(got_index), np.arange(23))
    np.testing.assert_array_equal(np.concatenate(got_tiles), expected)


def test_a_reader_failure_names_the_case_and_file(slide_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "gone.tiff"
    copy.write_bytes(slide_path.read_bytes())
    _, info = open_slide(copy, "GONE")
    copy.unlink()   # the reader threads open the slide themselves: that now fails
    with pytest.raises(PathologyError, match=r"case GONE, file .*gone.tiff: slide file does not exist"):
        list(read_batches(info, _origins(), 90, 30, "GONE", batch=4, readers=2))


def test_run_batches_pads_to_one_shape_and_normalises(slide_path: Path) -> None:
    """Outputs equal a direct forward pass on (tiles / 255 - mean) / std, whatever the padding."""
    _, info = open_slide(slide_path, "T")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 2, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    mean, std = (0.6, 0.5, 0.7), (0.2, 0.25, 0.3)
    origins = _origins()
    tiles = np.concatenate([t for _, t in read_batches(info, origins, 90, 30, "T", batch=50, readers=0)])
    x = torch.from_numpy(tiles.transpose(0, 3, 1, 2).copy()).float() / 255.0
    with torch.inference_mode():
        direct = model((x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1))
    seen = []
    batches = read_batches(info, origins, 90, 30, "T", batch=6, readers=1)
    for index, out in run_batches(model, batches, mean=mean, std=std, batch=6):
        assert out.shape == (len(index), 2) and out.dtype == torch.float32
        np.testing.assert_allclose(out.numpy(), direct[index].numpy(), atol=1e-5)
        seen.extend(index.tolist())
    assert seen == list(range(23))
