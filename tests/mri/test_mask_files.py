"""Automatic masks end to end (issue 22, section 2): `mri segment-tumour` writes NIfTI and a DICOM SEG that references
its series and reads back voxel for voxel; `extract-mri` with `mri.mask: auto-ftv` records the source and the file;
a corrected SEG given back is the case's mask; `--tumour-mask` fills in cases whose mask file is absent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from scipy import ndimage
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.mri.io import read_dce, read_mask
from radpath.mri.mask_files import write_seg
from radpath.report.tables import TABLES
from radpath.synth.mri import Protocol, write_dicom

from .tumour_data import SPACING, TIMES, dice, mri_cohort, planted_exam, run_cli

CASES = {"P0": True, "P1": False}                  # one series holding every phase | one series per phase


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two DICOM exams with planted tumours; P0 also has a drawn mask (the planted one) as mask.nii.gz."""
    root = tmp_path_factory.mktemp("automask")
    for k, (pid, one_series) in enumerate(CASES.items()):
        exam = planted_exam(k)
        nz, ny, nx = exam["tumour"].shape
        write_dicom(exam["phases"], Protocol(tuple(TIMES), SPACING, "GE MEDICAL SYSTEMS", 1.0, (nx, ny, nz)),
                    root / "mri" / pid / "dicom", pid, one_series=one_series)
        np.save(root / f"{pid}_truth.npy", exam["tumour"])
    pre = read_dce(root / "mri" / "P0").phases[0]
    mask = sitk.GetImageFromArray(np.load(root / "P0_truth.npy").astype(np.uint8))
    mask.CopyInformation(pre)
    sitk.WriteImage(mask, str(root / "mri" / "P0" / "mask.nii.gz"))
    (root / "clinical.csv").write_text("pid,age\nP0,50\nP1,61\n")      # the cohort manifests: `manifest`
    (root / "params.yaml").write_text("extended: false\n")
    return root


def manifest(root: Path, name: str, mask: str) -> Path:
    return mri_cohort(root, name, list(CASES), f"  root: mri\n  mask: {mask}\n")


run = run_cli


def test_segment_tumour_writes_a_seg_that_reads_back_voxel_for_voxel(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks"
    output = run("mri", "segment-tumour", str(manifest(cohort, "seg_only", "auto-ftv")), "--method", "auto-ftv",
                 "--out", str(out), "--db", str(tmp_path / "none.duckdb"), "--params", str(cohort / "params.yaml"))
    assert f"2 tumour masks written to {out}, 0 failed" in output
    import highdicom as hd

    for pid in CASES:
        nifti, seg_path = out / pid / "tumour_auto-ftv.nii.gz", out / pid / "tumour_auto-ftv.seg.dcm"
        dce = read_dce(cohort / "mri" / pid)
        pre, slices = dce.phases[0], dce.phase_files[0]
        seg = hd.seg.segread(str(seg_path))
        assert seg.SegmentationType == "BINARY" and int(seg.NumberOfFrames) == len(slices)
        source = pydicom.dcmread(slices[0], stop_before_pixels=True)
        assert seg.StudyInstanceUID == source.StudyInstanceUID
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
        instances = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        referenced = {item.ReferencedSOPInstanceUID for item in instances}
        assert referenced == {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in slices}
        from_seg = sitk.GetArrayFromImage(read_mask(seg_path, pre, pid)) > 0
        from_nifti = sitk.GetArrayFromImage(read_mask(nifti, pre, pid)) > 0
        np.testing.assert_array_equal(from_seg, from_nifti)
        assert dice(from_seg, np.load(cohort / f"{pid}_truth.npy")) >= 0.9
        assert f"  {pid}: " in output and str(seg_path) in output


def test_extract_with_automatic_masks_then_a_corrected_seg_given_back(cohort: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    auto = manifest(cohort, "automask", "auto-ftv")
    run("ingest", str(auto), "--db", str(db))
    output = run("extract-mri", str(auto), "--db", str(db), "--params", str(cohort / "params.yaml"))
    assert "2 cases done, 0 failed" in output and "QC " not in output
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT patient_id, mask_source, mask_voi, mask_file, tumour_cm3, qc_flags, mask_note "
                           "FROM mri_cases ORDER BY 1").fetchall()
        m1 = dict(con.execute("SELECT patient_id, value FROM features WHERE code = 'M1'").fetchall())
        notes = next(t for t in TABLES if t.name == "table1_features").build(con, None).footnotes
    assert "MRI tumour masks, cohort automask: 0 given, 2 automatic (auto-ftv: 2)." in notes
    voxel_cm3 = float(np.prod(SPACING)) / 1000.0
    for pid, source, voi, mask_file, cm3, flags, note in rows:
        truth = np.load(cohort / f"{pid}_truth.npy")
        assert (source, voi, json.loads(flags)) == ("auto-ftv", "breast region", [])
        assert mask_file == str(tmp_path / "mri_masks" / "automask" / pid / "tumour_auto-ftv.seg.dcm")
        assert Path(mask_file).exists() and note.startswith("auto-ftv: ")
        assert cm3 == pytest.approx(truth.sum() * voxel_cm3, rel=0.05)
        assert m1[pid] == pytest.approx(truth.sum() * voxel_cm3, rel=0.1)     # mesh volume of the mask at 1 mm
    # a radiologist's correction (here: the automatic mask grown by one voxel), given back as the case's mask
    first = Path(rows[0][3])
    dce = read_dce(cohort / "mri" / "P0")
    corrected = ndimage.binary_dilation(sitk.GetArrayFromImage(read_mask(first, dce.phases[0], "P0")) > 0)
    case_copy = tmp_path / "given" / "mri"
    shutil.copytree(cohort / "mri", case_copy)
    for name in ("clinical.csv", "params.yaml"):
        shutil.copy(cohort / name, tmp_path / "given" / name)
    write_seg(corrected, dce.phase_files[0], case_copy / "P0" / "tumour_corrected.seg.dcm", "auto-ftv")
    given = manifest(tmp_path / "given", "automask", "tumour_corrected.seg.dcm")
    output = run("extract-mri", str(given), "--db", str(db), "--case", "P0",
                 "--params", str(tmp_path / "given" / "params.yaml"))
    assert "1 cases done" in output
    with duckdb.connect(str(db), read_only=True) as con:
        source, cm3 = con.execute("SELECT mask_source, tumour_cm3 FROM mri_cases WHERE patient_id = 'P0'").fetchone()
    assert source == "given" and cm3 == pytest.approx(corrected.sum() * voxel_cm3, rel=1e-6)


def test_tumour_mask_option_fills_in_absent_mask_files(cohort: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    drawn = manifest(cohort, "drawn", "mask.nii.gz")
    run("ingest", str(drawn), "--db", str(db))
    result = CliRunner().invoke(build_app(), ["extract-mri", str(drawn), "--db", str(db),
                                              "--params", str(cohort / "params.yaml")])
    assert result.exit_code == 1  # a case failed (issue 23 §5)
    assert "failed case P1, file " in result.output and "mask.nii.gz: tumour mask does not exist" in result.output
    output = run("extract-mri", str(drawn), "--db", str(db), "--params", str(cohort / "params.yaml"),
                 "--tumour-mask", "auto-fcm", "--masks-dir", str(tmp_path / "review"))
    assert "2 cases done, 0 failed" in output
    with duckdb.connect(str(db), read_only=True) as con:
        sources = dict(con.execute("SELECT patient_id, mask_source FROM mri_cases").fetchall())
        params = con.execute("SELECT params FROM run_log ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    assert sources == {"P0": "given", "P1": "auto-fcm"}
    assert json.loads(params)["tumour_mask"] == "auto-fcm"
    assert (tmp_path / "review" / "P1" / "tumour_auto-fcm.seg.dcm").exists()
    assert not (tmp_path / "review" / "P0").exists()
    bad = CliRunner().invoke(build_app(), ["extract-mri", str(drawn), "--db", str(db), "--tumour-mask", "auto"])
    assert bad.exit_code != 0 and "expected one of auto-ftv, auto-fcm" in bad.output


def test_a_seg_that_cannot_be_written_leaves_the_nifti_and_says_why(cohort: Path, tmp_path: Path) -> None:
    from radpath.mri.mask_files import write_mask

    dce = read_dce(cohort / "mri" / "P1")
    mask = sitk.GetImageFromArray(np.load(cohort / "P1_truth.npy").astype(np.uint8))
    mask.CopyInformation(dce.phases[0])
    written = write_mask(tmp_path / "P1", "P1", "auto-ftv", mask, dce.phase_files[0][:-1])    # one slice short
    assert written.nifti.exists() and written.seg is None
    assert written.seg_error is not None and "does not match the 27 source slices" in written.seg_error
