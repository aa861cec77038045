"""Model cards and QC flags (#24 §2): a synthetic-trained model on a non-synthetic slide, and the colour distance
between a slide's tissue and the training patches, measured on study-like and stain-shifted slides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radpath.pathology.cards import SYNTHETIC_NOTE, colour_distance, colour_stats, tissue_od, training_data
from radpath.pathology.qc import COLOUR_DISTANCE_MAX, model_flags, sample_tissue
from radpath.pathology.slides import open_slide, thumbnail
from radpath.pathology.tissue import tissue_mask
from radpath.synth.slides import render_section, write_pyramid

SHAPE = (500, 700)
# Ruifrok & Johnston's H&E(-DAB residual) stain vectors (OD of each stain at unit amount), normalised
STAINS = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
STAINS = STAINS / np.linalg.norm(STAINS, axis=1, keepdims=True)


def stain_shift(rgb: np.ndarray, haematoxylin: float, eosin: float) -> np.ndarray:
    """The image with its haematoxylin and eosin amounts scaled (colour deconvolution in OD space and back)."""
    od = -np.log10(np.maximum(rgb.astype(float), 1.0) / 255.0).reshape(-1, 3)
    amounts = od @ np.linalg.inv(STAINS)
    amounts[:, 0] *= haematoxylin
    amounts[:, 1] *= eosin
    return np.clip(255.0 * 10.0 ** -(amounts @ STAINS), 0, 255).astype(np.uint8).reshape(rgb.shape)


@pytest.fixture(scope="module")
def card(patch_data: dict[str, Path]) -> dict:
    """The tumour model's card as training writes it: patches at its 32 px input."""
    images = [np.asarray(Image.open(p).convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
              for p in sorted(patch_data["tumor"].glob("*/*.png"))]
    return {"mpp": 0.5, "patch_px": 176, "input_px": 32, "colour": colour_stats(images),
            "training_data": training_data(patch_data["tumor"], data_hash="x" * 64, mpp=0.5)}


def _slide(path: Path, rgb: np.ndarray, description: str | None = None) -> tuple:
    write_pyramid(path, rgb, **({"description": description} if description else {}))
    slide, info = open_slide(path, path.stem)
    thumb = thumbnail(slide, info, 512)
    slide.close()
    return info, tissue_mask(thumb)


def test_card_records_the_synthetic_training_data(card: dict, patch_data: dict[str, Path]) -> None:
    data = card["training_data"]
    assert data["synthetic"] is True and data["dataset"] == "radpath synthetic study" and data["stain"] == "he"
    assert data["note"] == SYNTHETIC_NOTE and data["mpp"] == 0.5
    assert len(card["colour"]["centres"]) == 8 and card["colour"]["n_pixels"] > 10_000
    plain = patch_data["tumor"].parent / "plain"
    plain.mkdir(exist_ok=True)
    (plain / "dataset.json").write_text(json.dumps({"mpp": 0.25}))
    own = training_data(plain, data_hash="y", mpp=0.25, stain="ihc")
    assert own["synthetic"] is False and own["dataset"] == "plain" and own["stain"] == "ihc" and own["note"] is None


def test_synthetic_model_on_a_non_synthetic_slide_is_flagged(card: dict, tmp_path: Path) -> None:
    rgb = render_section(np.random.default_rng(5), 30.0, shape=SHAPE, compartments=np.random.default_rng(6))["rgb"]
    info, mask = _slide(tmp_path / "synthetic.tiff", rgb)
    assert info.synthetic and model_flags(card, info, mask, "tumor", "S") == []
    info, mask = _slide(tmp_path / "scanned.tiff", rgb, description="H&E section, scanned at 20x")
    flags = model_flags(card, info, mask, "tumor", "R")
    assert not info.synthetic and [f.code for f in flags] == ["synthetic_model"]
    assert "trained on synthetic data (radpath synthetic study)" in flags[0].reason and flags[0].model == "tumor"
    published = {k: v for k, v in card.items() if k not in ("training_data", "colour")}
    assert model_flags(published, info, mask, "tumor", "R") == []     # a card without data: nothing to say


def test_colour_distance_separates_study_slides_from_a_stain_shifted_one(card: dict, tmp_path: Path) -> None:
    """The measurement behind COLOUR_DISTANCE_MAX (radpath.pathology.qc), on two study-like slides."""
    for k in range(2):
        rgb = render_section(np.random.default_rng(200 + k), 20.0 + 40 * k, shape=SHAPE,
                             compartments=np.random.default_rng(300 + k))["rgb"]
        distances = {}
        for name, image in (("study", rgb), ("shifted", stain_shift(rgb, 1.3, 0.6))):
            info, mask = _slide(tmp_path / f"{name}{k}.tiff", image)
            tiles = sample_tissue(info, mask, 176.0, 32, name)
            assert tiles.shape == (32, 32, 32, 3)
            distances[name] = colour_distance(tissue_od(tiles), card["colour"])
            flags = model_flags(card, info, mask, "tumor", name)
            assert [f.code for f in flags] == ([] if name == "study" else ["colour_distance"]), distances
        # measured: study 0.012-0.021, this shift 0.048-0.053 (module docstring of radpath.pathology.qc)
        assert distances["study"] < 0.025 < COLOUR_DISTANCE_MAX < 0.04 < distances["shifted"], distances
