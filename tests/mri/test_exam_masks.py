"""Issue 22's "done when": a manifest pointing at whole exam folders as they are downloaded (several series,
several visits, no tumour masks) extracts every case with an automatic FTV mask; the SEG files open with
highdicom over the series that was read; `mri inspect` shows what was chosen and the mask."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pydicom
import SimpleITK as sitk

from radpath.mri.io import read_dce, read_mask

from .dicom_data import Visit, write_exam
from .tumour_data import dice, mri_cohort, planted_exam, run_cli


def _four_phases(exam: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Phases at 0, 90, 240, 390 s (write_exam's times): effective early 165 s and late 465 s."""
    pre, early, late = exam["phases"]
    return [np.rint(p) for p in (pre, early, (early + late) / 2, late)]


def test_whole_exam_folders_without_masks_extract_with_automatic_ftv_masks(tmp_path: Path) -> None:
    exams = {"P1": planted_exam(1), "P2": planted_exam(2)}
    root = tmp_path / "cohort"
    # P1: TCIA layout, two visits (the first, pre-treatment, is read), PE1/SER maps, localiser, T2, breast SEG
    later = planted_exam(3)
    first, _ = write_exam(root / "mri" / "P1", [Visit("20020315", _four_phases(exams["P1"])),
                                                Visit("20020901", _four_phases(later), "MRI BREAST POST NACT")],
                          breast=exams["P1"]["breast"])
    # P2: one flat folder, a series per phase
    (only,) = write_exam(root / "mri" / "P2", [Visit("20110405", _four_phases(exams["P2"]))], per_phase=True,
                         tcia=False)
    manifest = mri_cohort(root, "downloads", ["P1", "P2"], "  root: mri\n  mask: auto-ftv\n")
    (tmp_path / "p.yaml").write_text("extended: false\n")
    db = tmp_path / "w.duckdb"
    run_cli("ingest", str(manifest), "--db", str(db))
    output = run_cli("extract-mri", str(manifest), "--db", str(db), "--params", str(tmp_path / "p.yaml"))
    assert "2 cases done, 0 failed" in output and "QC " not in output
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "SELECT patient_id, mask_source, mask_file, study_uid, series FROM mri_cases").fetchall()}
    import highdicom as hd

    for pid, visit in (("P1", first), ("P2", only)):
        source, mask_file, study_uid, series = rows[pid]
        assert source == "auto-ftv" and study_uid == visit.study_uid
        seg = hd.seg.segread(mask_file)
        read = json.loads(series)
        pre_series = read[0]["uid"]                                   # the pre-contrast phase's series
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == pre_series
        assert seg.StudyInstanceUID == visit.study_uid
        dce = read_dce(root / "mri" / pid)
        assert pydicom.dcmread(dce.phase_files[0][0], stop_before_pixels=True).SeriesInstanceUID == pre_series
        mask = sitk.GetArrayFromImage(read_mask(mask_file, dce.phases[0], pid)) > 0
        assert dice(mask, exams[pid]["tumour"]) >= 0.9
    shown = run_cli("mri", "inspect", "P1", "--manifest", str(manifest), "--params", str(tmp_path / "p.yaml"),
                 "--png", str(tmp_path / "p1.png"))
    assert "tumour mask: ('auto-ftv', 'auto-ftv: " in shown and "QC flags: none" in shown
