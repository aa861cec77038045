"""`radpath cytolytic` end to end on the synthetic study: scores follow the planted truth, one run writes
features and tables together, harmonisation maps the validation cohort onto the training cohort."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.errors import GenomicsError
from radpath.genomics.pipeline import run_cytolytic
from radpath.synth.study import Study
from radpath.synth.truth import TRAIN, VALID


def features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    frame = con.execute("SELECT cohort, patient_id, code, value FROM features WHERE modality = 'genomics'").df()
    return frame.pivot_table(index=["cohort", "patient_id"], columns="code", values="value").reset_index()


def test_scores_follow_truth(genomics_study: Study, truth: pd.DataFrame, ingested: duckdb.DuckDBPyConnection) -> None:
    result = run_cytolytic(ingested, list(genomics_study.manifests.values()))
    wide = features(ingested).merge(truth, on=["cohort", "patient_id"])
    train = wide[wide["cohort"] == TRAIN]
    scored = train.dropna(subset=["CYT"])
    # TCGA: log2 CYT equals the planted cyt_log2 (TPM written with 4 decimals, 0.01 offset)
    np.testing.assert_allclose(scored["CYT_log2"], scored["cyt_log2"], atol=1e-3)
    np.testing.assert_allclose(np.log2(scored["CYT"]), scored["CYT_log2"], atol=1e-12)
    assert set(scored["patient_id"]) == set(truth.query("cohort == @TRAIN and has_expression")["patient_id"])
    assert (train["TMB_count"] == train["tmb"]).all()
    np.testing.assert_allclose(train["TMB"], train["tmb"] / 38.0)
    # I-SPY, not harmonised: log2 array scale = 1.5 + 0.8 * truth
    valid = wide[wide["cohort"] == VALID].dropna(subset=["CYT_log2"])
    np.testing.assert_allclose(valid["CYT_log2"], 1.5 + 0.8 * valid["cyt_log2"], atol=1e-4)
    assert valid["TMB"].isna().all() if "TMB" in valid else True
    runs = ingested.execute("SELECT DISTINCT run_id FROM features WHERE modality = 'genomics'").fetchall()
    assert runs == [(result.run_id,)]
    status = ingested.execute("SELECT status FROM runs WHERE run_id = ?", [result.run_id]).fetchone()
    assert status == ("ok",)
    # the sample rule: normals never chosen; the patient with two tumour vials keeps 01A
    samples = ingested.execute("SELECT * FROM genomics_samples WHERE source = 'expression'").df()
    assert not samples.loc[samples["selected"], "sample_id"].str.endswith("-11A").any()
    assert samples["note"].str.startswith("duplicate: ").sum() == 1
    summary = result.summary.set_index("cohort")
    assert summary.loc[TRAIN, "unmatched_patients"] == 0
    scale = ingested.execute("SELECT DISTINCT cohort, scale FROM cytolytic_scores ORDER BY 1").fetchall()
    assert scale == [(VALID, "log2"), (TRAIN, "linear")]


def test_harmonised_validation_lands_on_training_scale(
    genomics_study: Study, truth: pd.DataFrame, ingested: duckdb.DuckDBPyConnection
) -> None:
    manifests = list(genomics_study.manifests.values())
    plain = run_cytolytic(ingested, manifests)
    before = features(ingested).set_index(["cohort", "patient_id"])
    result = run_cytolytic(ingested, manifests, harmonize=True, reference=TRAIN, covariates=["subtype"])
    after = features(ingested).set_index(["cohort", "patient_id"])
    assert plain.run_id != result.run_id and result.fit is not None
    # the reference cohort is unchanged
    np.testing.assert_allclose(after.loc[TRAIN, "CYT"].dropna(), before.loc[TRAIN, "CYT"].dropna(), rtol=1e-9)
    valid = after.loc[VALID].join(truth.set_index("patient_id")["cyt_log2"]).dropna(subset=["CYT_log2"])
    assert np.corrcoef(valid["CYT_log2"], valid["cyt_log2"])[0, 1] > 0.99
    assert np.abs(valid["CYT_log2"] - valid["cyt_log2"]).mean() < 0.35
    params = ingested.execute(
        "SELECT batch, count(*) n, max(abs(gamma_star)) g, max(abs(delta_star - 1)) d FROM combat_parameters "
        "WHERE run_id = ? GROUP BY batch ORDER BY batch", [result.run_id]).fetchall()
    assert [p[0] for p in params] == [VALID, TRAIN] and params[1][2:] == (0.0, 0.0)
    assert ingested.execute("SELECT count(DISTINCT term) FROM combat_covariates").fetchone() == (2,)
    assert ingested.execute("SELECT bool_and(harmonized) FROM cytolytic_scores").fetchone() == (True,)


def test_unmatched_and_uningested(genomics_study: Study, ingested: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    with pytest.raises(GenomicsError, match="--reference only applies with --harmonize"):
        run_cytolytic(ingested, [genomics_study.manifests[TRAIN]], reference=TRAIN)
    with pytest.raises(GenomicsError, match="needs at least two cohorts"):
        run_cytolytic(ingested, [genomics_study.manifests[TRAIN]], harmonize=True)
    ingested.execute("DELETE FROM patient_registry WHERE cohort = ? AND patient_id LIKE '%1'", [VALID])
    result = run_cytolytic(ingested, [genomics_study.manifests[VALID]])
    summary = result.summary.set_index("cohort")
    assert summary.loc[VALID, "unmatched_patients"] > 0
    assert summary.loc[VALID, "cyt_patients"] + summary.loc[VALID, "unmatched_patients"] == \
        summary.loc[VALID, "expression_samples"]
    ingested.execute("DELETE FROM patient_registry WHERE cohort = ? AND patient_id LIKE 'ISPY1_%'", [VALID])
    ingested.execute("INSERT INTO patient_registry VALUES (?, 'ISPY1_9999', true, NULL, NULL, 'x')", [VALID])
    with pytest.raises(GenomicsError, match=r"series_matrix.txt.gz: none of its \d+ samples match a patient"):
        run_cytolytic(ingested, [genomics_study.manifests[VALID]])
    ingested.execute("DELETE FROM patient_registry WHERE cohort = ?", [VALID])
    with pytest.raises(GenomicsError, match="cohort ispy1 is not in the warehouse"):
        run_cytolytic(ingested, [genomics_study.manifests[VALID]])


def test_cli(genomics_study: Study, ingested: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    row = ingested.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    assert row is not None
    db = str(row[0])
    ingested.close()
    runner = CliRunner()
    app = build_app()
    out = runner.invoke(app, ["genomics", "inspect", str(genomics_study.manifests[VALID])])
    assert out.exit_code == 0, out.output
    assert "log2 (declared)" in out.output and "GZMA, PRF1" in out.output
    manifests = [str(m) for m in genomics_study.manifests.values()]
    out = runner.invoke(app, ["cytolytic", *manifests, "--harmonize", "--reference", TRAIN, "--db", db])
    assert out.exit_code == 0, out.output
    assert "ComBat on 300 genes" in out.output
    out = runner.invoke(app, ["cytolytic", *manifests, "--reference", "nope", "--db", db])
    # radpath.cli.app.main turns RadpathError into one line and exit 2; build_app leaves the exception
    assert isinstance(out.exception, GenomicsError)
    assert "reference cohort 'nope' is not among" in str(out.exception)
