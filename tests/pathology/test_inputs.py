"""Bad slides and bad model files each give a clear error naming the case / file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from radpath.errors import ModelFileError, PathologyError
from radpath.pathology.models import read_meta
from radpath.pathology.slides import describe, open_slide, read_patch
from radpath.pathology.til.nets import build, load_model, save_classifier

from .conftest import make_slide


def test_synthetic_slide_is_a_pyramid_openslide_reads(slides: dict[float, Path]) -> None:
    info = describe(slides[5.0])
    assert info["mpp"] == pytest.approx(0.5) and info["mpp_source"] == "slide"
    assert [(lv["width"], lv["height"]) for lv in info["levels"]] == [(800, 600), (400, 300), (200, 150)]
    assert [lv["downsample"] for lv in info["levels"]] == [1.0, 2.0, 4.0]
    assert info["vendor"] == "generic-tiff"


def test_not_a_slide(tmp_path: Path) -> None:
    path = tmp_path / "notes.svs"
    path.write_text("these are not pixels\n")
    with pytest.raises(PathologyError, match=r"case C1, file .*notes.svs: not a whole-slide image"):
        open_slide(path, "C1")


def test_missing_slide(tmp_path: Path) -> None:
    with pytest.raises(PathologyError, match="C2.*slide file does not exist"):
        open_slide(tmp_path / "gone.tiff", "C2")


def test_truncated_slide(tmp_path: Path) -> None:
    full = tmp_path / "full.tiff"
    make_slide(full, 20.0, shape=(600, 800))
    data = full.read_bytes()
    cut = tmp_path / "cut.tiff"
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(PathologyError, match=r"case C3, file .*cut.tiff: .*(truncated or corrupt|reading tile|not a)"):
        slide, info = open_slide(cut, "C3")
        for y in range(0, 600, 100):
            for x in range(0, 800, 100):
                read_patch(slide, info, x, y, 100, 50, "C3")


def test_slide_without_mpp_needs_override(tmp_path: Path) -> None:
    path = tmp_path / "nompp.tiff"
    make_slide(path, 10.0, mpp=None, shape=(300, 400))
    with pytest.raises(PathologyError, match="no microns-per-pixel.*give --mpp"):
        open_slide(path, "C4")
    slide, info = open_slide(path, "C4", mpp=0.5)
    slide.close()
    assert info.mpp == 0.5 and info.mpp_source == "given"


def test_model_round_trip_and_wrong_task(tmp_path: Path) -> None:
    model = build("resnet18", width=4).eval()
    meta = {"task": "tumor", "arch": "resnet18", "arch_kwargs": {"width": 4}, "input_px": 32, "patch_px": 176,
            "mpp": 0.5, "classes": ["negative", "positive"], "mean": [0.5] * 3, "std": [0.2] * 3}
    path = save_classifier(tmp_path / "m.safetensors", model, meta)
    loaded, read = load_model(path, "tumor", input_px=32)
    x = torch.rand(3, 3, 32, 32)
    with torch.inference_mode():
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert read["patch_px"] == 176 and read_meta(Path(f"{path}.json").with_suffix("")) == read
    with pytest.raises(ModelFileError, match="a 'tumor' model, expected a 'lymphocyte' model"):
        load_model(path, "lymphocyte")
    with pytest.raises(ModelFileError, match="input size 32 px, expected 100 px"):
        load_model(path, "tumor", input_px=100)


def test_weights_that_would_run_code_are_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    with path.open("wb") as handle:
        pickle.dump({"state_dict": {}, "meta": Evil()}, handle)
    with pytest.raises(ModelFileError, match="refused, loading it would run code"):
        load_model(path, "tumor")


def test_garbage_and_mismatched_model_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 not a model at all")
    with pytest.raises(ModelFileError, match="junk.safetensors"):
        load_model(junk, "tumor")
    text = tmp_path / "notes.txt"  # torch's reason was its unpickler's KeyError: 'not a ... file (110)'
    text.write_text("not a model\n")
    with pytest.raises(ModelFileError) as info:
        load_model(text, "tumor")
    assert str(info.value) == f"model file {text}: not a safetensors or torch weights file"
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model(tmp_path / "none.safetensors")
    # weights of a width-4 network labelled as width 8: the architecture does not fit
    model = build("resnet18", width=4)
    meta = {"task": "tumor", "arch": "resnet18", "arch_kwargs": {"width": 8}, "input_px": 32}
    path = save_classifier(tmp_path / "bad.safetensors", model, meta)
    with pytest.raises(ModelFileError, match="weights do not fit architecture resnet18"):
        load_model(path, "tumor")
    # a plain torch state dict (no metadata) is safe to read but not a radpath model
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    with pytest.raises(ModelFileError, match="without 'state_dict' and 'meta'"):
        load_model(tmp_path / "plain.pt", "tumor")


@pytest.mark.parametrize("arch", ["resnet18", "resnet34", "vgg16"])
def test_architectures_give_two_class_logits(arch: str) -> None:
    model = build(arch, width=4).eval()
    with torch.inference_mode():
        assert model(torch.rand(2, 3, 48, 48)).shape == (2, 2)
    with pytest.raises(ModelFileError, match="unknown architecture 'inception_v5'"):
        build("inception_v5")


def test_vgg16_at_full_width_has_the_papers_reduced_classifier() -> None:
    # paper: VGG16 with a 1024-wide classifier has about 41 million parameters instead of 138 million
    n = sum(p.numel() for p in build("vgg16").parameters())
    assert 40e6 < n < 42e6
