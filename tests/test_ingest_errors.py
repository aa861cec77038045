"""Bad inputs: each gets a clear error naming file, row and column, and the warehouse stays as it was."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest
import yaml

from radpath.cohort import load_manifest
from radpath.errors import IngestError, ManifestError
from radpath.ingest import ingest_manifest
from radpath.synth.truth import TRAIN, VALID


@pytest.fixture
def tcga(tmp_path: Path, table_study) -> Path:
    """A private copy of the synthetic training cohort folder (manifest.yaml inside)."""
    folder = tmp_path / TRAIN
    shutil.copytree(table_study.manifests[TRAIN].parent, folder)
    return folder


@pytest.fixture
def ispy(tmp_path: Path, table_study) -> Path:
    folder = tmp_path / VALID
    shutil.copytree(table_study.manifests[VALID].parent, folder)
    return folder


def _edit_tsv(path: Path, edit, sep: str = "\t") -> None:
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    edit(frame)
    frame.to_csv(path, sep=sep, index=False)


def _edit_sheet(path: Path, sheet: str, edit) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sheets = pd.read_excel(path, sheet_name=None)
    edit(sheets[sheet])
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)


def test_missing_file(con, tcga: Path) -> None:
    (tcga / "clinical" / "pam50.tsv").unlink()
    with pytest.raises(IngestError, match=r"cohort tcga_brca: source file .*clinical/pam50.tsv does not exist"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_wrong_column_name(con, tcga: Path) -> None:
    _edit_tsv(tcga / "clinical" / "clinical.tsv", lambda f: f.rename(columns={"age_at_index": "age"}, inplace=True))
    with pytest.raises(IngestError, match=r"clinical.tsv: no column 'age_at_index'; the file has columns .*\bage\b"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_conflicting_duplicate_patient_id(con, tcga: Path) -> None:
    def duplicate(frame: pd.DataFrame) -> None:
        frame.loc[len(frame)] = [frame.at[0, "patient"], "Basal" if frame.at[0, "pam50"] != "Basal" else "LumA"]

    _edit_tsv(tcga / "clinical" / "pam50.tsv", duplicate)
    with pytest.raises(IngestError, match=r"pam50.tsv: duplicate patient id TCGA-S0-0001 \(column 'patient'\) "
                                          r"in rows 2 and \d+ with different values in column 'pam50'"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_unparseable_number(con, tcga: Path) -> None:
    def bad_age(frame: pd.DataFrame) -> None:
        frame.loc[frame["case_submitter_id"] == "TCGA-S0-0003", "age_at_index"] = "forty"

    _edit_tsv(tcga / "clinical" / "clinical.tsv", bad_age)
    with pytest.raises(IngestError, match=r"clinical.tsv: row \d+, column 'age_at_index' \(age\): "
                                          r"expected an age in years, found 'forty'"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_unknown_receptor_status(con, tcga: Path) -> None:
    path = tcga / "clinical" / "nationwidechildrens.org_clinical_patient_brca.txt"
    _edit_tsv(path, lambda f: f.__setitem__("er_status_by_ihc", f["er_status_by_ihc"].where(f.index != 5, "Maybe")))
    # data row 6 is line 7 of the file (header + two CDE rows precede the patients)
    with pytest.raises(IngestError, match=r"row 7, column 'er_status_by_ihc' \(er\): expected a receptor status"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_til_out_of_range(con, tcga: Path) -> None:
    _edit_tsv(tcga / "pathology" / "til_readings.csv",
              lambda f: f.__setitem__("stromal_til_pct", f["stromal_til_pct"].where(f.index != 3, "130")), sep=",")
    with pytest.raises(IngestError, match=r"til_readings.csv: row 5, column 'stromal_til_pct': "
                                          r"stromal TILs must be 0-100 %, found 130"):
        ingest_manifest(con, tcga / "manifest.yaml")


def test_unparseable_time_in_outcomes(con, ispy: Path) -> None:
    sheet = ispy / "I-SPY_1_All_Patient_Clinical_and_Outcome_Data.xlsx"

    def date_for_days(frame: pd.DataFrame) -> None:
        frame["RFS"] = frame["RFS"].astype(object)
        frame.loc[2, "RFS"] = "2009-05-01"

    _edit_sheet(sheet, "outcomes", date_for_days)
    with pytest.raises(IngestError, match=r"row 4, column 'RFS': expected a time in days, found '2009-05-01"):
        ingest_manifest(con, ispy / "manifest.yaml")


def test_negative_time_and_unknown_event_code(con, ispy: Path) -> None:
    sheet = ispy / "I-SPY_1_All_Patient_Clinical_and_Outcome_Data.xlsx"
    _edit_sheet(sheet, "outcomes", lambda f: f.__setitem__("sstat", f["sstat"].where(f.index != 0, 5)))
    with pytest.raises(IngestError, match=r"row 2, column 'sstat': event code '5' is not one of \['7', '8', '9'\]"):
        ingest_manifest(con, ispy / "manifest.yaml")
    _edit_sheet(sheet, "outcomes", lambda f: f.__setitem__("sstat", 7))
    _edit_sheet(sheet, "outcomes", lambda f: f.__setitem__("RFS", f["RFS"].where(f.index != 1, -3)))
    with pytest.raises(IngestError, match=r"row 3, column 'RFS': negative time -3"):
        ingest_manifest(con, ispy / "manifest.yaml")


def test_manifest_with_unknown_key(tcga: Path) -> None:
    path = tcga / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data["slide"] = {"root": "slides"}
    data["clinical"][0]["colums"] = {}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError, match=r"manifest .* is not valid: .*unknown key 'clinical.0.colums'.*"
                                            r"unknown key 'slide'"):
        load_manifest(path)


def test_manifest_with_absolute_path_that_does_not_exist(tcga: Path) -> None:
    path = tcga / "manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data["clinical"][0]["path"] = "/nonexistent/clinical.tsv"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ManifestError, match="absolute path /nonexistent/clinical.tsv does not exist"):
        load_manifest(path)


def test_missing_manifest_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)


def test_failed_ingest_leaves_the_warehouse_as_it_was(con, tcga: Path) -> None:
    ingest_manifest(con, tcga / "manifest.yaml")
    snapshot = {
        t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
        for t in ("patient_registry", "clinical", "til_readings", "inclusion_flow", "cohort_registry", "run_log")
    }
    _edit_tsv(tcga / "pathology" / "til_readings.csv",
              lambda f: f.__setitem__("stromal_til_pct", f["stromal_til_pct"].where(f.index != 0, "-4")), sep=",")
    with pytest.raises(IngestError, match="0-100"):
        ingest_manifest(con, tcga / "manifest.yaml")
    for table, rows in snapshot.items():
        assert con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall() == rows, table
