"""The µm/px rule (#24 §1): a given mpp only supplies a missing one; a slide's own value wins, and a given value
more than 5 % off it is a warning (and, in the stages, a QC flag)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radpath.errors import PathologyError
from radpath.pathology.qc import slide_flags
from radpath.pathology.slides import describe, open_slide

from .conftest import make_slide


def test_a_given_mpp_never_replaces_the_slides_own(tmp_path: Path) -> None:
    own = tmp_path / "own.tiff"
    make_slide(own, 10.0, mpp=0.499, shape=(200, 300))
    bare = tmp_path / "bare.tiff"
    make_slide(bare, 10.0, mpp=None, shape=(200, 300))
    # the case: mpp 1.0 over a slide that declares 0.499 -> 0.499 is used, a warning, a QC flag
    slide, info = open_slide(own, "C1", 1.0)
    slide.close()
    assert info.mpp == pytest.approx(0.499, abs=1e-6) and info.mpp_source == "slide" and info.mpp_given == 1.0
    assert info.mpp_warning is not None and "declares 0.499" in info.mpp_warning and "-50 %" in info.mpp_warning
    flags = slide_flags(info)
    assert [f.code for f in flags] == ["mpp_mismatch"] and flags[0].threshold == 1.0
    # within 5 % of the slide's own (0.499 vs 0.5: 0.2 %): no warning; 0.499 vs 0.52: 4.0 %, none; 0.47: 6.2 %, one
    for given, warns in ((0.5, False), (0.52, False), (0.47, True)):
        slide, info = open_slide(own, "C1", given)
        slide.close()
        assert (info.mpp_warning is not None) is warns, given
        assert info.mpp == pytest.approx(0.499, abs=1e-6)
    # a slide without its own: the given value is used, no warning
    slide, info = open_slide(bare, "C2", 1.0)
    slide.close()
    assert info.mpp == 1.0 and info.mpp_source == "given" and info.mpp_warning is None and not slide_flags(info)
    with pytest.raises(PathologyError, match="given microns per pixel must be positive"):
        open_slide(bare, "C2", -1.0)
    desc = describe(own, 1.0)
    assert desc["mpp"] == pytest.approx(0.499, abs=1e-6) and "declares 0.499" in desc["mpp_warning"]
    assert desc["synthetic"] is True       # written by the synth's pyramid writer: the marker is there
