"""`radpath pathology inspect` describes a slide that lacks microns per pixel (like a TCGA frozen section) and says
how to give it; only scoring needs mpp (#15.7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from radpath.cli.app import main
from radpath.errors import PathologyError
from radpath.pathology.slides import describe, open_slide

from .conftest import make_slide


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return 0 if exit_info.value.code is None else int(exit_info.value.code)


def test_inspect_describes_a_slide_without_mpp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slide = tmp_path / "TCGA-FROZEN.tiff"
    make_slide(slide, 20.0, mpp=None, shape=(300, 400))
    with pytest.raises(PathologyError, match="no microns-per-pixel"):
        open_slide(slide, "C1")  # scoring still refuses it
    desc = describe(slide)
    assert desc["mpp"] is None and desc["mpp_source"] == "missing"
    assert desc["levels"][0] == {"level": 0, "width": 400, "height": 300, "downsample": 1.0}
    assert desc["properties"]["openslide.vendor"] == desc["vendor"]
    assert "openslide.mpp-x" not in desc["properties"]

    thumb = tmp_path / "thumb.png"
    assert _cli(["pathology", "inspect", str(slide), "--thumbnail", str(thumb)]) == 0
    out = capsys.readouterr().out
    assert f"vendor {desc['vendor']}" in out
    assert "microns per pixel: missing" in out and "give --mpp or the manifest's slides.mpp" in out
    assert "level 0: 400 x 300 (downsample 1)" in out
    assert f"openslide.vendor = {desc['vendor']}" in out
    width, height = Image.open(thumb).size
    assert width / height == pytest.approx(400 / 300, rel=0.02)

    assert _cli(["pathology", "inspect", str(slide), "--mpp", "0.25", "--thumbnail", str(thumb)]) == 0
    assert "microns per pixel: 0.25 (given)" in capsys.readouterr().out
