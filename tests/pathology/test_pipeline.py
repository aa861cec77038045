"""End to end on real tiny slides and real tiny trained models: training, score-wsi, import-til-maps, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from radpath.cli.app import build_app, main
from radpath.errors import ConfigError
from radpath.pathology.models import read_meta
from radpath.pathology.til.pipeline import ScoreParams, import_maps, score_slides
from radpath.pathology.til.train import TrainConfig, augment, load_patches, train_classifier

from .conftest import make_slide


def test_trained_models_carry_metadata_and_separate_classes(models: dict[str, Path]) -> None:
    for task, path in models.items():
        meta = read_meta(path)
        assert meta["task"] == task and meta["arch"] == "resnet18" and meta["input_px"] == 32
        assert meta["patch_px"] == {"tumor": 176, "lymphocyte": 100}[task] and meta["mpp"] == 0.5
        assert meta["classes"] == ["negative", "positive"] and len(meta["data_hash"]) == 64
        assert meta["metrics"]["auc"] > 0.8, meta["metrics"]
        assert meta["training"]["lr"] == 0.01 and meta["training"]["momentum"] == 0.9


def test_training_from_csv_and_bad_data(patch_data: dict[str, Path], tmp_path: Path) -> None:
    folder = patch_data["lymphocyte"]
    rows = [f"{p.relative_to(folder)},{p.parent.name}" for p in sorted(folder.glob("*/*.png"))[::4]]
    (folder / "list.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    data = load_patches(folder / "list.csv", "lymphocyte", input_px=24)
    assert data.images.shape[1:] == (3, 24, 24) and set(data.labels.tolist()) == {0, 1}
    (folder / "list.csv").unlink()
    bad = tmp_path / "three"
    for name in ("a", "b", "c"):
        (bad / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(bad / name / "x.png")
    with pytest.raises(ConfigError, match=r"expected two classes including 'positive', found \['a', 'b', 'c'\]"):
        train_classifier(bad, TrainConfig(task="tumor", epochs=1), tmp_path / "m.safetensors")
    with pytest.raises(ConfigError, match="dataset.json says task 'tumor', not 'lymphocyte'"):
        load_patches(patch_data["tumor"], "lymphocyte")


def test_augmentation_keeps_range_and_frozen_epochs_keep_backbone(patch_data: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 16, 16)
    y = augment(x, gen)
    assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0 and not torch.equal(x, y)
    # backbone from a local weights file, frozen for the one epoch: saved backbone == those weights, head trained
    from safetensors.torch import load_file

    from radpath.pathology.til.nets import build

    torch.manual_seed(99)
    init = build("resnet18", width=4).state_dict()
    torch.save(init, tmp_path / "init.pt")
    out = tmp_path / "frozen.safetensors"
    config = TrainConfig(task="tumor", width=4, input_px=16, epochs=1, freeze_epochs=1, seed=4,
                         init_weights=str(tmp_path / "init.pt"))
    train_classifier(patch_data["tumor"], config, out)
    saved = load_file(str(out))
    for key in ("backbone.0.weight", "backbone.4.conv1.weight"):
        assert torch.equal(saved[key], init[key])
    assert not torch.equal(saved["head.weight"], init["head.weight"])
    # and unfrozen, the backbone moves
    train_classifier(patch_data["tumor"], replace(config, freeze_epochs=0), out)
    assert not torch.equal(load_file(str(out))["backbone.0.weight"], init["backbone.0.weight"])


@pytest.fixture(scope="module")
def scored(models: dict[str, Path], slides: dict[float, Path], tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, ScoreParams, list]:
    from radpath.warehouse import open_warehouse

    root = tmp_path_factory.mktemp("scored")
    bad = root / "BROKEN.tiff"
    bad.write_bytes(b"II*\x00garbage")
    glass = root / "GLASS.tiff"
    make_slide(glass, 0.0, shape=(400, 500))
    from radpath.synth.slides import write_pyramid

    rng = np.random.default_rng(0)
    write_pyramid(glass, (243 + rng.normal(0, 2, (400, 500, 3))).clip(0, 255).astype(np.uint8))
    # the tiny tumour model (4 epochs on 3 sections) ranks tumour well (AUC ~0.9) but its probabilities stay
    # below 0.5: at 0.5 it finds no tumour and TIL_SCORE is NaN (#24 §1; it used to be the whole-tissue score)
    params = ScoreParams(tumor_model=str(models["tumor"]), til_model=str(models["lymphocyte"]),
                         out_dir=str(root / "maps"), batch=32, tumour_threshold=0.3)
    db = root / "w.duckdb"
    targets = [str(p) for p in slides.values()] + [str(bad), str(glass)]
    with open_warehouse(db) as con:
        summaries = score_slides(con, targets, params)
    return db, params, summaries


def test_score_wsi_writes_maps_scores_and_features(scored: tuple[Path, ScoreParams, list],
                                                   slides: dict[float, Path]) -> None:
    db, params, summaries = scored
    (summary,) = summaries
    assert sorted(summary.done) == ["GLASS", "SLIDE-0", "SLIDE-1", "SLIDE-2"]
    assert list(summary.failed) == ["BROKEN"] and "BROKEN.tiff" in summary.failed["BROKEN"]
    con = duckdb.connect(str(db), read_only=True)
    scores = con.execute("SELECT patient_id, til_score, tissue_area_mm2 FROM pathology_scores ORDER BY 1").df()
    til = dict(zip(scores.patient_id, scores.til_score, strict=True))
    # planted 5 % < 35 % < 80 % TIL regions in the tumour bed: the computational score follows
    assert til["SLIDE-0"] < til["SLIDE-1"] < til["SLIDE-2"], til
    assert til["SLIDE-2"] - til["SLIDE-0"] > 30.0
    glass = scores.set_index("patient_id").loc["GLASS"]
    assert glass.tissue_area_mm2 == 0.0 and np.isnan(glass.til_score)
    feats = con.execute("SELECT code, count(*) FROM features WHERE modality = 'pathology' GROUP BY 1").fetchall()
    assert dict(feats)["TIL_SCORE"] == 4 and len(feats) == 6
    row = con.execute("SELECT * FROM pathology_slides WHERE patient_id = 'SLIDE-1'").df().iloc[0]
    # 800 x 600 px slide, 100-px lymphocyte patches -> 6 x 8 grid
    assert (row.grid_rows, row.grid_cols, row.levels) == (6, 8, 3) and row.patch_um == pytest.approx(50.0)
    lymph = np.load(row.lymphocyte_map)
    tumour = np.load(row.tumor_map)
    assert lymph.shape == (6, 8) and tumour.shape == (600 // 176, 800 // 176)
    rgb = np.asarray(Image.open(row.rgb_map))
    assert rgb.shape == (6, 8, 3) and ((rgb[..., 2] == 255) == np.load(row.tissue_map)).all()
    assert Path(row.overlay_png).is_file()
    failure = con.execute("SELECT case_id, file FROM case_failures").fetchall()
    assert failure[0][0] == "BROKEN" and failure[0][1].endswith("BROKEN.tiff")
    params_json = con.execute("SELECT params FROM runs WHERE command = 'score-wsi'").fetchone()[0]
    recorded = json.loads(params_json)
    assert recorded["tumour_threshold"] == 0.3 and recorded["lymphocyte_threshold"] == 0.5
    assert recorded["window"] == 4 and recorded["aggregation"] == "max" and len(recorded["model_hashes"]) == 2


def test_import_til_maps_reproduces_the_scores(scored: tuple[Path, ScoreParams, list], tmp_path: Path) -> None:
    from radpath.warehouse import open_warehouse

    db, params, _ = scored
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT patient_id, rgb_map, til_score, til_intratumoral FROM pathology_scores "
                       "JOIN pathology_slides USING (cohort, patient_id) WHERE patient_id LIKE 'SLIDE%'").df()
    con.close()
    folder = tmp_path / "published"
    folder.mkdir()
    for r in rows.itertuples():
        Image.open(r.rgb_map).save(folder / f"{r.patient_id}-DX1.png")
    other = tmp_path / "w2.duckdb"
    with open_warehouse(other) as con2:
        summary = import_maps(con2, folder, cohort="tcga_brca", patch_um=50.0, id_length=7,
                              tumour_threshold=params.tumour_threshold)
        imported = con2.execute("SELECT patient_id, til_score, til_intratumoral FROM pathology_scores").df()
    assert sorted(summary.done) == sorted(rows.patient_id)
    merged = rows.merge(imported, on="patient_id", suffixes=("", "_imported"))
    # the PNG quantises probabilities to 1/255; with the same thresholds the scores agree to within a patch
    assert np.abs(merged.til_score - merged.til_score_imported).max() < 5.0
    with pytest.raises(ConfigError, match="no .png Tumour-TIL maps"):
        import_maps(duckdb.connect(), tmp_path / "nothing", cohort="x")


def test_wrong_model_task_is_refused_before_any_run(scored: tuple[Path, ScoreParams, list],
                                                    slides: dict[float, Path]) -> None:
    from radpath.errors import ModelFileError
    from radpath.warehouse import open_warehouse

    db, params, _ = scored
    swapped = replace(params, tumor_model=params.til_model)
    with open_warehouse(db) as con, pytest.raises(ModelFileError, match="a 'lymphocyte' model, expected a 'tumor'"):
        score_slides(con, [str(slides[5.0])], swapped)


def test_cli_inspect_and_score_error(slides: dict[float, Path], models: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    runner = CliRunner()
    app = build_app()
    thumb = tmp_path / "t.png"
    result = runner.invoke(app, ["pathology", "inspect", str(slides[5.0]), "--thumbnail", str(thumb)])
    assert result.exit_code == 0, result.output
    assert "generic-tiff" in result.output and "800 x 600" in result.output and thumb.is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["score-wsi", str(slides[5.0]), "--tumor-model", str(models["lymphocyte"]),
              "--til-model", str(models["lymphocyte"]), "--db", str(tmp_path / "w.duckdb")])
    assert exit_info.value.code == 2 and "expected a 'tumor' model" in capsys.readouterr().err


def test_a_failed_slide_makes_score_wsi_and_import_til_maps_exit_1(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A slide without um/px printed "0 slides scored, 1 failed; maps in DIR" and exited 0 (issue 23 §5, §7): `set -e`
    scripts and the demo went on. Now the run is recorded, no map folder is claimed, and the exit status is 1."""
    slide = tmp_path / "NO-MPP.tiff"
    make_slide(slide, 20.0, seed=5, mpp=None)
    db, out = tmp_path / "w.duckdb", tmp_path / "maps"
    with pytest.raises(SystemExit) as exit_info:
        main(["score-wsi", str(slide), "--tumor-model", str(models["tumor"]), "--til-model", str(models["lymphocyte"]),
              "--out", str(out), "--db", str(db)])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "0 slides scored, 1 failed" in captured.out and "maps in" not in captured.out
    assert "NO-MPP.tiff" in captured.out and "1 of 1 cases failed (exit status 1)" in captured.err
    folder = tmp_path / "published"
    folder.mkdir()
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(folder / "P1.png")
    (folder / "P2.png").write_bytes(b"truncated")
    with pytest.raises(SystemExit) as exit_info:
        main(["import-til-maps", str(folder), "--cohort", "c1", "--db", str(db)])
    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert "1 maps scored, 1 failed" in captured.out and "P2.png: not a readable map image" in captured.out
    with duckdb.connect(str(db), read_only=True) as con:
        assert sorted(con.execute("SELECT command, status FROM runs").fetchall()) == [
            ("import-til-maps", "partial"), ("score-wsi", "failed")]


def test_loader_workers_and_batch_size_do_not_change_the_map(models: dict[str, Path], slides: dict[float, Path]
                                                             ) -> None:
    from radpath.pathology.infer import predict_map
    from radpath.pathology.slides import open_slide, thumbnail
    from radpath.pathology.til.nets import load_model
    from radpath.pathology.tissue import PatchGrid, tissue_mask

    model, meta = load_model(models["lymphocyte"], "lymphocyte")
    slide, info = open_slide(slides[35.0], "S")
    mask = tissue_mask(thumbnail(slide, info))
    slide.close()
    grid = PatchGrid(info.width, info.height, 100.0)
    selected = grid.tissue_fraction(mask) >= 0.5
    inline = predict_map(model, meta, info, grid, selected, case_id="S", batch=64)
    streamed = predict_map(model, meta, info, grid, selected, case_id="S", batch=5, workers=2)
    assert np.isfinite(inline[selected]).all() and np.isnan(inline[~selected]).all()
    np.testing.assert_allclose(streamed, inline, atol=1e-5)
