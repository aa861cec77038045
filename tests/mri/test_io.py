"""Reading DCE phases and masks from every supported layout, and a clear per-case error for each bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radpath.errors import MRIError
from radpath.mri.io import read_dce, read_mask
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, prepare_case
from radpath.synth.mri import Protocol, write_dicom

from .helpers import image, phantom_arrays, write_nifti_case

TIMES = [0.0, 90.0, 240.0, 390.0]


def _case(folder: Path) -> CaseInput:
    return CaseInput(folder.name, str(folder), str(folder / "mask.nii.gz"), str(folder / "breast_mask.nii.gz"))


def test_nifti_phases_with_sidecar(nifti_case: Path) -> None:
    dce = read_dce(nifti_case)
    assert len(dce.phases) == 4 and dce.times_s == TIMES
    assert dce.meta["vendor"] == "TestVendor" and dce.meta["spacing"] == [2.0, 2.0, 2.0]
    expected = phantom_arrays()["phases"][1]
    np.testing.assert_allclose(sitk.GetArrayFromImage(dce.phases[1]), np.rint(expected))


def test_4d_nifti_with_sidecar(tmp_path: Path) -> None:
    arrays = phantom_arrays()
    volume = sitk.JoinSeries([image(a, (2.0, 2.0, 2.0)) for a in arrays["phases"]])
    sitk.WriteImage(volume, str(tmp_path / "dce4d.nii.gz"))
    (tmp_path / "dce4d.json").write_text(json.dumps({"times_s": [10, 100, 250, 400]}))
    dce = read_dce(tmp_path / "dce4d.nii.gz", "P4D")
    assert len(dce.phases) == 4 and dce.times_s == TIMES
    assert dce.phases[2].GetSize() == (24, 24, 16)


@pytest.mark.parametrize("layout", ["series-per-phase", "temporal-position", "repeated-positions"])
def test_dicom_layouts(tmp_path: Path, layout: str) -> None:
    arrays = phantom_arrays()
    protocol = Protocol(tuple(TIMES), (2.0, 2.0, 2.0), "SIEMENS", 1.0, (24, 24, 16))
    folder = tmp_path / "P1" / "dicom"
    write_dicom(arrays["phases"], protocol, folder, "P1", one_series=layout != "series-per-phase")
    if layout == "repeated-positions":   # one series, no temporal tags: phases follow in instance order
        for path in folder.iterdir():
            ds = pydicom.dcmread(path)
            del ds.TemporalPositionIdentifier
            ds.AcquisitionTime = ds.ContentTime = "100000"
            ds.save_as(path)
    dce = read_dce(tmp_path / "P1")
    assert len(dce.phases) == 4
    assert dce.meta["format"] == "dicom" and dce.meta["vendor"] == "SIEMENS"
    if layout != "repeated-positions":
        assert dce.times_s == pytest.approx(TIMES)
    for k in (0, 3):
        np.testing.assert_allclose(sitk.GetArrayFromImage(dce.phases[k]), np.rint(arrays["phases"][k]))
    assert dce.phases[0].GetSpacing() == pytest.approx((2.0, 2.0, 2.0))
    text = json.dumps(dce.meta)
    assert "Synthetic" not in text and "1970" not in text       # no PHI from the headers


def _rewrite_phase(folder: Path, k: int, array: np.ndarray, spacing: tuple[float, float, float] = (2.0, 2.0, 2.0),
                   dtype: type = np.float32) -> None:
    sitk.WriteImage(image(array, spacing, dtype), str(folder / f"phase{k}.nii.gz"))


def test_missing_phase_file(nifti_case: Path) -> None:
    (nifti_case / "phase2.nii.gz").unlink()
    with pytest.raises(MRIError, match=r"case CASE1, file .*phase2\.nii\.gz: file does not exist"):
        read_dce(nifti_case)


def test_single_phase(tmp_path: Path) -> None:
    arrays = phantom_arrays(n_phases=1)
    folder = write_nifti_case(tmp_path / "ONE", arrays, [0.0])
    with pytest.raises(MRIError, match=r"case ONE, file .*phase0.nii.gz: a DCE study needs several phases, found 1"):
        read_dce(folder)


def test_two_phases_cannot_give_early_and_late(tmp_path: Path) -> None:
    folder = write_nifti_case(tmp_path / "TWO", phantom_arrays(n_phases=2), [0.0, 120.0])
    with pytest.raises(MRIError, match=r"case TWO, file .*TWO: need a pre-contrast and at least two post-contrast"):
        prepare_case(_case(folder), MRIParams(extended=False))


def test_phases_of_different_geometry(nifti_case: Path) -> None:
    _rewrite_phase(nifti_case, 2, phantom_arrays()["phases"][2], spacing=(2.0, 2.0, 3.0))
    with pytest.raises(MRIError, match=r"case CASE1, file .*phase2.nii.gz: phase 2 has a different geometry .*spacing"):
        read_dce(nifti_case)


def test_nan_intensities(nifti_case: Path) -> None:
    # ITK's NIfTI reader turns NaN into 0, so the NaN phase is written as NRRD (which keeps it)
    array = phantom_arrays()["phases"][1].copy()
    array[3, 3, 3] = np.nan
    sitk.WriteImage(image(array, (2.0, 2.0, 2.0)), str(nifti_case / "phase1.nrrd"))
    sidecar = json.loads((nifti_case / "dce.json").read_text())
    sidecar["phases"][1]["file"] = "phase1.nrrd"
    (nifti_case / "dce.json").write_text(json.dumps(sidecar))
    with pytest.raises(MRIError, match=r"file .*phase1.nrrd: phase 1 has NaN or infinite intensities"):
        read_dce(nifti_case)


def test_negative_intensities(nifti_case: Path) -> None:
    array = phantom_arrays()["phases"][3].copy()
    array[0, 0, 0] = -50
    _rewrite_phase(nifti_case, 3, array)
    with pytest.raises(MRIError, match=r"file .*phase3.nii.gz: phase 3 has negative intensities"):
        read_dce(nifti_case)


def test_non_image_file(nifti_case: Path) -> None:
    (nifti_case / "phase1.nii.gz").write_text("this is not an image")
    with pytest.raises(MRIError, match=r"case CASE1, file .*phase1.nii.gz: not a readable image"):
        read_dce(nifti_case)


def test_corrupt_dicom(tmp_path: Path) -> None:
    protocol = Protocol(tuple(TIMES), (2.0, 2.0, 2.0), "GE", 1.0, (24, 24, 16))
    folder = tmp_path / "BAD" / "dicom"
    write_dicom(phantom_arrays()["phases"], protocol, folder, "BAD", one_series=False)
    victim = sorted(folder.iterdir())[5]
    victim.write_bytes(b"\x00" * 64)
    with pytest.raises(MRIError, match=rf"case BAD, file .*{victim.name}: not a readable DICOM file"):
        read_dce(tmp_path / "BAD")


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "EMPTY").mkdir()
    with pytest.raises(MRIError, match="case EMPTY, file .*EMPTY: no DICOM or NIfTI images"):
        read_dce(tmp_path / "EMPTY")


def test_empty_mask(nifti_case: Path) -> None:
    reference = read_dce(nifti_case).phases[0]
    sitk.WriteImage(image(np.zeros((16, 24, 24)), (2.0, 2.0, 2.0), np.uint8), str(nifti_case / "mask.nii.gz"))
    with pytest.raises(MRIError, match=r"case CASE1, file .*mask.nii.gz: tumour mask is empty"):
        read_mask(nifti_case / "mask.nii.gz", reference, "CASE1")


def test_mask_outside_the_image(nifti_case: Path) -> None:
    reference = read_dce(nifti_case).phases[0]
    mask = image(phantom_arrays()["tumour"], (2.0, 2.0, 2.0), np.uint8)
    mask.SetOrigin((500.0, 0.0, 0.0))
    sitk.WriteImage(mask, str(nifti_case / "mask.nii.gz"))
    with pytest.raises(MRIError, match=r"file .*mask.nii.gz: tumour mask lies outside the image .*origin"):
        read_mask(nifti_case / "mask.nii.gz", reference, "CASE1")


def test_mask_on_another_grid_is_resampled(nifti_case: Path) -> None:
    reference = read_dce(nifti_case).phases[0]
    tumour = phantom_arrays()["tumour"]
    fine = sitk.Resample(image(tumour, (2.0, 2.0, 2.0), np.uint8), [48, 48, 32], sitk.Transform(),
                         sitk.sitkNearestNeighbor, (-0.5, -0.5, -0.5), (1.0, 1.0, 1.0))
    sitk.WriteImage(fine, str(nifti_case / "fine.nrrd"))
    mask = read_mask(nifti_case / "fine.nrrd", reference, "CASE1")
    assert (sitk.GetArrayFromImage(mask) > 0).sum() == tumour.sum()


def test_whole_case_through_the_pipeline(nifti_case: Path) -> None:
    prepared = prepare_case(_case(nifti_case), MRIParams(extended=False, n4=False))
    maps = prepared.maps
    # tumour: PE 1 at the early phase (90 s -> effective 165 s)
    assert np.median(maps.pe.values[maps.tumour & maps.pe.valid]) == pytest.approx(1.0, abs=0.01)
    assert prepared.qc["early_phase"] == 1 and prepared.qc["late_phase"] == 3
    assert maps.tumour.sum() == pytest.approx(6 * 6 * 6 * 8, rel=0.02)     # 216 voxels of 8 mm3 on 1 mm


def test_dicom_seg_mask_is_read_onto_the_image_grid(tmp_path: Path) -> None:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    arrays = phantom_arrays()
    protocol = Protocol(tuple(TIMES), (2.0, 2.0, 2.0), "SIEMENS", 1.0, (24, 24, 16))
    write_dicom(arrays["phases"], protocol, tmp_path / "P1" / "dicom", "P1", one_series=False)
    dce = read_dce(tmp_path / "P1")
    first_series = sorted((pydicom.dcmread(p) for p in (tmp_path / "P1" / "dicom").iterdir()),
                          key=lambda ds: (ds.SeriesInstanceUID, float(ds.ImagePositionPatient[2])))[:16]
    seg = hd.seg.Segmentation(
        source_images=first_series, pixel_array=arrays["tumour"].astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[hd.seg.SegmentDescription(
            segment_number=1, segment_label="tumour",
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Neoplasm, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)],
        series_instance_uid=hd.UID(), series_number=9, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="radpath", manufacturer_model_name="test", software_versions="0", device_serial_number="1",
    )
    seg.save_as(tmp_path / "P1" / "tumour_seg.dcm")
    assert len(read_dce(tmp_path / "P1").phases) == 4          # the SEG in the folder is not taken for a phase
    mask = read_mask(tmp_path / "P1" / "tumour_seg.dcm", dce.phases[0], "P1")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(mask) > 0, arrays["tumour"])


def test_user_parenchyma_mask_wins_over_fcm(nifti_case: Path) -> None:
    from radpath.mri.features import compute_features

    arrays = phantom_arrays()
    half = arrays["parenchyma"].copy()
    half[:, :, :12] = False                         # a user mask: only half of the parenchyma slab
    sitk.WriteImage(image(half, (2.0, 2.0, 2.0), np.uint8), str(nifti_case / "parenchyma.nii.gz"))
    case = CaseInput("CASE1", str(nifti_case), str(nifti_case / "mask.nii.gz"), str(nifti_case / "breast_mask.nii.gz"),
                     str(nifti_case / "parenchyma.nii.gz"))
    params = MRIParams(extended=False, n4=False)
    prepared = prepare_case(case, params)
    assert prepared.qc["parenchyma_source"] == "user"
    np.testing.assert_array_equal(prepared.maps.native_parenchyma, half & ~arrays["tumour"])
    values = compute_features(prepared.maps, params)
    # parenchyma PE is 0.3 everywhere: all of it above 0.2, none above 0.6; voxels of 8 mm3
    assert values["BPE3"] == pytest.approx(1.0) and values["BPE4"] == 0.0
    assert values["BPE1"] == pytest.approx(half.sum() * 8 / 1000)
    assert values["TSBPE1"] == pytest.approx(0.3, abs=0.01)
    fcm = prepare_case(_case(nifti_case), params)
    assert fcm.qc["parenchyma_source"] == "fcm"
    # the 4 mm skin band (2 voxels of 2 mm from the air) is left out of the FCM parenchyma
    inner = np.zeros_like(arrays["breast"])
    inner[4:-4, 4:-4, 4:-4] = True
    np.testing.assert_array_equal(fcm.maps.native_parenchyma, arrays["parenchyma"] & inner)
