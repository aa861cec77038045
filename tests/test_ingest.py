"""Ingest of the synthetic study: inclusion flow, replacement on re-ingest, PHI never stored."""

from __future__ import annotations

import pandas as pd

from radpath.ingest import ingest_manifest
from radpath.synth.truth import TRAIN, VALID


def _truth(study) -> pd.DataFrame:
    return pd.read_csv(study.truth_path)


def test_training_cohort_matches_the_truth(con, table_study) -> None:
    truth = _truth(table_study).query("cohort == @TRAIN").set_index("patient_id")
    ingest_manifest(con, table_study.manifests[TRAIN])
    patients = con.execute("SELECT patient_id, included, exclusion_reason FROM patients").df().set_index("patient_id")
    assert len(patients) == len(truth)
    # tables-only study: the only criterion left is histology (invasive carcinoma)
    assert patients["included"].sum() == truth["invasive"].sum()
    # the reason a patient was excluded, not the criterion it failed
    assert set(patients.loc[~patients["included"], "exclusion_reason"]) == {"not invasive carcinoma"}
    clinical = con.execute("SELECT * FROM clinical").df().set_index("patient_id").loc[truth.index]
    for column in ("er", "pr", "her2", "subtype", "t_stage", "n_stage", "m_stage", "stage", "pam50"):
        assert (clinical[column] == truth[column]).all(), column
    assert (clinical["age"] == truth["age"].astype(int)).all()  # GDC age_at_index is whole years
    expected_histology = truth["histology"]
    assert (clinical["histology"] == expected_histology).all()
    til = con.execute("SELECT patient_id, stromal_til_pct, til_category FROM til").df().set_index("patient_id")
    assert (til.loc[truth.index, "stromal_til_pct"] == truth["til_pct"]).all()
    assert (til.loc[truth.index, "til_category"] == truth["til_category"]).all()
    flow = con.execute("SELECT step, n_before, n_excluded, n_after, exclusion_reason FROM inclusion_flow "
                       "ORDER BY step").fetchall()
    n = len(truth)
    assert flow == [(0, n, 0, n, None), (1, n, n - truth["invasive"].sum(), truth["invasive"].sum(),
                                         "not invasive carcinoma")]


def test_validation_cohort_outcomes_match_the_truth(con, table_study) -> None:
    truth = _truth(table_study).query("cohort == @VALID").set_index("patient_id")
    ingest_manifest(con, table_study.manifests[VALID])
    rfs = con.execute("SELECT patient_id, time_days, event FROM outcomes WHERE endpoint = 'rfs'").df()
    rfs = rfs.set_index("patient_id")
    with_outcome = truth[truth["has_outcome"]]
    assert sorted(rfs.index) == sorted(with_outcome.index)
    assert (rfs.loc[with_outcome.index, "time_days"] == with_outcome["rfs_days"]).all()
    assert (rfs.loc[with_outcome.index, "event"] == with_outcome["rfs_event"]).all()
    included = con.execute("SELECT count(*) FROM patients WHERE included").fetchone()[0]
    assert included == truth["has_outcome"].sum()
    subtypes = dict(con.execute("SELECT subtype, count(*) FROM clinical GROUP BY 1").fetchall())
    assert subtypes == truth["subtype"].value_counts().to_dict()


def test_reingest_replaces_rows_and_records_a_second_run(con, table_study) -> None:
    manifest = table_study.manifests[TRAIN]
    ingest_manifest(con, manifest)
    tables = ["patient_registry", "clinical", "til_readings", "inclusion_flow", "cohort_registry"]
    before = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    ingest_manifest(con, manifest)
    after = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    assert before == after
    assert con.execute("SELECT count(*) FROM runs WHERE command = 'ingest' AND status = 'ok'").fetchone()[0] == 2
    assert con.execute("SELECT count(DISTINCT run_id) FROM clinical").fetchone()[0] == 1
    run = con.execute("SELECT params, input_hashes FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()
    assert "manifest_sha256" in run[0] and "clinical.tsv" in run[1]


def test_two_cohorts_live_side_by_side(con, table_study) -> None:
    ingest_manifest(con, table_study.manifests[TRAIN])
    ingest_manifest(con, table_study.manifests[VALID])
    roles = dict(con.execute("SELECT cohort, role FROM cohorts").fetchall())
    assert roles == {TRAIN: "training", VALID: "validation"}


def test_no_identifying_columns_are_stored(con, table_study) -> None:
    """The synthetic sources carry days_to_birth, birth_days_to, case uuids and form dates, as real ones do."""
    ingest_manifest(con, table_study.manifests[TRAIN])
    ingest_manifest(con, table_study.manifests[VALID])
    columns = {row[0] for row in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
    for phi in ("days_to_birth", "birth_days_to", "bcr_patient_uuid", "form_completion_date", "gender",
                "race_id", "DataExtractDt"):
        assert phi not in columns
    source = pd.read_csv(table_study.manifests[TRAIN].parent / "clinical" / "clinical.tsv", sep="\t", dtype=str)
    birth = set(source["days_to_birth"])
    uuids = set(source["case_id"])
    text_columns = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE data_type = 'VARCHAR' AND table_name NOT IN ('run_log', 'runs')"
    ).fetchall()
    for table, column in text_columns:
        values = {r[0] for r in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall()}
        assert not values & (birth | uuids), (table, column)


def test_exclusion_reasons_read_as_reasons() -> None:
    """A criterion's label says what an included patient has; the stored reason says what an excluded one lacks
    (`exclusion` in the manifest overrides the wording)."""
    from radpath.cohort import Criterion

    def reason(label: str, **extra: object) -> str:
        return Criterion(label=label, kind="source_present", source="mri", **extra).reason

    assert reason("pre-treatment DCE-MRI present") == "no pre-treatment DCE-MRI"
    assert reason("recurrence-free survival available") == "no recurrence-free survival"
    assert reason("ER status known") == "ER status unknown"
    assert reason("invasive carcinoma") == "not invasive carcinoma"
    assert reason("DCE-MRI present", exclusion="MRI after neoadjuvant therapy") == "MRI after neoadjuvant therapy"
