"""Real-data quirks of DCE-MRI (issue 15, items 1-5), each on data made here with the same property."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radpath.errors import MRIError
from radpath.files import walk_files
from radpath.mri.io import read_dce, read_mask
from radpath.synth.mri import Protocol, write_dicom

from .dicom_data import fractional_seg, ge_one_series
from .helpers import image, phantom_arrays

TIMES = [0.0, 90.0, 240.0, 390.0]


# ---------------------------------------------------------------- item 1: phases of one series


def test_phases_whose_times_straddle_a_second_split_by_slice_repetition(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    ge_one_series(arrays["phases"], tmp_path / "GE1" / "dicom", TIMES)
    dce = read_dce(tmp_path / "GE1")
    assert dce.meta["split_by"] == "slice-position repetition"
    assert len(dce.phases) == 4 and dce.times_s == pytest.approx(TIMES)     # pre: earliest slice (hh:mm:03)
    assert dce.meta["time_source"] == "ContentTime"
    for k in range(4):
        np.testing.assert_allclose(sitk.GetArrayFromImage(dce.phases[k]), np.rint(arrays["phases"][k]))


def _interleave(folder: Path, n_slices: int, n_phases: int) -> None:
    """Instance numbers slice by slice (all phases of slice 0, then of slice 1, ...): positions do not repeat."""
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        phase, index = divmod(int(ds.InstanceNumber) - 1, n_slices)
        ds.InstanceNumber = index * n_phases + phase + 1
        ds.save_as(path)


def test_interleaved_slices_split_by_time_clusters_with_a_tolerance(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    folder = ge_one_series(arrays["phases"], tmp_path / "GE2" / "dicom", TIMES)
    _interleave(folder, 16, 4)
    dce = read_dce(tmp_path / "GE2")
    assert dce.meta["split_by"] == "time clustering (tolerance 10 s)"
    assert dce.times_s == pytest.approx(TIMES)
    np.testing.assert_allclose(sitk.GetArrayFromImage(dce.phases[2]), np.rint(arrays["phases"][2]))


def test_a_phase_without_its_full_slice_set_is_named(tmp_path: Path) -> None:
    folder = ge_one_series(phantom_arrays()["phases"], tmp_path / "GE3" / "dicom", TIMES)
    (folder / "IM00040.dcm").unlink()                   # slice 8 of phase 2 (instances 33..48)
    with pytest.raises(MRIError, match=r"case GE3, file .*: phase 2 \(split by time clustering \(tolerance 10 s\)\) "
                                       r"holds 15 of the 16 slice positions"):
        read_dce(tmp_path / "GE3")


# ---------------------------------------------------------------- item 2: field strength in gauss


@pytest.mark.parametrize(("header", "tesla", "unit"), [("15000", 1.5, "15000 G read as gauss"), ("3", 3.0, "T")])
def test_field_strength_in_gauss_is_read_as_tesla(tmp_path: Path, header: str, tesla: float, unit: str) -> None:
    ge_one_series(phantom_arrays()["phases"], tmp_path / "GE4" / "dicom", TIMES, field_strength=header)
    dce = read_dce(tmp_path / "GE4")
    assert dce.meta["field_strength_t"] == pytest.approx(tesla) and dce.meta["field_strength_unit"] == unit


# ---------------------------------------------------------------- item 4: a DICOM SEG highdicom refuses


def test_fractional_seg_placed_by_frame_positions(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    reference = image(arrays["phases"][0])
    partial = np.zeros_like(arrays["breast"])
    partial[1, 1:-1, 1:-1] = True                       # 100/255: below half the maximum, outside
    path = fractional_seg(arrays["breast"], reference, tmp_path / "breast_seg.dcm", partial=partial,
                          slices=list(range(1, 14)))    # 13 frames, written in reverse order
    import highdicom as hd

    with pytest.raises(Exception, match="ReferencedSegmentNumber"):   # the library refuses this layout
        hd.seg.Segmentation.from_dataset(pydicom.dcmread(path)).get_volume(combine_segments=True)
    mask = read_mask(path, reference, "SEG1", "breast mask")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask) > 0, arrays["breast"])


def test_seg_on_a_finer_grid_than_its_frames_leaves_no_holes(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    coarse = image(arrays["phases"][0])                             # 2 mm pixels
    path = fractional_seg(arrays["tumour"], coarse, tmp_path / "t.dcm")
    fine = sitk.Image([48, 48, 16], sitk.sitkFloat32)
    fine.SetSpacing((1.0, 1.0, 2.0))
    fine.SetOrigin((-0.5, -0.5, 0.0))                               # the same extent, 1 mm in plane
    mask = sitk.GetArrayFromImage(read_mask(path, fine, "SEG2")) > 0
    assert mask.sum() == arrays["tumour"].sum() * 4


def test_a_seg_frame_without_position_is_an_error(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    reference = image(arrays["phases"][0])
    path = fractional_seg(arrays["breast"], reference, tmp_path / "bad.dcm")
    ds = pydicom.dcmread(path)
    del ds.PerFrameFunctionalGroupsSequence[3].PlanePositionSequence
    ds.save_as(path)
    with pytest.raises(MRIError, match=r"case S, file .*bad.dcm: breast mask is neither an image file nor a DICOM "
                                       r"SEG \(frame 4 has no Image Position \(Patient\)"):
        read_mask(path, reference, "S", "breast mask")


# ---------------------------------------------------------------- item 5: case folders through links


def test_case_folders_reached_through_links(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    archive = tmp_path / "archive" / "series7"
    write_dicom(arrays["phases"], Protocol(tuple(TIMES), (2.0, 2.0, 2.0), "SIEMENS", 1.0, (24, 24, 16)),
                archive, "L1", one_series=False)
    study = tmp_path / "study"
    (study / "real_case").mkdir(parents=True)
    os.symlink(archive, study / "real_case" / "dicom")              # the series folder is a link
    os.symlink(study / "real_case", study / "L1")                   # so is the case folder
    os.symlink("..", study / "real_case" / "loop")                  # a loop back up
    os.symlink(archive / "IM00001.dcm", study / "real_case" / "again.dcm")   # one file linked twice
    dce = read_dce(study / "L1", "L1")
    assert len(dce.phases) == 4 and dce.times_s == pytest.approx(TIMES)
    files = list(walk_files(study))
    assert len(files) == 64 and len({f.resolve() for f in files}) == 64
