"""A tiny warehouse holding every input the report reads, written directly from the synthetic truth."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from radpath.ingest import ingest_manifest
from radpath.stats.pipeline import run_apply, run_evaluate, run_fit_composite, run_fit_signature
from radpath.stats.survival_validation import ValidationOptions, validate_survival
from radpath.warehouse import open_warehouse, register_feature_defs, start_run, transaction, write_features


def _rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    con.register("_rows", frame)
    con.execute(f"INSERT INTO {table} ({', '.join(frame.columns)}) SELECT {', '.join(frame.columns)} FROM _rows")
    con.unregister("_rows")


@pytest.fixture
def report_db(tmp_path: Path, table_study) -> Path:
    db = tmp_path / "report.duckdb"
    truth = pd.read_csv(table_study.truth_path)
    rng = np.random.default_rng(3)
    with open_warehouse(db) as con:
        for manifest in table_study.manifests.values():
            ingest_manifest(con, manifest)
        train = truth[(truth["cohort"] == "tcga_brca") & truth["included"]]
        valid = truth[(truth["cohort"] == "ispy1") & truth["included"]]
        with transaction(con):
            run = start_run(con, "test-fixture", {})
            codes = {"M1": train["z_img"], "BPE1": -train["z_img"], "N1": rng.standard_normal(len(train))}
            long = pd.concat([pd.DataFrame({"patient_id": train["patient_id"], "code": c, "value": v})
                              for c, v in codes.items()])
            write_features(con, run, "tcga_brca", "mri", long)
            register_feature_defs(con, "mri", [
                {"code": c, "family": "test", "name": f"feature {c}", "unit": "1", "formula": "x"} for c in codes])
            assoc = pd.DataFrame({"cohort": "tcga_brca", "modality": "mri", "code": list(codes) * 2,
                                  "target": ["til"] * 3 + ["CYT"] * 3, "n": len(train),
                                  "r": [0.5, -0.4, 0.01, 0.1, -0.1, 0.0], "ci_low": 0.0, "ci_high": 0.0,
                                  "p_value": [1e-4, 1e-3, 0.9, 0.3, 0.4, 0.99],
                                  "fdr": [2e-4, 2e-3, 0.9, 0.5, 0.5, 0.99],
                                  "significant": [True, True, False, False, False, False], "run_id": run.run_id})
            _rows(con, "feature_associations", assoc)
            artifact = {"features": [{"modality": "mri", "code": "M1"}], "coefficients": {"M1": 5.0}, "intercept": 9.0,
                        "means": {"M1": 0.0}, "sds": {"M1": 1.0},
                        "thresholds": {"low_vs_intermediate": 10.0, "low_vs_high": 20.0, "intermediate_vs_high": 30.0}}
            _rows(con, "models", pd.DataFrame([{
                "name": "sig", "version": 1, "kind": "signature", "cohort": "tcga_brca", "target": "til",
                "artifact": json.dumps(artifact), "data_hash": "x", "created_at": pd.Timestamp("2026-01-01"),
                "run_id": run.run_id}]))
            predictions = []
            for cohort, part in (("tcga_brca", train), ("ispy1", valid)):
                predicted = part["til_pct"].to_numpy() + rng.normal(0, 5, len(part))
                predictions.append(pd.DataFrame({
                    "model": "sig", "version": 1, "cohort": cohort, "patient_id": part["patient_id"],
                    "predicted": predicted, "til_group": np.where(predicted <= 10, "low", "high+intermediate"),
                    "run_id": run.run_id}))
            _rows(con, "model_predictions", pd.concat(predictions))
            groups = predictions[1].merge(valid[["patient_id", "subtype", "rfs_days", "rfs_event"]], on="patient_id")
            _rows(con, "survival_groups", pd.DataFrame({
                "cohort": "ispy1", "model": "sig", "version": 1, "endpoint": "rfs", "grouping": "low|high+intermediate",
                "patient_id": groups["patient_id"], "subtype": groups["subtype"], "predicted": groups["predicted"],
                "til_group": groups["til_group"], "time_days": groups["rfs_days"], "event": groups["rfs_event"],
                "run_id": run.run_id}))
            maps = tmp_path / "maps"
            maps.mkdir()
            slides, scores = [], []
            for i, row in enumerate(train.head(12).itertuples(index=False)):
                grid = rng.random((24, 32, 3)) * [row.til_pct / 90.0, 0.8, 1.0]
                rgb = maps / f"{row.patient_id}_rgb.png"
                Image.fromarray((grid * 255).astype(np.uint8)).save(rgb)
                slides.append({"cohort": "tcga_brca", "patient_id": row.patient_id, "slide_path": f"s{i}.tiff",
                               "rgb_map": str(rgb), "overlay_png": str(rgb), "run_id": run.run_id})
                scores.append({"cohort": "tcga_brca", "patient_id": row.patient_id,
                               "til_score": row.til_pct * 0.8 + rng.normal(0, 3), "run_id": run.run_id})
            _rows(con, "pathology_slides", pd.DataFrame(slides))
            _rows(con, "pathology_scores", pd.DataFrame(scores))
            con.execute("UPDATE run_log SET status = 'ok', finished_at = started_at WHERE run_id = ?", [run.run_id])
    return db


@pytest.fixture
def study_db(report_db: Path, table_study, tmp_path: Path) -> Path:
    """report_db plus CYT, the published signature's five features, `sig` v2 refitted by the real repeated LASSO
    on M1 and N1 (5 folds x 4 repeats: fold predictions), a composite of `sig` and CYT (refitted within the
    folds), the published signature applied, the evaluation of all three, and the composite's survival
    validation on ispy1 (2 groups, by subtype)."""
    db = tmp_path / "study.duckdb"
    shutil.copy(report_db, db)
    truth = pd.read_csv(table_study.truth_path)
    with open_warehouse(db) as con:
        with transaction(con):
            run = start_run(con, "test-genomics", {})
            for cohort, part in truth[truth["included"]].groupby("cohort"):
                write_features(con, run, str(cohort), "genomics",
                               pd.DataFrame({"patient_id": part["patient_id"], "code": "CYT",
                                             "value": 2 ** part["cyt_log2"]}))
                if cohort == "ispy1":
                    write_features(con, run, "ispy1", "mri", pd.DataFrame({
                        "patient_id": part["patient_id"], "code": "M1", "value": part["z_img"]}))
                else:  # the published signature's other inputs: TEX2 tracks the latent, two are noise
                    rng = np.random.default_rng(11)
                    other = {"TEX2": -part["z_img"] + rng.normal(0, 1, len(part)),
                             "TSBPE2": rng.normal(0, 1, len(part)), "BPE3": rng.normal(0, 1, len(part))}
                    write_features(con, run, "tcga_brca", "mri", pd.concat(
                        [pd.DataFrame({"patient_id": part["patient_id"], "code": c, "value": v})
                         for c, v in other.items()]), params_hash="paper")
            con.execute("UPDATE run_log SET status = 'ok', finished_at = started_at WHERE run_id = ?", [run.run_id])
        run_fit_signature(con, "tcga_brca", name="sig", features=["M1,N1"], folds=5, repeats=4, seed=1)
        run_fit_composite(con, "tcga_brca", signature="sig", with_=["cyt"], adjust=["stage", "er"])
        run_apply(con, "published:wu2020_signature", "tcga_brca")
        run_evaluate(con, "tcga_brca", "composite", ["sig", "published:wu2020_signature"])
        run_apply(con, "composite", "ispy1")
        validate_survival(con, ValidationOptions(cohort="ispy1", model="composite", n_boot=50, seed=1, min_events=3))
        # what segment-wsi writes: seg_slides rows and STROMAL_TIL = reading + 5 exactly, six patients
        til = con.execute("SELECT patient_id, stromal_til_pct FROM til WHERE cohort = 'tcga_brca' "
                          "AND stromal_til_pct IS NOT NULL ORDER BY patient_id LIMIT 6").df()
        with transaction(con):
            run = start_run(con, "test-seg", {})
            _rows(con, "seg_slides", pd.DataFrame({
                "cohort": "tcga_brca", "patient_id": til["patient_id"], "slide_path": "s.tiff",
                "mask_path": "m.tiff", "overlay_png": "o.png", "mask_mpp": 8.0, "run_id": run.run_id}))
            write_features(con, run, "tcga_brca", "pathology", pd.DataFrame({
                "patient_id": til["patient_id"], "code": "STROMAL_TIL", "value": til["stromal_til_pct"] + 5.0}))
    return db
