"""score-wsi on slides unlike the synthetic study (#24 §1-3): the µm/px rule and QC flags through the command,
NaN TIL_SCORE without tumour, the QuPath tiles, and scoring restricted to a manifest's annotated regions."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import shapely

from radpath.cli.app import main
from radpath.pathology.cases import annotation_files
from radpath.pathology.til.pipeline import ScoreParams, score_slide
from radpath.pathology.til.scores import til_scores
from radpath.synth.slides import render_section, write_pyramid

from .conftest import SHAPE

TUMOUR_THRESHOLD = 0.3   # the tiny test tumour model's probabilities stay below 0.5 (see test_pipeline.scored)


def test_til_score_is_nan_without_tumour() -> None:
    tumour = np.array([[0.1, 0.2], [0.3, np.nan]])
    lymph = np.array([[0.9, 0.1], [0.7, np.nan]])
    tissue = np.array([[True, True], [True, False]])
    scores = til_scores(tumour, lymph, tissue, 50.0)
    # no tumour patch: the tumour bed is empty, TIL_SCORE NaN; 2 of the 3 tissue patches are TIL+ (by hand)
    assert np.isnan(scores["TIL_SCORE"]) and np.isnan(scores["TIL_INTRATUMORAL"])
    assert scores["TIL_NONTUMOR"] == pytest.approx(200 / 3) and scores["TUMOR_AREA"] == 0.0
    tumour[0, 1] = 0.8      # one tumour patch: its bed (50 um band = 1 patch) is the 3 tissue patches
    assert til_scores(tumour, lymph, tissue, 50.0)["TIL_SCORE"] == pytest.approx(200 / 3)


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return 0 if exit_info.value.code is None else int(exit_info.value.code)


def test_score_wsi_flags_a_scanned_slide_keeps_its_values_and_writes_qupath_tiles(
        models: dict[str, Path], slides: dict[float, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    rgb = render_section(np.random.default_rng(11), 35.0, shape=SHAPE)["rgb"]
    scanned = tmp_path / "SCANNED.tiff"
    write_pyramid(scanned, rgb, description="H&E section, scanned at 20x")      # not the synth's marker
    db, out = tmp_path / "w.duckdb", tmp_path / "maps"
    code = _cli(["score-wsi", str(slides[35.0]), str(scanned), "--tumor-model", str(models["tumor"]),
                 "--til-model", str(models["lymphocyte"]), "--mpp", "1.0", "--db", str(db), "--out", str(out),
                 "--batch", "32", "--tumor-threshold", str(TUMOUR_THRESHOLD)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    # one QC line for the run, then the µm/px warnings
    assert "QC: 2 of 2 slides flagged (mpp_mismatch 2, synthetic_model 1)" in printed, printed
    assert "warning: SCANNED: the slide declares 0.5 um/px, 1 was given (-50 %)" in printed
    con = duckdb.connect(str(db), read_only=True)
    flags = con.execute("SELECT patient_id, code, model FROM slide_qc ORDER BY 1, 2, 3").fetchall()
    assert flags == [("SCANNED", "mpp_mismatch", None), ("SCANNED", "synthetic_model", "lymphocyte"),
                     ("SCANNED", "synthetic_model", "tumor"), ("SLIDE-1", "mpp_mismatch", None)]
    reason = con.execute("SELECT reason FROM slide_qc WHERE code = 'synthetic_model' LIMIT 1").fetchone()[0]
    assert "trained on synthetic data (radpath synthetic study)" in reason
    # values kept, computed at the slides' own 0.5 um/px: 100-px lymphocyte patches of 50 um
    rows = con.execute("SELECT s.patient_id, s.patch_um, s.n_tissue_patches, p.tissue_area_mm2, s.geojson "
                       "FROM pathology_slides s JOIN pathology_scores p USING (cohort, patient_id) ORDER BY 1").df()
    assert (rows.patch_um == 50.0).all()
    assert np.allclose(rows.tissue_area_mm2, rows.n_tissue_patches * 0.05**2)
    feats = con.execute("SELECT patient_id, value FROM features WHERE code = 'TISSUE_AREA' ORDER BY 1").fetchall()
    assert [p for p, _ in feats] == ["SCANNED", "SLIDE-1"] and all(v > 0 for _, v in feats)
    con.close()
    # the QuPath tiles: one locked tile per tissue patch of the 100-px grid, probabilities as measurements
    row = rows.set_index("patient_id").loc["SLIDE-1"]
    tissue = np.load(out / "slides" / "SLIDE-1" / "tissue.npy")
    lymph = np.load(out / "slides" / "SLIDE-1" / "lymphocyte.npy")
    features = json.loads(Path(row.geojson).read_text())["features"]
    assert len(features) == int(tissue.sum()) == int(row.n_tissue_patches)
    i, j = np.argwhere(tissue)[0]
    first = features[0]
    assert first["properties"]["objectType"] == "tile" and first["properties"]["isLocked"] is True
    assert shapely.from_geojson(json.dumps(first["geometry"])).bounds == (j * 100.0, i * 100.0, j * 100.0 + 100,
                                                                          i * 100.0 + 100)
    assert first["properties"]["measurements"]["lymphocyte probability"] == pytest.approx(float(lymph[i, j]))
    assert first["properties"]["classification"]["name"] in ("other tissue", "tumour", "TIL-positive")
    # no tumour at a threshold no probability reaches: TIL_SCORE NaN with its reason, never the tissue score
    db2 = tmp_path / "w2.duckdb"
    assert _cli(["score-wsi", str(slides[35.0]), "--tumor-model", str(models["tumor"]), "--til-model",
                 str(models["lymphocyte"]), "--tumor-threshold", "1.0", "--db", str(db2), "--out",
                 str(tmp_path / "m2"), "--batch", "32"]) == 0
    assert "no_tumour 1" in capsys.readouterr().out
    con = duckdb.connect(str(db2), read_only=True)
    assert float(np.nanmax(np.load(tmp_path / "m2" / "slides" / "SLIDE-1" / "tumor_agg.npy"))) < 1.0
    til, nontumor = con.execute("SELECT til_score, til_nontumor FROM pathology_scores").fetchone()
    assert til is None or np.isnan(til)
    assert nontumor > 0
    assert con.execute("SELECT code FROM slide_qc").fetchall() == [("no_tumour",)]
    con.close()


def test_scoring_stays_inside_the_annotated_regions(models: dict[str, Path], slides: dict[float, Path],
                                                     tmp_path: Path) -> None:
    from radpath.warehouse import open_warehouse

    # a QuPath export: an outline of the slide's left half with a hole, level-0 pixels of the 800 x 600 slide
    outline = shapely.Polygon([(40, 30), (430, 60), (415, 570), (55, 545)], [[(230, 230), (370, 230),
                                                                              (370, 370), (230, 370)]])
    root = tmp_path / "study"
    (root / "slides").mkdir(parents=True)
    slide = root / "slides" / "P1.tiff"
    slide.write_bytes(slides[80.0].read_bytes())
    (root / "slides" / "P1.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "id": "2f6a9c1e-1111-4c1d-9c5b-3f1e2d4c5b6a",
        "geometry": json.loads(shapely.to_geojson(outline)),
        "properties": {"objectType": "annotation", "classification": {"name": "Tumor", "color": [200, 0, 0]}}}]}))
    (root / "manifest.yaml").write_text(
        "name: roi_study\nclinical:\n  - path: clinical.csv\n    id_column: id\n    columns: {age: age}\n"
        "slides:\n  root: slides\n  pattern: '{patient_id}.tiff'\n  annotations: '{patient_id}.geojson'\n")
    with open_warehouse(tmp_path / "w.duckdb") as con:
        for pid in ("P1", "P2"):
            con.execute("INSERT INTO patient_registry (cohort, patient_id, included, run_id) VALUES "
                        "('roi_study', ?, true, 'r')", [pid])
        (root / "slides" / "P2.tiff").write_bytes(slides[5.0].read_bytes())     # P2 has no annotation file
        rois = annotation_files(con, [str(root / "manifest.yaml")])
    assert rois[str(slide)] == str(root / "slides" / "P1.geojson")
    assert rois[str(root / "slides" / "P2.tiff")].endswith("P2.geojson")      # named: its run fails saying so
    params = ScoreParams(tumor_model=str(models["tumor"]), til_model=str(models["lymphocyte"]),
                         out_dir=str(tmp_path / "maps"), batch=32, tumour_threshold=TUMOUR_THRESHOLD)
    payload = {"case_id": "P1", "cohort": "roi_study", "slide": str(slide), "params": params.__dict__}
    whole = score_slide({**payload, "cohort": "whole"})     # its own map folder
    inside = score_slide({**payload, "annotations": rois[str(slide)]})
    tissue = np.load(inside["paths"]["tissue"])
    # no patch outside the ROI: every scored patch has its centre inside the outline (not in its hole) ...
    centres = (np.argwhere(tissue)[:, ::-1] + 0.5) * 100.0
    assert len(centres) > 0 and shapely.contains_xy(outline, centres[:, 0], centres[:, 1]).all()
    # ... they are among the whole slide's tissue patches, fewer of them, and every whole-slide tissue patch lying
    # entirely inside the outline (its tissue all annotated) is scored inside it too
    whole_tissue = np.load(whole["paths"]["tissue"])
    assert not (tissue & ~whole_tissue).any() and tissue.sum() < whole_tissue.sum()
    within = [(i, j) for i, j in np.argwhere(whole_tissue)
              if outline.contains(shapely.box(j * 100.0, i * 100.0, j * 100.0 + 100, i * 100.0 + 100))]
    assert within and all(tissue[i, j] for i, j in within)
    tumour = np.load(inside["paths"]["tumor"])
    rows, cols = np.nonzero(np.isfinite(tumour))
    assert shapely.contains_xy(outline, (cols + 0.5) * 176.0, (rows + 0.5) * 176.0).all()
    # the tissue area is the annotated tissue
    assert inside["scores"]["TISSUE_AREA"] == pytest.approx(tissue.sum() * 0.05**2)
    tiles = json.loads(Path(inside["paths"]["geojson"]).read_text())["features"]
    assert len(tiles) == int(tissue.sum())
    assert all(shapely.contains_xy(outline, *shapely.from_geojson(json.dumps(t["geometry"])).centroid.coords[0])
               for t in tiles)
