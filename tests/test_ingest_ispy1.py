"""The real TCIA I-SPY 1 clinical and outcome spreadsheet ingests through the shipped manifest.

Expected counts are read from the spreadsheet independently with openpyxl (not with radpath's reader).
Data: data/ispy1/ (TCIA, CC BY 3.0; see data/ispy1/README.md).
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import yaml

from radpath.ingest import ingest_manifest

REPO = Path(__file__).resolve().parents[1]
SHEET = REPO / "data" / "ispy1" / "I-SPY_1_All_Patient_Clinical_and_Outcome_Data.xlsx"
CATEGORY = {1: "HR+/HER2-", 2: "HER2+", 3: "TNBC"}


def _rows(sheet: str) -> list[dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl: "Unknown extension is not supported"
        book = openpyxl.load_workbook(SHEET, read_only=True, data_only=True)
        rows = list(book[sheet].iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:] if row[0] is not None]


@pytest.fixture
def ispy_manifest(tmp_path: Path) -> Path:
    """The shipped manifest with the real spreadsheet only (no MRI or microarray downloads here)."""
    data = yaml.safe_load((REPO / "cohorts" / "ispy1.yaml").read_text())
    data["root"] = str(SHEET.parent)
    for source in ("mri", "expression"):
        data.pop(source)
    data["inclusion"] = [c for c in data["inclusion"] if c["kind"] != "source_present"]
    path = tmp_path / "ispy1.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_real_ispy1_sheet_ingests(con, ispy_manifest: Path) -> None:
    predictors, outcomes = _rows("predictors"), _rows("outcomes")
    data = ingest_manifest(con, ispy_manifest)

    assert len(predictors) == 221
    assert con.execute("SELECT count(*) FROM patients WHERE cohort = 'ispy1'").fetchone()[0] == 221
    rfs = [r for r in outcomes if r["RFS"] is not None and r["rfs_ind"] is not None]
    got = con.execute("SELECT count(*), sum(event) FROM outcomes WHERE endpoint = 'rfs'").fetchone()
    assert got == (len(rfs), sum(int(r["rfs_ind"]) for r in rfs))
    deaths = sum(1 for r in outcomes if r["sstat"] == 8)
    assert con.execute("SELECT sum(event) FROM outcomes WHERE endpoint = 'os'").fetchone()[0] == deaths

    expected = Counter(CATEGORY.get(r["HR_HER2_CATEGORY"]) for r in predictors)
    found = Counter(dict(con.execute("SELECT subtype, count(*) FROM clinical GROUP BY ALL").fetchall()))
    assert found == expected
    # included = has RFS (the only criterion without MRI/microarray downloads)
    assert int(data.patients["included"].sum()) == len(rfs)
    er = Counter({1: "positive", 0: "negative"}.get(r["ERpos"]) for r in predictors)
    assert dict(con.execute("SELECT er, count(*) FROM clinical GROUP BY ALL").fetchall()) == dict(er)
    first = con.execute("SELECT age, er, pr, her2, subtype FROM clinical WHERE patient_id = 'ISPY1_1001'").fetchone()
    assert first == (38.73, "positive", "negative", "negative", "HR+/HER2-")


def test_shipped_manifests_load() -> None:
    from radpath.cohort import load_manifest

    roles = {path.stem: load_manifest(path).manifest.role for path in sorted((REPO / "cohorts").glob("*.yaml"))}
    assert roles == {"ispy1": "validation", "tcga_brca": "training"}


def test_shipped_manifest_as_is_ingests_the_sheet_and_reports_absent_sources(con) -> None:
    """A fresh clone has the sheet but no MRI or GEO download: 221 patients and their outcomes load, and the
    absent sources are reported and counted by the criteria that need them (#15.6)."""
    outcomes = _rows("outcomes")
    data = ingest_manifest(con, REPO / "cohorts" / "ispy1.yaml")
    assert len(data.patients) == 221
    assert set(data.absent) == {"mri", "expression"}
    assert data.absent["expression"].name == "GSE22226-GPL1708_series_matrix.txt.gz"
    rfs = [r for r in outcomes if r["RFS"] is not None and r["rfs_ind"] is not None]
    assert con.execute("SELECT count(*) FROM outcomes WHERE endpoint = 'rfs'").fetchone()[0] == len(rfs)
    flow = con.execute("SELECT step, criterion, n_before, n_excluded, exclusion_reason FROM inclusion_flow "
                       "ORDER BY step").fetchall()
    assert flow[:2] == [(0, "patients in the clinical table", 221, 0, None),
                        (1, "pre-treatment DCE-MRI present", 221, 221, "no pre-treatment DCE-MRI")]
    assert con.execute("SELECT count(*) FROM patients WHERE included").fetchone() == (0,)
    # the warehouse stores why each patient was excluded, as a reason (not the criterion's text)
    reasons = con.execute("SELECT DISTINCT exclusion_reason FROM patients").fetchall()
    assert reasons == [("no pre-treatment DCE-MRI",)]


def test_a_source_that_is_present_but_unreadable_stays_an_error(con, tmp_path: Path) -> None:
    from radpath.errors import IngestError

    data = yaml.safe_load((REPO / "cohorts" / "ispy1.yaml").read_text())
    data["root"] = str(SHEET.parent)
    broken = tmp_path / "GSE22226-GPL1708_series_matrix.txt.gz"
    broken.write_bytes(b"not gzip at all")
    data["expression"]["path"] = str(broken)
    data["inclusion"] = [c for c in data["inclusion"] if c.get("source") != "mri"]
    manifest = tmp_path / "ispy1.yaml"
    manifest.write_text(yaml.safe_dump(data))
    with pytest.raises(IngestError, match="cohort ispy1"):
        ingest_manifest(con, manifest)
