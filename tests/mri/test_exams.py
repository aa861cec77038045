"""Whole exam folders through the manifest, `extract-mri` and `mri inspect` (issue 22 §1): the manifest's
`mri.study` / `mri.series` keys, the series read and skipped recorded in `mri_cases`, and features equal to
those of the intended visit's phases given alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import SimpleITK as sitk
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.cohort import load_manifest
from radpath.errors import ManifestError

from .dicom_data import TIMES, Visit, write_exam
from .helpers import image, phantom_arrays, write_nifti_case

ARRAYS = phantom_arrays()
ARRAYS["phases"] = [np.rint(phase) for phase in ARRAYS["phases"]]   # integers: NIfTI and DICOM store the same
SECOND = [phase * 1.5 + 7 for phase in ARRAYS["phases"]]
CLINICAL = "clinical:\n- path: clinical.csv\n  id_column: pid\n  columns:\n    age: age\n"


def _cohort(folder: Path, name: str, mri: str) -> Path:
    (folder / "clinical.csv").write_text("pid,age\nP1,50\nP2,60\n")
    manifest = folder / "manifest.yaml"
    manifest.write_text(f"name: {name}\nroot: .\n{CLINICAL}mri:\n  root: mri\n{mri}")
    return manifest


def _run(*args: str) -> str:
    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _features(db: Path, cohort: str) -> dict[str, dict[str, float]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT patient_id, code, value FROM features WHERE cohort = ? AND modality = 'mri'",
                           [cohort]).fetchall()
    out: dict[str, dict[str, float]] = {}
    for pid, code, value in rows:
        out.setdefault(pid, {})[code] = value
    return out


def test_whole_exam_folders_extract_the_chosen_visit_and_series(tmp_path: Path) -> None:
    """P1: a TCIA download of two visits (DCE in one series, PE1/SER maps, localiser, T2, breast SEG, a licence
    file); P2: a flat folder of one visit, a series per phase. `mri.study: last` takes P1's second visit; the
    features equal those of that visit's phases given as NIfTI, and differ from the first visit's."""
    exams = tmp_path / "exams"
    later, first = write_exam(exams / "mri" / "P1", [Visit("20020901", SECOND, "MRI BREAST POST NACT"),
                                                     Visit("20020315", ARRAYS["phases"])], breast=ARRAYS["breast"])
    (exams / "mri" / "P1" / "LICENSE").write_text("CC BY 3.0\n")
    (only,) = write_exam(exams / "mri" / "P2", [Visit("20110405", ARRAYS["phases"])], per_phase=True, tcia=False)
    for pid in ("P1", "P2"):
        sitk.WriteImage(image(ARRAYS["tumour"], dtype=np.uint8), str(exams / "mri" / pid / "mask.nii.gz"))
    manifest = _cohort(exams, "exams", "  mask: mask.nii.gz\n  study: last\n")
    reference = tmp_path / "reference"                    # the same phases as NIfTI, one cohort per visit
    for cohort, p1 in (("ref_last", SECOND), ("ref_first", ARRAYS["phases"])):
        arrays = dict(ARRAYS)
        write_nifti_case(reference / cohort / "mri" / "P1", dict(arrays, phases=p1), list(TIMES))
        write_nifti_case(reference / cohort / "mri" / "P2", arrays, list(TIMES))
    params = tmp_path / "p.yaml"
    params.write_text("extended: false\nfat_suppressed: false\n")
    db = tmp_path / "w.duckdb"
    for cohort_manifest in (manifest, _cohort(reference / "ref_last", "ref_last", ""),
                            _cohort(reference / "ref_first", "ref_first", "")):
        _run("ingest", str(cohort_manifest), "--db", str(db))
        output = _run("extract-mri", str(cohort_manifest), "--params", str(params), "--db", str(db))
        assert "2 cases done, 0 failed" in output
    got, want, other = (_features(db, c) for c in ("exams", "ref_last", "ref_first"))
    for pid in ("P1", "P2"):
        assert set(got[pid]) == set(want[pid])
        for code, value in want[pid].items():
            assert got[pid][code] == pytest.approx(value, rel=1e-9, abs=1e-12, nan_ok=True), (pid, code)
    moved = [code for code, value in other["P1"].items() if value != pytest.approx(want["P1"][code], rel=1e-6)]
    assert len(moved) >= 5                                # the first visit would have given other values
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT patient_id, study_uid, study_date, study_description, visit, n_visits, study_rule, series_rule, "
            "series, skipped_series, phase_split FROM mri_cases WHERE cohort = 'exams'").fetchall()}
    uid, date, description, visit, n_visits, study_rule, series_rule, series, skipped, split = rows["P1"]
    assert (uid, date, description) == (later.study_uid, "20020901", "MRI BREAST POST NACT")
    assert (visit, n_visits, study_rule, series_rule) == (2, 2, "last", "automatic")
    read = json.loads(series)
    assert [(s["uid"], s["number"], s["description"], s["date"], s["files"], s["time_points"]) for s in read] == [
        (later.series["dce"][0], 3, "Ax Vibrant MultiPhase", "20020901", 64, 4)]
    reasons = {(s.get("study_uid"), s.get("number")): s["reason"] for s in json.loads(skipped)}
    assert reasons[(later.study_uid, 800)] == "derived image (ImageType DERIVED\\PRIMARY\\DCE\\PE1)"
    assert reasons[(later.study_uid, 300)] == "segmentation (SEG)"
    assert reasons[(first.study_uid, 3)].startswith("another visit (1 of 2, study 2002-03-15")
    assert reasons[(None, None)] == "not a DICOM file" and split == "slice-position repetition"
    # provenance: the files read (the later visit's DCE and the mask), hashed here by hand; no folder-wide hashing
    case = exams / "mri" / "P1"
    read_files = sorted([*later.folders["dce"].glob("*.dcm"), case / "mask.nii.gz"])
    digest = hashlib.sha256()
    for path in read_files:
        digest.update(f"{path.relative_to(case)}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    with duckdb.connect(str(db), read_only=True) as con:
        files, sha = con.execute("SELECT input_files, input_sha256 FROM mri_cases WHERE patient_id = 'P1' AND "
                                 "cohort = 'exams'").fetchone()
        hashed = con.execute("SELECT input_hashes FROM runs WHERE command = 'extract-mri'").fetchall()
    assert (files, sha) == (65, digest.hexdigest())
    assert all(not name.endswith(".dcm") for (text,) in hashed for name in json.loads(text))
    p2 = rows["P2"]
    assert p2[3:7] == (1, 1, "last", "automatic") and p2[-1] == "series"
    assert [s["uid"] for s in json.loads(p2[7])] == only.series["dce"]


def test_mri_inspect_prints_the_study_and_series_read_and_skipped(tmp_path: Path) -> None:
    case = tmp_path / "UCSF-BR-08"
    write_exam(case, [Visit("20020315", ARRAYS["phases"]), Visit("20020901", SECOND, "MRI BREAST POST NACT")])
    sitk.WriteImage(image(ARRAYS["tumour"], dtype=np.uint8), str(case / "mask.nii.gz"))
    params = tmp_path / "p.yaml"
    params.write_text("extended: false\n")
    output = _run("mri", "inspect", str(case), "--png", str(tmp_path / "m.png"), "--params", str(params),
                  "--study", "2002-09-01")
    lines = output.splitlines()
    assert lines[0] == "case: UCSF-BR-08"
    assert lines[1].startswith("study: 2002-09-01 'MRI BREAST POST NACT', visit 2 of 2 (mri.study: 2002-09-01) uid ")
    assert lines[2] == "series read:"
    assert lines[3].startswith("  #3 'Ax Vibrant MultiPhase' (64 files, 4 time point(s), 2002-09-01 10:00) uid ")
    assert lines[4] == "series choice: automatic; phases split by slice-position repetition"
    assert "  #800 'image_dce_pe1' (16 files, 2002-09-01 10:00): derived image (ImageType DERIVED\\PRIMARY\\DCE\\PE1)" \
        in lines
    assert "  #1 '3 Plane Loc' (3 files, 2002-09-01 10:00): localiser (ImageType ORIGINAL\\PRIMARY\\LOCALIZER)" in lines
    assert any(line.startswith("  #3 'Ax Vibrant MultiPhase' (64 files, 2002-03-15 10:00): another visit (1 of 2")
               for line in lines)
    assert "phases: 4" in lines and "phase split: slice-position repetition" in lines


def test_manifest_keys_for_visits_and_series(tmp_path: Path) -> None:
    (tmp_path / "clinical.csv").write_text("pid,age\nP1,50\n")
    path = tmp_path / "m.yaml"
    path.write_text(f"name: m\n{CLINICAL}mri:\n  root: mri\n  study: 2002-09-01\n  series: 7\n")
    spec = load_manifest(path).manifest.mri
    assert spec is not None and (spec.study, spec.series) == ("2002-09-01", 7)       # YAML's date kept as text
    path.write_text(f"name: m\n{CLINICAL}mri:\n  root: mri\n")
    spec = load_manifest(path).manifest.mri
    assert spec is not None and (spec.study, spec.series) == ("first", None)
    path.write_text(f"name: m\n{CLINICAL}mri:\n  root: mri\n  visit: last\n")
    with pytest.raises(ManifestError, match=r"unknown key 'mri.visit'"):
        load_manifest(path)
    path.write_text(f"name: m\n{CLINICAL}mri:\n  root: mri\n  study: 0\n")
    with pytest.raises(ManifestError, match=r"mri.study: Value error, visits are numbered from 1"):
        load_manifest(path)
