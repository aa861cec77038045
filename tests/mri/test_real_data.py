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
from radpath.mri.features import compute_features
from radpath.mri.io import read_dce, read_mask
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, prepare_case
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


# ---------------------------------------------------------------- item 3: skin is not parenchyma


def skin_phantom(fat_suppressed: bool = False) -> dict[str, np.ndarray]:
    """Body (2 mm voxels) with a 2 mm skin rim that enhances (PE 0.8) and is as dark as parenchyma on T1
    (as bright as parenchyma when fat-suppressed), fat, a deep parenchyma slab (PE 0.3) and a tumour."""
    shape = (20, 28, 28)
    body = np.zeros(shape, bool)
    body[2:-2, 2:-2, 2:-2] = True
    inner = np.zeros(shape, bool)
    inner[3:-3, 3:-3, 3:-3] = True
    skin = body & ~inner
    parenchyma = np.zeros(shape, bool)
    parenchyma[5:-5, 5:14, 5:-5] = True
    tumour = np.zeros(shape, bool)
    tumour[8:12, 15:19, 12:16] = True
    fat_level, tissue_level = (100.0, 600.0) if fat_suppressed else (1000.0, 400.0)
    pre = np.full(shape, 5.0)
    pre[body] = fat_level
    pre[skin | parenchyma] = tissue_level
    pre[tumour] = tissue_level + 20
    pe = np.where(tumour, 1.0, np.where(skin, 0.8, np.where(parenchyma, 0.3, 0.02)))
    early = pre * (1 + pe)
    late = pre * (1 + np.where(tumour, 0.8, pe))
    return {"phases": [pre, early, late], "tumour": tumour, "breast": body, "parenchyma": parenchyma, "skin": skin}


def _skin_case(tmp_path: Path, arrays: dict[str, np.ndarray], breast_mask: bool) -> CaseInput:
    from .helpers import write_nifti_case

    folder = write_nifti_case(tmp_path / "SKIN", arrays, [0.0, 90.0, 390.0])
    return CaseInput("SKIN", str(folder), str(folder / "mask.nii.gz"),
                     str(folder / "breast_mask.nii.gz") if breast_mask else None)


@pytest.mark.parametrize("breast_mask", [True, False])
def test_bpe_no_longer_counts_an_enhancing_skin_rim(tmp_path: Path, breast_mask: bool) -> None:
    arrays = skin_phantom()
    case = _skin_case(tmp_path, arrays, breast_mask)
    params = MRIParams(extended=False, n4=False)
    prepared = prepare_case(case, params)
    values = compute_features(prepared.maps, params)
    truth = arrays["parenchyma"] & ~arrays["tumour"]
    np.testing.assert_array_equal(prepared.maps.native_parenchyma, truth)
    assert values["BPE2"] == 0.0 and values["BPE4"] == 0.0          # nothing above PE 0.6: the skin is out
    assert values["BPE1"] == pytest.approx(truth.sum() * 8 / 1000) and values["BPE3"] == pytest.approx(1.0)
    assert prepared.qc["skin_band_mm"] == 4.0 and prepared.qc["breast_source"] == ("user" if breast_mask else "auto")
    if breast_mask:     # a breast mask that holds the skin (as real ones do): without the band, BPE counts it
        kept_skin = prepare_case(case, MRIParams(extended=False, n4=False, skin_band_mm=0))
        skin_values = compute_features(kept_skin.maps, params)
        assert skin_values["BPE2"] == pytest.approx(arrays["skin"].sum() * 8 / 1000)


def test_fat_suppressed_series_take_the_brightest_cluster(tmp_path: Path) -> None:
    arrays = skin_phantom(fat_suppressed=True)
    case = _skin_case(tmp_path, arrays, True)
    truth = arrays["parenchyma"] & ~arrays["tumour"]
    stated = prepare_case(case, MRIParams(extended=False, n4=False, fat_suppressed=True))
    np.testing.assert_array_equal(stated.maps.native_parenchyma, truth)
    assert stated.qc["parenchyma_cluster"].startswith("brightest")
    darkest = prepare_case(case, MRIParams(extended=False, n4=False))     # no header says fat-suppressed
    assert not (darkest.maps.native_parenchyma & truth).any()            # the darkest cluster is the fat


def test_fat_suppression_is_read_from_the_headers() -> None:
    from radpath.mri.breast import fat_suppressed

    assert fat_suppressed({"scan_options": "FAT\\SEQ"}) is True           # GE
    assert fat_suppressed({"scan_options": "FS", "series_description": "Ax Vibrant"}) is True
    assert fat_suppressed({"series_description": "t1_fl3d_tra_dyn_fs"}) is True
    assert fat_suppressed({"scan_options": "PFP", "series_description": "Ax T1 dyn"}) is None
    assert fat_suppressed({}) is None


def test_chest_wall_is_cut_where_the_body_fills_the_field_of_view() -> None:
    from radpath.mri.breast import exclude_chest_wall

    body = np.zeros((10, 30, 20), bool)
    body[:, 20:, :] = True                           # thorax: fills the view from y = 20 to the edge
    body[2:8, 8:20, 4:16] = True                     # a breast on it
    breast = exclude_chest_wall(body)
    assert not breast[:, 20:, :].any() and breast[2:8, 8:20, 4:16].all()


# ---------------------------------------------------------------- all of it through the stage and the CLI


def test_real_layout_case_through_extract_and_inspect(tmp_path: Path) -> None:
    """A GE one-series case (gauss, straddling times) reached through a link, its breast mask a FRACTIONAL SEG:
    `extract-mri` writes it, `mri_cases` records the rules used, `mri inspect` shows them."""
    import duckdb
    from typer.testing import CliRunner

    from radpath.cli.app import build_app

    arrays = phantom_arrays()
    archive = tmp_path / "archive" / "GE7"
    ge_one_series(arrays["phases"], archive / "dicom", TIMES)
    sitk.WriteImage(image(arrays["tumour"], dtype=np.uint8), str(archive / "mask.nii.gz"))
    fractional_seg(arrays["breast"], image(arrays["phases"][0]), archive / "breast.dcm")
    cohort = tmp_path / "cohort"
    (cohort / "mri").mkdir(parents=True)
    os.symlink(archive, cohort / "mri" / "GE7")
    (cohort / "clinical.csv").write_text("pid,age\nGE7,50\n")
    (cohort / "manifest.yaml").write_text(
        "name: realmri\nroot: .\nclinical:\n- path: clinical.csv\n  id_column: pid\n  columns:\n    age: age\n"
        "mri:\n  root: mri\n  mask: mask.nii.gz\n  breast_mask: breast.dcm\n")
    (tmp_path / "p.yaml").write_text("extended: false\n")
    db = tmp_path / "w.duckdb"
    runner = CliRunner()
    for command in (["ingest", str(cohort / "manifest.yaml")],
                    ["extract-mri", str(cohort / "manifest.yaml"), "--params", str(tmp_path / "p.yaml")]):
        result = runner.invoke(build_app(), [*command, "--db", str(db)])
        assert result.exit_code == 0, result.output
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT phase_split, field_strength_t, field_strength_unit, breast_source, skin_band_mm, "
                          "parenchyma_cluster, n_phases FROM mri_cases WHERE patient_id = 'GE7'").fetchone()
    assert row is not None
    assert row[:5] == ("slice-position repetition", 1.5, "15000 G read as gauss", "user", 4.0)
    assert row[5].startswith("darkest") and row[6] == 4
    png = tmp_path / "ge7.png"
    result = runner.invoke(build_app(), ["mri", "inspect", str(cohort / "mri" / "GE7"), "--png", str(png),
                                         "--params", str(tmp_path / "p.yaml")])
    assert result.exit_code == 0, result.output
    assert "phase split: slice-position repetition" in result.output
    assert "field strength (T): (1.5, '15000 G read as gauss')" in result.output
    assert "parenchyma contour slices: [" in result.output and png.stat().st_size > 5000


def test_skin_band_on_the_breast_box_equals_the_whole_image() -> None:
    from scipy import ndimage

    from radpath.mri.breast import distance_to_air, skin_band

    rng = np.random.default_rng(5)
    body = ndimage.gaussian_filter(rng.random((30, 50, 60)), 4) > 0.5
    body[:, 40:, :] = True                                   # a thorax at the edge of the view
    breast = body.copy()
    breast[:, :, 30:] = False                                # one breast: the left half
    spacing = (2.0, 0.8, 0.8)
    whole = breast & (distance_to_air(body, spacing) <= 4.0)
    band = skin_band(breast, body, spacing, 4.0)
    assert band.any()
    np.testing.assert_array_equal(band, whole)
    assert not band[:, 45:, :].any()                         # no skin where the body meets the edge of the view


def test_fcm_separates_tissues_when_one_holds_most_voxels() -> None:
    from radpath.mri.segment import fuzzy_cmeans_1d

    values = np.array([1000.0] * 350 + [400.0] * 50)          # fat around a small gland: equal quartiles
    result = fuzzy_cmeans_1d(values, 2)
    np.testing.assert_allclose(result.centroids, [400.0, 1000.0], atol=600 / 256 / 2)   # half a histogram bin
    assert (result.membership[350:, 0] > 0.5).all() and (result.membership[:350, 0] < 0.5).all()


@pytest.mark.parametrize(("value", "expected"), [(15000, (1.5, "15000 G read as gauss")), ("3.0", (3.0, "T")),
                                                 (30000.0, (3.0, "30000 G read as gauss")), (None, (None, None)),
                                                 ("n/a", (None, None))])
def test_field_strength_units(value: object, expected: tuple[object, object]) -> None:
    from radpath.mri.dicom import field_strength_tesla

    assert field_strength_tesla(value) == expected
