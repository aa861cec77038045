"""Synthetic compartments: exact labels, painting on a stream of its own, truth lymphocytes, tiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from radpath.pathology.tissue import stromal_til_score
from radpath.synth.compartments import render_segmentation_dataset, truth_cells
from radpath.synth.slides import render_section

SHAPE = (288, 384)


def test_compartments_leave_the_main_draws_alone() -> None:
    plain_rng, painted_rng = np.random.default_rng(7), np.random.default_rng(7)
    plain = render_section(plain_rng, 40.0, shape=SHAPE)
    painted = render_section(painted_rng, 40.0, shape=SHAPE, compartments=np.random.default_rng(99))
    # the main generator drew exactly the same numbers (the next draw agrees) ...
    assert plain_rng.random() == painted_rng.random()
    labels = painted["labels"]
    necrosis, fat = labels == 5, labels == 7
    assert necrosis.any() and fat.any()
    # ... and the picture differs only where necrosis and fat were painted
    same = (plain["rgb"] == painted["rgb"]).all(axis=2)
    assert same[~(necrosis | fat)].all() and not same[necrosis | fat].all()
    # exact labels from the planted masks
    assert ((labels == 0) == ~painted["tissue"]).all()
    assert ((labels == 1) == (painted["tumour"] & ~necrosis)).all()
    assert (necrosis <= painted["tumour"]).all() and (fat <= (painted["tissue"] & ~painted["bed"])).all()
    assert ((labels == 6) == (painted["til"] & painted["tissue"] & ~painted["tumour"] & ~fat)).all()
    assert set(np.unique(plain["labels"])) <= {0, 1, 2, 6}
    # no truth lymphocyte lies in painted necrosis or fat
    yx = painted["lymph_yx"]
    assert len(yx) and not (necrosis | fat)[yx[:, 0], yx[:, 1]].any()
    assert len(plain["lymph_yx"]) > len(yx)


def test_truth_cells_count_one_lymphocyte_per_8_um_box() -> None:
    section = {"lymph_yx": np.array([[0, 0], [3, 5], [15, 15], [16, 0], [40, 40]])}
    cells = truth_cells(section, 0.5, "S")      # boxes of 16 px: (0,0) x3 ... (0,0),(0,0),(0,0),(1,0),(2,2)
    assert len(cells) == 3 and (cells["class"] == "lymphocyte").all()
    first = cells.sort_values("y_px").iloc[0]
    assert first.y_px == (0 + 3 + 15) / 3 + 0.5 and first.x_px == (0 + 5 + 15) / 3 + 0.5
    assert first.x_um == first.x_px * 0.5


def test_stromal_til_rises_with_the_planted_til() -> None:
    scores = []
    for k, til in enumerate((5.0, 40.0, 80.0)):
        section = render_section(np.random.default_rng(k), til, compartments=np.random.default_rng(50 + k))
        cells = truth_cells(section, 0.5, "S")
        scores.append(stromal_til_score(cells[["x_um", "y_um"]].to_numpy(), np.isin(section["labels"], (2, 6)), 0.5))
    assert scores[0] < scores[1] < scores[2] and scores[2] - scores[0] > 20, scores


def test_segmentation_tiles(tmp_path: Path) -> None:
    folders = render_segmentation_dataset(tmp_path, seed=1, n_train=1, n_test=1, shape=SHAPE)
    from PIL import Image

    for folder in folders.values():
        masks = sorted(folder.glob("*_mask.png"))
        assert masks and json.loads((folder / "dataset.json").read_text())["mpp"] == 2.0
        for mask_path in masks:
            image = np.asarray(Image.open(str(mask_path).replace("_mask.png", ".png")))
            mask = np.asarray(Image.open(mask_path))
            assert image.shape == (64, 64, 3) and mask.shape == (64, 64) and mask.max() <= 7
