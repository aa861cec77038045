"""Tiny real data for the pathology tests: pyramidal TIFF slides read through openslide and small
real torch models trained on synthetic labelled patches (session-scoped, trained once)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radpath.pathology.til.train import TrainConfig, train_classifier
from radpath.synth.slides import render_patch_dataset, render_section, write_pyramid

SHAPE = (600, 800)   # level-0 height, width of the test slides (300 x 400 um at 0.5 um/px)


def make_slide(path: Path, til_pct: float, seed: int = 0, mpp: float | None = 0.5,
               shape: tuple[int, int] = SHAPE) -> dict[str, np.ndarray]:
    section = render_section(np.random.default_rng(seed), til_pct, shape=shape)
    write_pyramid(path, section["rgb"], mpp=mpp)
    return section


@pytest.fixture(scope="session")
def patch_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("patches")
    return render_patch_dataset(out, seed=3, n_sections=3, per_class=80, shape=(700, 900))


@pytest.fixture(scope="session")
def models(patch_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small ResNet-18-style models (width 8) trained for a few epochs on the tiny patch datasets."""
    out = tmp_path_factory.mktemp("models")
    paths = {}
    for task, px in (("tumor", 32), ("lymphocyte", 32)):
        config = TrainConfig(task=task, arch="resnet18", width=8, input_px=px, epochs=4, batch=32, seed=1)
        train_classifier(patch_data[task], config, out / f"{task}.safetensors")
        paths[task] = out / f"{task}.safetensors"
    return paths


@pytest.fixture(scope="session")
def slides(tmp_path_factory: pytest.TempPathFactory) -> dict[float, Path]:
    """Three small slides with planted TIL percentages 5, 35 and 80."""
    out = tmp_path_factory.mktemp("slides")
    result = {}
    for k, til in enumerate((5.0, 35.0, 80.0)):
        path = out / f"SLIDE-{k}.tiff"
        make_slide(path, til, seed=10 + k)
        result[til] = path
    return result
