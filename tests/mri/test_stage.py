"""`radpath extract-mri` end to end on a small synthetic study: features follow the planted truth, failures
are per case, re-runs replace, `--retry-failed` re-runs only failures, no DICOM PHI reaches the warehouse."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.errors import ConfigError
from radpath.ingest import ingest_manifest
from radpath.mri.extract import extract_mri
from radpath.mri.features import PAPER_CODES
from radpath.mri.params import MRIParams
from radpath.mri.reduce import icc_3_1, select
from radpath.synth.mri import protocol_for, write_case
from radpath.synth.study import Study, generate_study
from radpath.synth.truth import TRAIN
from radpath.warehouse import open_warehouse

FAST = MRIParams(extended=False)


@pytest.fixture(scope="module")
def mri_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return generate_study(tmp_path_factory.mktemp("mri_study"), seed=13, n_train=9, n_valid=6, modalities=["mri"])


@pytest.fixture(scope="module")
def truth(mri_study: Study) -> pd.DataFrame:
    return pd.read_csv(mri_study.truth_path)


@pytest.fixture
def study_copy(mri_study: Study, tmp_path: Path) -> Path:
    """A private copy of the training cohort's folder (tests break files in it)."""
    target = tmp_path / "study" / TRAIN
    shutil.copytree(mri_study.manifests[TRAIN].parent, target)
    return target / "manifest.yaml"


@pytest.fixture
def warehouse(mri_study: Study, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        ingest_manifest(con, mri_study.manifests[TRAIN])
        yield con


def wide(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    frame = con.execute("SELECT patient_id, code, value FROM features WHERE modality = 'mri'").df()
    return frame.pivot_table(index="patient_id", columns="code", values="value").reset_index()


def test_features_follow_the_planted_truth(mri_study: Study, truth: pd.DataFrame,
                                           warehouse: duckdb.DuckDBPyConnection) -> None:
    summary = extract_mri(warehouse, mri_study.manifests[TRAIN], params=FAST)
    expected = set(truth.query("cohort == @TRAIN and has_mri")["patient_id"])
    assert summary.status == "ok" and set(summary.done) == expected
    merged = wide(warehouse).merge(truth, on="patient_id")
    assert set(PAPER_CODES) <= set(merged.columns)
    np.testing.assert_allclose(merged["M1"], merged["tumour_volume_cc"], rtol=0.05)
    np.testing.assert_allclose(merged["BPE3"], merged["bpe_fraction"], atol=0.04)
    assert np.corrcoef(merged["TSBPE2"], merged["ts_bpe_ser"])[0, 1] > 0.8
    assert (merged["FTV1"] <= merged["M1"] * 1.05).all()
    qc = warehouse.execute("SELECT * FROM mri_cases").df()
    assert len(qc) == len(expected) and (qc["parenchyma_source"] == "fcm").all()
    assert qc["early_s"].between(60, 300).all() and (qc["late_s"] > qc["early_s"]).all()
    table1 = warehouse.execute("SELECT code FROM mri_table1").df()
    assert sorted(table1["code"]) == sorted(PAPER_CODES)


def test_a_bad_case_fails_alone_and_retry_reruns_only_it(study_copy: Path,
                                                         warehouse: duckdb.DuckDBPyConnection) -> None:
    folder = study_copy.parent / "mri" / "TCGA-S0-0002"
    saved = (folder / "phase1.nii.gz").read_bytes()
    (folder / "phase1.nii.gz").write_text("not an image")
    first = extract_mri(warehouse, study_copy, params=FAST)
    assert first.status == "partial" and list(first.failed) == ["TCGA-S0-0002"]
    assert "phase1.nii.gz: not a readable image" in first.failed["TCGA-S0-0002"]
    failure = warehouse.execute("SELECT case_id, file FROM case_failures").fetchall()
    assert failure == [("TCGA-S0-0002", str(folder / "phase1.nii.gz"))]
    rows_before = warehouse.execute("SELECT count(*) FROM feature_values").fetchone()
    (folder / "phase1.nii.gz").write_bytes(saved)
    retry = extract_mri(warehouse, study_copy, params=FAST, retry_failed=True)
    assert retry.done == ["TCGA-S0-0002"] and not retry.failed
    rows_after = warehouse.execute("SELECT count(*) FROM feature_values").fetchone()
    assert rows_after[0] == rows_before[0] + 17
    # a full re-run with the same parameters replaces, never duplicates
    extract_mri(warehouse, study_copy, params=FAST)
    assert warehouse.execute("SELECT count(*) FROM feature_values").fetchone() == rows_after
    assert warehouse.execute("SELECT count(*) FROM mri_case_qc").fetchone()[0] == len(first.done) + 1


def test_no_dicom_phi_reaches_the_warehouse(study_copy: Path, truth: pd.DataFrame,
                                            warehouse: duckdb.DuckDBPyConnection) -> None:
    pid = "TCGA-S0-0003"
    folder = study_copy.parent / "mri" / pid
    for old in folder.glob("phase*.nii.gz"):
        old.unlink()
    (folder / "dce.json").unlink()
    row = truth.set_index("patient_id").loc[pid].to_dict() | {"patient_id": pid}
    rng = np.random.default_rng(5)
    write_case(row, protocol_for(TRAIN, rng), folder, rng, "dicom")
    summary = extract_mri(warehouse, study_copy, params=FAST, cases=[pid])
    assert summary.done == [pid], summary.failed
    assert warehouse.execute("SELECT format FROM mri_case_qc").fetchone() == ("dicom",)
    tables = [r[0] for r in warehouse.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()]
    text = " ".join(warehouse.execute(f"SELECT * FROM {t}").df().astype(str).to_csv() for t in tables)
    assert "Synthetic" not in text and "19700101" not in text               # patient name, birth date
    # study and series UIDs are recorded on purpose (issue 22: which series was read), nowhere else
    uid_root = "1.2.826.0.1.3680043"
    choice = warehouse.execute("SELECT study_uid, series, n_phases FROM mri_case_qc").df()
    series = json.loads(choice["series"][0])            # one series per phase, as the synthetic DICOM is written
    assert choice["study_uid"][0].startswith(uid_root) and len(series) == choice["n_phases"][0]
    assert [s["description"] for s in series] == [f"DCE phase {k}" for k in range(len(series))]
    rest = " ".join(warehouse.execute(f"SELECT * FROM {t}").df().astype(str).to_csv() for t in tables
                    if t != "mri_case_qc")
    rest += warehouse.execute("SELECT * EXCLUDE (study_uid, series, skipped_series) FROM mri_case_qc").df().to_csv()
    assert uid_root not in rest


def test_cli_extract_with_params_file_and_inspect(mri_study: Study, tmp_path: Path) -> None:
    params = tmp_path / "mri.yaml"
    params.write_text("version: 1\nn4_iterations: [10]\nextended: true\n")
    db = tmp_path / "cli.duckdb"
    runner = CliRunner()
    manifest = str(mri_study.manifests[TRAIN])
    result = runner.invoke(build_app(), ["extract-mri", manifest, "--case", "TCGA-S0-0001", "--params", str(params),
                                         "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "1 cases done, 0 failed" in result.output
    with open_warehouse(db, read_only=True) as con:
        codes = {r[0] for r in con.execute("SELECT code FROM features WHERE modality = 'mri'").fetchall()}
        defs = {r[0] for r in con.execute("SELECT code FROM feature_defs WHERE modality = 'mri'").fetchall()}
    assert "X_TUM_SER_firstorder_Skewness" in codes and "X_TSP_PE_glcm_Correlation" in codes
    assert codes <= defs and set(PAPER_CODES) <= codes
    png = tmp_path / "montage.png"
    result = runner.invoke(build_app(), ["mri", "inspect", "TCGA-S0-0001", "--manifest", manifest, "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "chosen (pre, early, late)" in result.output and png.stat().st_size > 5000
    bad = tmp_path / "bad.yaml"
    bad.write_text("n4_shrink: 0\n")
    result = runner.invoke(build_app(), ["extract-mri", manifest, "--params", str(bad), "--db", str(db)])
    assert isinstance(result.exception, ConfigError) and "bad.yaml is not valid: n4_shrink" in str(result.exception)


def test_icc_matches_shrout_and_fleiss() -> None:
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(3,1) = 0.71
    ratings = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    assert icc_3_1(ratings) == pytest.approx(0.71, abs=0.005)


def test_reduction_keeps_the_more_robust_of_correlated_features() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=30)
    values = pd.DataFrame({"A": a, "B": a + rng.normal(0, 0.05, 30), "C": rng.normal(size=30), "K": np.ones(30)})
    icc = pd.Series({"A": 0.80, "B": 0.95, "C": 0.5, "K": 1.0})
    decided = select(values, icc, 0.85).set_index("code")
    assert decided.loc["B", "kept"] and not decided.loc["A", "kept"] and decided.loc["C", "kept"]
    assert decided.loc["A", "dropped_for"] == "B" and decided.loc["A", "correlation"] > 0.85
    assert not decided.loc["K", "kept"] and "constant" in decided.loc["K", "reason"]
