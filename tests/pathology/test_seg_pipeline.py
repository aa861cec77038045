"""Training a tiny real segmentation network on synthetic tiles, then segment-wsi end to end on real slides
with exact planted compartments: quality, warehouse rows, reproducibility on 1 and 2 workers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image

from radpath.errors import ConfigError, ModelFileError
from radpath.pathology.cellfile import cell_file_path, write_cells
from radpath.pathology.segmentation.data import list_pairs, load_tiles
from radpath.pathology.segmentation.labels import label_set
from radpath.pathology.segmentation.nets import load_seg_model, read_seg_meta
from radpath.pathology.segmentation.pipeline import SegmentParams, segment_slides
from radpath.pathology.segmentation.train import evaluate, preset, train_segmentation
from radpath.pathology.tissue import dice_iou, stromal_til_score
from radpath.synth.compartments import truth_cells
from radpath.synth.slides import render_section, render_segmentation_dataset, write_pyramid

SLIDE_SHAPE = (400, 528)


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("segdata")
    return render_segmentation_dataset(out, seed=2, n_train=6, n_test=1, shape=(576, 768))


@pytest.fixture(scope="module")
def seg_model(seg_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small U-Net (ResNet10-T, depth 3) trained for the binary stroma task for 10 epochs."""
    import torch

    path = tmp_path_factory.mktemp("segmodel") / "stroma.safetensors"
    config = preset("cpu", labels="binary-stroma", epochs=10, lr=3e-3, lr_drop_epoch=9, batch=8, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # a busy machine: one thread does not wait on its siblings
    try:
        train_segmentation(seg_data["train"], config, path)
    finally:
        torch.set_num_threads(threads)
    return path


@pytest.fixture(scope="module")
def seg_slides(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """Two slides with compartments (exact labels kept) and their truth lymphocytes as cell files."""
    root = tmp_path_factory.mktemp("segslides")
    sections = {}
    for k, til in enumerate((10.0, 70.0)):
        name = f"CASE-{k}"
        section = render_section(np.random.default_rng(20 + k), til, shape=SLIDE_SHAPE,
                                 compartments=np.random.default_rng(40 + k))
        write_pyramid(root / "slides" / f"{name}.tiff", section["rgb"])
        write_cells(cell_file_path(root / "cells", "slides", name), truth_cells(section, 0.5, name))
        sections[name] = section
    return root, sections


def test_tiny_network_learns_stroma_on_held_out_tiles(seg_model: Path, seg_data: dict[str, Path]) -> None:
    model, meta = load_seg_model(seg_model)
    assert meta["label_set"] == "binary-stroma" and meta["tile_px"] == 64 and meta["mpp"] == 2.0
    assert meta["arch"] == "unet" and meta["arch_kwargs"]["encoder"] == "resnet10t"
    assert 1 <= meta["best_epoch"] <= 10 and len(meta["history"]) == 10
    assert meta["metrics"]["stroma_iou"] == max(h["stroma_iou"] for h in meta["history"])   # best epoch kept
    tiles = load_tiles(seg_data["test"], 64, mpp=2.0)
    scores = evaluate(model, tiles, label_set("binary-stroma"), meta["mean"], meta["std"])
    assert scores["stroma"]["iou"] >= 0.86, scores   # the paper's best stroma IoU (FPN-ResNet34: .864)


def test_segment_wsi_end_to_end(seg_model: Path, seg_slides: tuple[Path, dict], tmp_path: Path) -> None:
    import openslide

    from radpath.warehouse import open_warehouse

    root, sections = seg_slides
    nompp = tmp_path / "NOMPP.tiff"
    write_pyramid(nompp, sections["CASE-0"]["rgb"], mpp=None)
    write_cells(cell_file_path(root / "cells", "slides", "NOMPP"), truth_cells(sections["CASE-0"], 0.5, "NOMPP"))
    nocells = tmp_path / "NOCELLS.tiff"
    nocells.write_bytes((root / "slides" / "CASE-0.tiff").read_bytes())
    targets = sorted(str(p) for p in (root / "slides").glob("*.tiff")) + [str(nompp), str(nocells)]
    db = tmp_path / "w.duckdb"
    params = SegmentParams(model=str(seg_model), out_dir=str(tmp_path / "masks"), cells_dir=str(root / "cells"),
                           batch=8)
    lymph = np.random.default_rng(1).random((4, 6)).astype(np.float32)   # a score-wsi map: 50-um patches
    lymph[0, 0] = np.nan
    np.save(tmp_path / "lymph.npy", lymph)
    with open_warehouse(db) as con:
        con.execute("INSERT INTO pathology_slides (cohort, patient_id, slide_path, patch_um, lymphocyte_map, run_id) "
                    "VALUES ('slides', 'CASE-0', 'CASE-0.tiff', 50.0, ?, 'r0')", [str(tmp_path / "lymph.npy")])
        (summary,) = segment_slides(con, targets, params)
    assert sorted(summary.done) == ["CASE-0", "CASE-1"]
    assert "microns-per-pixel" in summary.failed["NOMPP"] and "NOMPP.tiff" in summary.failed["NOMPP"]
    assert "no cell file for this case" in summary.failed["NOCELLS"] and "NOCELLS/cells.parquet" in summary.failed[
        "NOCELLS"]
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT * FROM seg_slides ORDER BY patient_id").df()
    assert list(rows.columns) == ["cohort", "patient_id", "slide_path", "mask_path", "overlay_png", "mask_mpp",
                                  "run_id", "geojson"]
    # synthetic slides, a model trained on synthetic tiles of the same colours: no QC flag
    assert con.execute("SELECT count(*) FROM slide_qc").fetchone()[0] == 0
    assert (rows.mask_mpp == 2.0).all() and rows.overlay_png.map(lambda p: Path(p).is_file()).all()
    feats = con.execute("SELECT patient_id, code, value FROM features WHERE code IN "
                        "('STROMA_AREA', 'STROMAL_TIL') ORDER BY 1, 2").fetchall()
    values = {(p, c): v for p, c, v in feats}
    defs = dict(con.execute("SELECT code, formula FROM feature_defs WHERE family = 'wsi_segmentation'").fetchall())
    assert set(defs) == {"STROMAL_TIL", "STROMAL_TIL_PATCH", "STROMA_AREA", "TUMOR_AREA_SEG", "TUMOR_STROMA_RATIO"}
    assert "8 x 8 um" in defs["STROMAL_TIL"]
    details = con.execute("SELECT patient_id, label_set, n_tiles, n_tiles_total, cells_path FROM seg_slide_details "
                          "ORDER BY 1").df()
    assert (details.label_set == "binary-stroma").all() and (details.n_tiles <= details.n_tiles_total).all()
    for case, section in sections.items():
        mask_path = rows.set_index("patient_id").loc[case, "mask_path"]
        slide = openslide.OpenSlide(mask_path)
        assert float(slide.properties[openslide.PROPERTY_NAME_MPP_X]) == pytest.approx(2.0)
        mask = np.asarray(slide.read_region((0, 0), 0, slide.level_dimensions[0]))[..., 0]
        slide.close()
        truth = np.where(np.isin(section["labels"][2::4, 2::4], (2, 6)), 2, 0)
        assert mask.shape == truth.shape == (100, 132)
        assert dice_iou(mask, truth, [2])[2]["dice"] > 0.85
        # the QuPath GeoJSON outlines exactly the mask's stroma pixels, in level-0 pixels (4 per mask pixel)
        import shapely

        shapes = json.loads(Path(rows.set_index("patient_id").loc[case, "geojson"]).read_text())
        (stroma,) = shapes["features"]
        assert stroma["properties"]["objectType"] == "annotation"
        assert stroma["properties"]["classification"] == {"name": "tumour-associated stroma", "color": [255, 127, 0]}
        outline = shapely.from_geojson(json.dumps(stroma["geometry"]))
        assert outline.is_valid and outline.area == pytest.approx((mask == 2).sum() * 16.0)
        # features from the predicted mask: areas and TIGER's score close to the same on the exact mask
        assert values[(case, "STROMA_AREA")] == pytest.approx((mask == 2).sum() * 4e-6)
        cells = truth_cells(section, 0.5, case)[["x_um", "y_um"]].to_numpy()
        exact = stromal_til_score(cells, np.isin(section["labels"], (2, 6)), 0.5)
        assert abs(values[(case, "STROMAL_TIL")] - exact) < 10.0, (case, values[(case, "STROMAL_TIL")], exact)
    assert values[("CASE-0", "STROMAL_TIL")] < values[("CASE-1", "STROMAL_TIL")]   # planted 10 % < 70 %
    # STROMAL_TIL_PATCH from the score-wsi map, where there is one: stroma on patches with p >= 0.5
    patch = dict(con.execute("SELECT patient_id, value FROM features WHERE code = 'STROMAL_TIL_PATCH'").fetchall())
    assert set(patch) == {"CASE-0"}
    slide = openslide.OpenSlide(rows.set_index("patient_id").loc["CASE-0", "mask_path"])
    mask0 = np.asarray(slide.read_region((0, 0), 0, slide.level_dimensions[0]))[..., 0]
    slide.close()
    on = np.kron(np.nan_to_num(lymph, nan=0.0) >= 0.5, np.ones((25, 25), bool))[:100, :132]   # 25 mask px a patch
    assert patch["CASE-0"] == pytest.approx(100 * (on & (mask0 == 2)).sum() / (mask0 == 2).sum())
    con.close()
    # the same slides on 2 worker processes, reading with no thread, other batches: the same masks. A fresh
    # process, as the CLI runs: forking this one, whose torch has run OpenMP threads, can hang the children.
    import subprocess
    import sys

    import tifffile

    command = [sys.executable, "-m", "radpath.cli.app", "segment-wsi", *targets[:2], "--model", str(seg_model),
               "--out", str(tmp_path / "again"), "--db", str(tmp_path / "w2.duckdb"), "--jobs", "2",
               "--workers", "0", "--batch", "3"]
    done = subprocess.run(command, capture_output=True, encoding="utf-8", errors="replace", timeout=600)
    assert done.returncode == 0 and "2 slides segmented, 0 failed" in done.stdout, done.stdout + done.stderr
    with duckdb.connect(str(tmp_path / "w2.duckdb"), read_only=True) as con2:
        rows2 = con2.execute("SELECT patient_id, mask_path FROM seg_slides ORDER BY 1").fetchall()

    for (case, path2), path1 in zip(rows2, rows.mask_path, strict=True):
        assert (tifffile.imread(path2) == tifffile.imread(path1)).all(), case


def test_model_files_of_other_kinds_are_refused(seg_model: Path, tmp_path: Path) -> None:
    import torch

    from radpath.pathology.til.nets import build, save_classifier
    from radpath.warehouse import open_warehouse

    patch = save_classifier(tmp_path / "tumor.safetensors", build("resnet18", width=4),
                       {"task": "tumor", "arch": "resnet18", "arch_kwargs": {"width": 4}})
    with pytest.raises(ModelFileError, match="a 'tumor' patch classifier, expected a segmentation model"):
        read_seg_meta(patch)
    with open_warehouse(tmp_path / "w.duckdb") as con, pytest.raises(ModelFileError, match="tumor.safetensors"):
        segment_slides(con, ["x.tiff"], SegmentParams(model=str(patch), out_dir=str(tmp_path)))
    with pytest.raises(ModelFileError, match="tile size 64 px, expected 512 px"):
        load_seg_model(seg_model, tile_px=512)
    with pytest.raises(ModelFileError, match="trained for labels 'binary-stroma', expected 'tiger'"):
        load_seg_model(seg_model, labels="tiger")

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("this would run",))

    torch.save({"state_dict": {}, "meta": {}, "x": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ModelFileError, match="refused, loading it would run code"):
        load_seg_model(tmp_path / "evil.pt")


def test_training_data_layouts_and_bad_masks(tmp_path: Path) -> None:
    import tifffile

    rng = np.random.default_rng(0)
    wsirois = tmp_path / "wsirois"
    (wsirois / "images").mkdir(parents=True)
    (wsirois / "masks").mkdir()
    image = rng.integers(0, 255, (40, 100, 3)).astype(np.uint8)
    mask = np.zeros((40, 100), np.uint8)
    mask[:, 50:] = 2
    tifffile.imwrite(wsirois / "images" / "roi1.tif", image)
    tifffile.imwrite(wsirois / "masks" / "roi1.tif", mask)
    (wsirois / "dataset.json").write_text(json.dumps({"mpp": 1.0}))
    tiles = load_tiles(wsirois, 32, mpp=2.0)   # resampled to 20 x 50, padded to one row of tiles
    assert tiles.images.shape[1:] == (32, 32, 3) and tiles.mpp == 2.0
    assert len(tiles.names) == 2 and set(np.unique(tiles.labels)) == {0, 2}   # x = 0 and x = 18
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    Image.fromarray(image).save(pairs / "a.png")
    Image.fromarray(mask[:, :90]).save(pairs / "a_mask.png")
    with pytest.raises(ConfigError, match=r"mask .*a_mask.png is 90 x 40 px but image .*a.png is 100 x 40 px"):
        load_tiles(pairs, 32, mpp=1.0)
    bad = mask.copy()
    bad[0, 0] = 9
    Image.fromarray(bad).save(pairs / "a_mask.png")
    with pytest.raises(ConfigError, match=r"a_mask.png: values \[9\] outside the TIGER label set 0-7"):
        load_tiles(pairs, 32, mpp=1.0)
    (pairs / "a_mask.png").unlink()
    with pytest.raises(ConfigError, match="a.png has no a_mask.png"):
        list_pairs(pairs)


def test_cli_train_evaluate_segment(seg_data: dict[str, Path], seg_model: Path, seg_slides: tuple[Path, dict],
                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from typer.testing import CliRunner

    from radpath.cli.app import build_app, main

    runner = CliRunner()
    app = build_app()
    out = tmp_path / "m.safetensors"
    result = runner.invoke(app, ["train-seg", "--data", str(seg_data["train"]), "--out", str(out), "--epochs", "1",
                                 "--classes", "binary-stroma", "--arch", "fpn"])
    assert result.exit_code == 0, result.output
    assert "val stroma IoU" in result.output and read_seg_meta(out)["arch"] == "fpn"
    assert read_seg_meta(out)["best_epoch"] == 1
    db = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["evaluate-seg", "--data", str(seg_data["test"]), "--model", str(seg_model),
                                 "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "protocol radpath (radpath's own" in result.output and "stroma" in result.output and "IoU" in result.output
    result = runner.invoke(app, ["evaluate-seg", "--data", str(seg_data["test"]), "--model", str(seg_model),
                                 "--db", str(db), "--protocol", "tiger"])
    assert result.exit_code == 0, result.output
    assert "protocol tiger (the TIGER challenge's evaluation" in result.output and "F1 (Dice)" in result.output
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT protocol, subject, metric FROM pathology_evaluations "
                           "WHERE command = 'evaluate-seg'").fetchall()
    assert {(p, s) for p, s, _ in rows} >= {("radpath", "stroma"), ("tiger", "tumour"), ("tiger", "rest")}
    assert {m for p, _, m in rows if p == "tiger"} == {"f1", "jaccard", "precision", "recall", "tp", "fp", "fn"}
    root, _ = seg_slides
    result = runner.invoke(app, ["segment-wsi", str(root / "slides" / "CASE-1.tiff"), "--model", str(seg_model),
                                 "--out", str(tmp_path / "masks"), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "1 slides segmented, 0 failed" in result.output
    no_mpp = tmp_path / "NO-MPP.tiff"   # a slide without um/px fails alone; the command exits 1 (issue 23 §5)
    write_pyramid(no_mpp, np.full((256, 256, 3), 230, np.uint8), mpp=None)
    result = runner.invoke(app, ["segment-wsi", str(no_mpp), "--model", str(seg_model), "--out",
                                 str(tmp_path / "masks2"), "--db", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 1, result.output
    assert "0 slides segmented, 1 failed" in result.output and "masks in" not in result.output
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate-seg", "--data", str(tmp_path / "nothing"), "--model", str(seg_model)])
    assert exit_info.value.code == 2 and "no such folder" in capsys.readouterr().err   # the checked opener
