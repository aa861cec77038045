"""Synthetic compartments: exact labels, painting on a stream of its own, truth lymphocytes, tiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from radpath.pathology.tissue import stromal_til_score
from radpath.synth.compartments import truth_cells
from radpath.synth.slides import render_section, render_segmentation_dataset

SHAPE = (288, 384)


def test_compartments_leave_the_main_draws_alone() -> None:
    plain_rng, painted_rng = np.random.default_rng(7), np.random.default_rng(7)
    plain = render_section(plain_rng, 40.0, shape=SHAPE)
    painted = render_section(painted_rng, 40.0, shape=SHAPE, compartments=np.random.default_rng(99))
    # the main generator drew exactly the same numbers (the next draw agrees): same tissue and tumour
    assert plain_rng.random() == painted_rng.random()
    assert (plain["tissue"] == painted["tissue"]).all() and (plain["tumour"] == painted["tumour"]).all()
    labels = painted["labels"]
    necrosis, fat, duct, gland = (labels == 5), (labels == 7), (labels == 3), (labels == 4)
    assert necrosis.any() and fat.any() and gland.any()   # a 144 x 192 um field has no room for a duct
    # exact labels from the planted masks
    assert ((labels == 0) == ~painted["tissue"]).all()
    assert ((labels == 1) == (painted["tumour"] & ~necrosis)).all()
    assert (necrosis <= painted["tumour"]).all() and (fat <= (painted["tissue"] & ~painted["bed"])).all()
    assert not ((duct | gland) & painted["tumour"]).any()
    assert ((labels == 6) == (painted["til"] & painted["tissue"] & ~painted["tumour"])).all()
    assert set(np.unique(plain["labels"])) <= {0, 1, 2, 6}
    # no truth lymphocyte lies in painted necrosis, fat, ducts or glands
    yx = painted["lymph_yx"]
    assert len(yx) and not (necrosis | fat | duct | gland)[yx[:, 0], yx[:, 1]].any()


def test_in_situ_ducts_and_healthy_glands_have_their_structure() -> None:
    from scipy.ndimage import binary_erosion, label

    section = render_section(np.random.default_rng(3), 30.0, compartments=np.random.default_rng(53))
    labels, rgb = section["labels"], section["rgb"].astype(float)
    grey = rgb.mean(axis=2)
    ducts, n_ducts = label(labels == 3)
    acini, n_acini = label(labels == 4)
    assert n_ducts >= 1 and n_acini >= 4
    for k in range(1, n_ducts + 1):            # a duct: tumour cells (pale purple + dark nuclei) inside a dark rim
        duct = ducts == k
        core = binary_erosion(duct, iterations=8)
        rim = duct & ~binary_erosion(duct, iterations=3)
        assert core.sum() > 1000 and grey[rim].mean() < grey[core].mean() - 15
        assert (grey[core] < 120).mean() > 0.1      # tumour nuclei (grey ~95) fill the core
    for k in range(1, n_acini + 1):            # an acinus: a near-white lumen at the centre, a dark rim
        acinus = acini == k
        ys, xs = np.nonzero(acinus)
        centre = rgb[int(ys.mean()), int(xs.mean())]
        rim = acinus & ~binary_erosion(acinus, iterations=2)
        assert centre.min() > 215, centre
        assert grey[rim].mean() < 175
    # the acini are small (11-17 um radius at 0.5 um/px) and the ducts large (35-60 um)
    assert max(np.bincount(acini.ravel())[1:]) < np.pi * 35**2 < min(np.bincount(ducts.ravel())[1:])


def test_lymphocytes_are_separate_nuclei_one_truth_cell_each() -> None:
    from scipy.spatial import cKDTree

    from radpath.synth.slides import LYMPH_RADIUS

    section = render_section(np.random.default_rng(4), 60.0, compartments=np.random.default_rng(9))
    yx = section["lymph_yx"]
    assert len(yx) > 500
    # no two nuclei overlap (centres at least two radii + 1 apart); some touch
    distance, _ = cKDTree(yx).query(yx, k=2)
    assert distance[:, 1].min() >= 2 * LYMPH_RADIUS + 1 and (distance[:, 1] < 2 * LYMPH_RADIUS + 3).any()
    cells = truth_cells(section, 0.5, "S")
    assert len(cells) == len(yx)


def test_truth_cells_count_one_lymphocyte_per_8_um_box() -> None:
    section = {"lymph_yx": np.array([[0, 0], [3, 5], [15, 15], [16, 0], [40, 40]])}
    cells = truth_cells(section, 0.5, "S")      # boxes of 16 px: (0,0) x3 ... (0,0),(0,0),(0,0),(1,0),(2,2)
    assert len(cells) == 3 and (cells["class"] == "lymphocyte").all()
    first = cells.sort_values("y_px").iloc[0]
    assert first.y_px == (0 + 3 + 15) / 3 + 0.5 and first.x_px == (0 + 5 + 15) / 3 + 0.5
    assert first.x_um == first.x_px * 0.5


def test_planted_stromal_til_tracks_the_latent_til() -> None:
    """TIGER's score on the truth cells and exact stroma is the latent TIL % (planted truth) + a small background.

    Expected: share f of the stroma in TIL regions at 0.95 lymphocytes per 8 x 8 um box, background b
    elsewhere, f chosen so that f 0.95 + (1 - f) b = til / 100; the sampling noise on ~2,000 boxes is about
    one point. (Lymphocytes at 0.0015 centres / px everywhere, as before, put ~30 points on every score.)
    """
    tils = (0.0, 3.0, 10.0, 25.0, 50.0, 85.0)
    scores = []
    for k, til in enumerate(tils):
        section = render_section(np.random.default_rng(k), til, compartments=np.random.default_rng(50 + k))
        cells = truth_cells(section, 0.5, "S")
        scores.append(stromal_til_score(cells[["x_um", "y_um"]].to_numpy(), np.isin(section["labels"], (2, 6)), 0.5))
    assert all(a < b for a, b in zip(scores, scores[1:], strict=False)), scores
    errors = np.array(scores) - np.array(tils)
    assert np.abs(errors).max() < 3.0 and abs(errors.mean()) < 1.0, scores
    assert 0.0 < scores[0] < 1.0, scores     # the background at 0 % is the 0.5 % floor


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
