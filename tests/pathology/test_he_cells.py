"""The H&E lymphocyte detector (TIGER TILs): synthetic H&E tiles with point truth, a lymphocyte-only density
model trained at a coarser resolution, FROC on H&E tiles, detect-cells on a whole slide beside IHC fields of
view, and the cell file segment-wsi reads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radpath.pathology.cellfile import cell_file_path, read_cells
from radpath.pathology.cells.data import dataset_info, load_labelled, resample
from radpath.pathology.cells.detect import detect_image
from radpath.pathology.cells.evaluate import evaluate_cells
from radpath.pathology.cells.matching import froc
from radpath.pathology.cells.nets import load_cell_model
from radpath.pathology.cells.pipeline import DetectParams, detect_cells
from radpath.pathology.cells.protocols import greedy_match
from radpath.pathology.cells.train import CellTrainConfig, train_cells
from radpath.synth.compartments import truth_cells
from radpath.synth.he_cells import render_he_cell_set, section_tiles
from radpath.synth.ihc import render_patient_fovs
from radpath.synth.slides import render_section, write_pyramid
from radpath.warehouse import open_warehouse

SECTION = (512, 512)


@pytest.fixture(scope="session")
def he_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("he_cells")
    return {"train": render_he_cell_set(out / "train", seed=3, stream=1, n_sections=2, shape=SECTION),
            "test": render_he_cell_set(out / "test", seed=3, stream=2, n_sections=1, shape=SECTION)}


@pytest.fixture(scope="session")
def he_model(he_sets: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A width-4 lymphocyte-only PathoNet trained a few short epochs at 2 um/px on two rendered sections."""
    path = tmp_path_factory.mktemp("he_models") / "he.safetensors"
    config = CellTrainConfig(method="density", width=4, input_px=32, epochs=3, lr=3e-3, crops_per_image=2,
                             step_epochs=2, seed=1, model_mpp=2.0)
    train_cells(he_sets["train"], config, path)
    return path


def test_he_tiles_carry_the_sections_truth(he_sets: dict[str, Path]) -> None:
    info = dataset_info(he_sets["train"])
    assert info["classes"] == ["lymphocyte"] and info["stain"] == "he" and info["mpp"] == 0.5
    items = load_labelled(he_sets["train"])
    assert len(items) >= 2 and all(i.rgb.shape == (256, 256, 3) for i in items)
    # two small sections hold a few dozen separate lymphocytes (38: one truth cell per nucleus)
    assert sum(len(i.xy) for i in items) >= 20 and all(set(i.classes) <= {"lymphocyte"} for i in items)
    # the truth of a tile is exactly the section's truth cells inside it, shifted to the tile
    rng = np.random.default_rng([3, 1717, 1])     # the train set's first section, drawn again
    section = render_section(rng, 5.0, shape=SECTION, compartments=np.random.default_rng([3, 1717, 1, 1, 0]))
    cells = truth_cells(section, 0.5, "s")
    tiles = section_tiles(section, "s100", 0.5)
    first = items[0]
    name, rgb, points = tiles[0]
    assert first.name == name and (first.rgb == rgb).all()
    y0, x0 = int(name[6:10]), int(name[12:16])
    inside = cells[(cells.x_px >= x0) & (cells.x_px < x0 + 256) & (cells.y_px >= y0) & (cells.y_px < y0 + 256)]
    assert len(first.xy) == len(inside) == len(points)
    assert np.allclose(np.sort(first.xy[:, 0]), np.sort(inside.x_px.to_numpy() - x0), atol=1e-3)
    # a second render of the same stream is the same set (streams of their own, seeded)
    again = render_he_cell_set(he_sets["train"].parent / "again", seed=3, stream=1, n_sections=2, shape=SECTION)
    assert (again / "points.csv").read_text() == (he_sets["train"] / "points.csv").read_text()


def test_resample_scales_points_with_the_image() -> None:
    from radpath.pathology.cells.data import LabelledImage

    item = LabelledImage("a.png", Path("a.png"), np.zeros((64, 96, 3), np.uint8),
                         np.array([[10.0, 20.0], [95.5, 63.0]]), np.array(["lymphocyte"] * 2), 0.5)
    coarse = resample(item, 2.0)       # 4 times coarser: 24 x 16 px
    assert coarse.rgb.shape == (16, 24, 3) and coarse.mpp == 2.0
    assert np.allclose(coarse.xy[0], [2.5, 5.0])               # 10 / 4, 20 / 4
    assert np.allclose(coarse.xy[1], [23.875, 15.75])         # 95.5 / 4, 63 / 4: still inside the image


def test_lymphocyte_only_model_at_a_coarser_mpp(he_model: Path, he_sets: dict[str, Path]) -> None:
    model, meta = load_cell_model(he_model, "density")
    assert meta["classes"] == ["lymphocyte"] and meta["stain"] == "he" and meta["mpp"] == 2.0
    assert meta["arch_kwargs"] == {"width": 4, "n_classes": 1} and len(meta["thresholds"]) == 1
    result = evaluate_cells(he_sets["test"], he_model)
    assert list(result["protocols"]) == ["radpath"]          # points.csv: radpath's own protocol by default
    n_true = sum(len(i.xy) for i in load_labelled(he_sets["test"]))
    lymph = result["protocols"]["radpath"]["classes"]["lymphocyte"]
    assert lymph["tp"] + lymph["fn"] == n_true
    assert math.isnan(result["scores"]["ki67_rmse"]) and math.isnan(result["scores"]["til_rmse"])
    f = result["protocols"]["radpath"]["froc_lymphocyte"]
    assert set(f) == {"sens@10", "sens@20", "sens@50", "sens@100", "sens@200", "sens@300", "froc"}
    sens = [f[k] for k in ("sens@10", "sens@20", "sens@50", "sens@100", "sens@200", "sens@300")]
    assert all(0 <= a <= b <= 1 for a, b in zip(sens, sens[1:], strict=False))
    # the model's own operating point (its tuned threshold is one of the sweep's) lies on the FROC curve: at
    # every rate at or above its false positives per mm2 the sensitivity is at least its recall
    rate = lymph["fp"] / result["area_mm2"]
    for r in (10, 20, 50, 100, 200, 300):
        if r >= rate:
            assert f[f"sens@{r}"] >= lymph["recall"] - 1e-12, (r, rate, f)
    assert result["area_mm2"] == pytest.approx(len(load_labelled(he_sets["test"])) * 256 * 256 * 0.25 / 1e6)
    # TIGER's protocol on the same detector: its own run (the cells detect-cells writes), swept at every unique
    # peak value of the density maps
    tiger = evaluate_cells(he_sets["test"], he_model, protocols=["tiger"])["protocols"]["tiger"]
    t = tiger["froc_lymphocyte"]
    assert tiger["radius_um"] == 4.0 and tiger["run_threshold"] == meta["thresholds"][0]
    sens = [t[f"sens@{r}"] for r in (10, 20, 50, 100, 200, 300)]
    assert all(0 <= a <= b <= 1 for a, b in zip(sens, sens[1:], strict=False))
    # one threshold per unique peak value of the run; the curve ends at the run itself: every detection kept,
    # each truth cell in order taking its nearest free detection within 8 px (the images are at 0.5 um/px)
    items = load_labelled(he_sets["test"])
    runs = [detect_image(model, meta, item.rgb, mpp=item.mpp) for item in items]
    assert t["n_thresholds"] == len(np.unique(np.concatenate([score for _, _, score in runs])))
    found = [xy for xy, _, _ in runs]
    tp = sum(len(greedy_match(item.xy, xy, 8.0)) for item, xy in zip(items, found, strict=True))
    if (sum(len(xy) for xy in found) - tp) / result["area_mm2"] <= 300:
        assert t["sens@300"] == pytest.approx(tp / n_true)


def test_froc_on_an_he_tile_by_hand() -> None:
    """One rendered H&E tile (128 x 128 um = 0.016384 mm2); its truth lymphocytes in um. Detections: the first
    10 truth cells found (score 0.9), 1 false positive at score 0.8 far from any cell, then 4 more truth cells
    (0.7), then 3 false positives (0.5). By hand, with N truth cells and area A:
    FP/mm2 per extra false positive = 1 / A = 61.04; so
    at threshold 0.9: FP 0, sens 10/N;  0.8: FP 1 (61.0/mm2);  0.7: FP 1, sens 14/N;  0.5: FP 4 (244/mm2).
    sens@10 = sens@20 = sens@50 = 10/N; sens@100 = sens@200 = 14/N; sens@300 = 14/N (244 <= 300)."""
    section = render_section(np.random.default_rng(11), 60.0, shape=(256, 256))
    truth = truth_cells(section, 0.5, "tile")[["x_um", "y_um"]].to_numpy()
    n = len(truth)
    assert n > 20
    area = 256 * 256 * 0.25 / 1e6
    far = np.array([[-50.0, -50.0], [-80.0, -50.0], [-50.0, -80.0], [-90.0, -90.0]])   # > R from every cell
    pred = np.concatenate([truth[:10] + 0.5, far[:1], truth[10:14] - 0.5, far[1:]])
    score = np.r_[np.full(10, 0.9), 0.8, np.full(4, 0.7), np.full(3, 0.5)]
    out = froc([(pred, score, truth)], area, radius=5.0)
    assert out["sens@10"] == out["sens@20"] == out["sens@50"] == pytest.approx(10 / n)
    assert out["sens@100"] == out["sens@200"] == out["sens@300"] == pytest.approx(14 / n)
    assert out["froc"] == pytest.approx((3 * 10 / n + 3 * 14 / n) / 6)


def test_detect_cells_on_an_he_slide_beside_ihc_fields(he_model: Path, tmp_path: Path) -> None:
    section = render_section(np.random.default_rng(5), 50.0, shape=(512, 640))
    slides = tmp_path / "slides"
    write_pyramid(slides / "P1.tiff", section["rgb"], mpp=0.5, levels=2)
    truth = pd.DataFrame({"patient_id": ["P1"], "cohort": ["demo"], "subtype": ["TNBC"], "til_pct": [40.0],
                          "has_slide": [True]})
    render_patient_fovs(truth, tmp_path / "study", seed=2, cohort="demo", n_fov=1)
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        # the patient's fields of view first (source kind 'images'), then its H&E slide: both rows stay
        fovs = detect_cells(con, [str(tmp_path / "study" / "ihc" / "demo" / "images.csv")],
                            DetectParams(model=str(he_model), out_dir=str(tmp_path / "fov")), cohort="demo")
        he = detect_cells(con, [str(slides)], DetectParams(model=str(he_model), out_dir=str(tmp_path / "he")),
                          cohort="demo")
        assert len(he[0].done) == len(fovs[0].done) == 1 and not he[0].failed
        files = con.execute("SELECT source_path, cells_path FROM cell_files ORDER BY source_path").fetchall()
        assert [Path(f[0]).name for f in files] == ["P1.tiff", "fov_0.png"]
        # an H&E detector has no Ki-67 classes: no cell_scores row (Ki-67 index, cell TIL score)
        assert con.execute("SELECT count(*) FROM cell_scores").fetchone() == (0,)
        cells = read_cells(cell_file_path(tmp_path / "he", "demo", "P1"))
        assert (cells["class"] == "lymphocyte").all() and len(cells) > 0
        assert cells["x_px"].max() < 640 and cells["y_px"].max() < 512
        assert np.allclose(cells["x_um"], cells["x_px"] * 0.5)
        n_cells = con.execute("SELECT n_cells FROM cell_files WHERE source_path LIKE '%P1.tiff'").fetchone()
        assert n_cells == (len(cells),)
        features = dict(con.execute("SELECT code, value FROM features WHERE patient_id = 'P1' AND modality = "
                                    "'cells'").fetchall())
        assert set(features) == {"HE_LYMPHOCYTE_DENSITY", "HE_CELL_TISSUE_AREA"}
        assert features["HE_LYMPHOCYTE_DENSITY"] == pytest.approx(len(cells) / features["HE_CELL_TISSUE_AREA"])
        assert con.execute("SELECT count(*) FROM feature_defs WHERE code LIKE 'HE_%'").fetchone() == (2,)


def test_bad_class_sets_are_refused_naming_the_file(he_sets: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from radpath.cli.app import main
    from radpath.errors import ConfigError

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "dataset.json").write_text(json.dumps({"mpp": 0.5, "classes": ["lymph"]}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad/dataset.json: classes must be a non-empty list"):
        dataset_info(bad)
    (bad / "dataset.json").write_text(json.dumps({"mpp": 0.5, "stain": "pas"}), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad/dataset.json: stain must be one of \['ihc', 'he'\], got 'pas'"):
        dataset_info(bad)
    with pytest.raises(SystemExit) as exit_info:
        main(["train-cells", "--data", str(he_sets["train"]), "--out", str(tmp_path / "m.safetensors"),
              "--classes", "lymphocyte,tumour"])
    assert exit_info.value.code == 2
    assert "--classes 'lymphocyte,tumour': expected comma-separated names of" in capsys.readouterr().err


def test_slide_tile_computes_the_fewest_pixels() -> None:
    """A 1536 x 1152 px slide, all tissue, at 4 level-0 px per model px: 384 x 288 model px. Tiles of side t
    have cores of t - 32 px. By hand: 256 -> 2 x 2 tiles = 262144 px; 224 -> 2 x 2 = 200704; 184 -> 3 x 2 =
    203136; 176 -> 3 x 2 = 185856; 168 -> 3 x 3 = 254016; 128 -> 4 x 3 = 196608: 176 is the least."""
    from radpath.pathology.cells.detect import slide_tile

    assert slide_tile(np.ones((96, 128), bool), 1536, 1152, 4.0, 256, 0.05) == 176
    # glass around a small section (mask rows 40-55, columns 50-69: model rows 120-167, columns 150-209):
    # 128 (core 96: columns 96-191 and 192-287) needs 2 tiles = 32768 px; 136 (core 104) 2 = 36992;
    # 144 (core 112: rows and columns 112-223 hold it all) 1 = 20736: the least; 160 (core 128) 2 = 51200
    small = np.zeros((96, 128), bool)
    small[40:56, 50:70] = True
    assert slide_tile(small, 1536, 1152, 4.0, 256, 0.05) == 144
