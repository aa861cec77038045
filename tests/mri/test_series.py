"""Finding the DCE series of a real exam download (issue 22 §1): every series is grouped by study and series from
headers alone, the dynamic one is chosen, everything else is skipped with its reason, visits are chosen by the
manifest's rule, and the pixel data of skipped series is never read."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from radpath.errors import MRIError
from radpath.mri.io import read_dce
from radpath.mri.series import find_dce_series

from .dicom_data import TIMES, Visit, truncate_pixels, write_exam, write_series
from .helpers import phantom_arrays

ARRAYS = phantom_arrays()
SECOND = [phase * 1.5 + 7 for phase in ARRAYS["phases"]]          # the later visit: other intensities


def _arrays(dce: object) -> list[np.ndarray]:
    return [sitk.GetArrayFromImage(image) for image in dce.phases]   # type: ignore[attr-defined]


def _reasons(choice: object) -> dict[object, str]:
    return {entry.get("number", entry.get("file")): entry["reason"]
            for entry in choice.skipped}                              # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Visit]]:
    """A TCIA-layout exam of one patient: two visits (written latest first), each with a localiser, a T2, the
    DCE in one series, GE's PE1 and SER maps and a breast SEG."""
    case = tmp_path_factory.mktemp("tcia") / "UCSF-BR-06"
    visits = write_exam(case, [Visit("20020901", SECOND, "MRI BREAST POST NACT"),
                               Visit("20020315", ARRAYS["phases"])], breast=ARRAYS["breast"])
    (case / "LICENSE").write_text("Creative Commons Attribution 3.0\n")    # TCIA puts one beside the series
    return case, visits


def test_the_dynamic_series_is_chosen_and_everything_else_skipped_with_its_reason(
        exam: tuple[Path, list[Visit]]) -> None:
    case, (later, first) = exam
    choice = find_dce_series(case, "UCSF-BR-06")
    assert choice.study_uid == first.study_uid and (choice.visit, choice.n_visits) == (1, 2)
    assert choice.series_uids == first.series["dce"] and choice.acquisition.split_by == "slice-position repetition"
    assert [len(files) for files in choice.phase_files] == [16] * 4
    reasons = {entry["uid"]: entry["reason"] for entry in choice.skipped if "uid" in entry}
    mine = {name: reasons[first.series[name][0]] for name in ("loc", "t2", "pe1", "ser")}
    assert mine == {"loc": "localiser (ImageType ORIGINAL\\PRIMARY\\LOCALIZER)",
                    "t2": "single time point (16 slices)",
                    "pe1": "derived image (ImageType DERIVED\\PRIMARY\\DCE\\PE1)",
                    "ser": "derived image (ImageType DERIVED\\PRIMARY\\DCE\\SER)"}
    of_first = {e["number"]: e["reason"] for e in choice.skipped if e.get("study_uid") == first.study_uid}
    assert of_first[300] == "segmentation (SEG)" and _reasons(choice)["LICENSE"] == "not a DICOM file"
    other = reasons[later.series["dce"][0]]
    assert other == "another visit (2 of 2, study 2002-09-01 'MRI BREAST POST NACT'; mri.study: first)"
    assert reasons[later.series["pe1"][0]] == (
        "another visit (2 of 2, study 2002-09-01 'MRI BREAST POST NACT'; mri.study: first): derived image "
        "(ImageType DERIVED\\PRIMARY\\DCE\\PE1)")
    assert len(choice.skipped) == 2 * 6 - 1 + 1           # 6 series per visit, the DCE read, the licence
    dce = read_dce(case, "UCSF-BR-06")
    assert dce.times_s == pytest.approx(TIMES) and dce.meta["series"][0]["description"] == "Ax Vibrant MultiPhase"
    for got, want in zip(_arrays(dce), ARRAYS["phases"], strict=True):
        np.testing.assert_array_equal(got, np.rint(want))
    assert dce.phase_files == [[str(p) for p in files] for files in choice.phase_files]


@pytest.mark.parametrize(("rule", "date"), [("first", "20020315"), ("last", "20020901"), (2, "20020901"),
                                            ("1", "20020315"), (-1, "20020901"), ("2002-09-01", "20020901"),
                                            ("20020315", "20020315"), ("*post*", "20020901")])
def test_the_visit_is_chosen_by_each_rule(exam: tuple[Path, list[Visit]], rule: str | int, date: str) -> None:
    case, visits = exam
    choice = find_dce_series(case, "P", study=rule)
    assert choice.study.date == date
    visit = next(v for v in visits if v.date == date)
    assert choice.series_uids == visit.series["dce"]
    if date == "20020901":                                 # the pixels read are that visit's
        dce = read_dce(case, "P", study=rule)
        np.testing.assert_array_equal(_arrays(dce)[2], np.rint(SECOND[2]))


@pytest.mark.parametrize(("rule", "words"), [
    ("2001-01-01", r"mri.study '2001-01-01' \(date\) matches no visit; visits: 1: study 2002-03-15 'MRI BREAST "
                   r"BILATERAL W WO CONTRAST'; 2: study 2002-09-01 'MRI BREAST POST NACT'"),
    (3, r"mri.study '3' is not a visit: indices run from 1 \(first\) to 2"),
    ("MRI BREAST*", r"mri.study 'MRI BREAST\*' \(StudyDescription glob\) matches 2 visits; .*give an index"),
])
def test_a_visit_rule_that_fits_no_single_visit_is_an_error(exam: tuple[Path, list[Visit]], rule: str | int,
                                                            words: str) -> None:
    case, _ = exam
    with pytest.raises(MRIError, match=rf"case P, file .*UCSF-BR-06: {words}"):
        find_dce_series(case, "P", study=rule)


def test_phases_in_one_series_per_phase_in_a_flat_folder(tmp_path: Path) -> None:
    case = tmp_path / "FLAT"
    (visit,) = write_exam(case, [Visit("20100101", ARRAYS["phases"])], per_phase=True, tcia=False)
    assert not [p for p in case.iterdir() if p.is_dir()]            # one folder of mixed series
    choice = find_dce_series(case, "FLAT")
    assert choice.series_uids == visit.series["dce"] and choice.acquisition.split_by == "series"
    # the T2 lies on the same slices but is another sequence (TE, TR, flip angle): not a phase
    assert _reasons(choice)[2] == "single time point (16 slices)"
    dce = read_dce(case, "FLAT")
    assert dce.times_s == pytest.approx(TIMES) and dce.meta["split_by"] == "series"
    for got, want in zip(_arrays(dce), ARRAYS["phases"], strict=True):
        np.testing.assert_array_equal(got, np.rint(want))


def test_a_separate_pre_contrast_series_joins_the_multiphase_series(tmp_path: Path) -> None:
    visit = Visit("20100101", ARRAYS["phases"])
    write_series(tmp_path / "C" / "pre", ARRAYS["phases"][:1], visit, number=3, description="Ax Vibrant pre",
                 image_type=["ORIGINAL", "PRIMARY", "OTHER"])
    write_series(tmp_path / "C" / "post", ARRAYS["phases"][1:], visit, number=4, description="Ax Vibrant post",
                 image_type=["ORIGINAL", "PRIMARY", "OTHER"], times_s=TIMES[1:])
    dce = read_dce(tmp_path / "C")
    assert dce.meta["split_by"] == "series + slice-position repetition"
    assert [s["description"] for s in dce.meta["series"]] == ["Ax Vibrant pre", "Ax Vibrant post"]
    assert dce.times_s == pytest.approx(TIMES)
    np.testing.assert_array_equal(_arrays(dce)[0], np.rint(ARRAYS["phases"][0]))


def test_pixel_data_of_skipped_series_is_never_read(tmp_path: Path) -> None:
    case = tmp_path / "CUT"
    (visit,) = write_exam(case, [Visit("20100101", ARRAYS["phases"])], breast=ARRAYS["breast"])
    for name in ("t2", "pe1", "ser"):
        truncate_pixels(visit.folders[name])
    seg = next(case.rglob("*Breast VOI*/1-1.dcm"))
    seg.write_bytes(seg.read_bytes()[:-100])
    victim = next(visit.folders["pe1"].glob("*.dcm"))
    with pytest.raises(ValueError, match="pixel data is less"):    # the cut files' pixels cannot be read ...
        pydicom.dcmread(victim).pixel_array  # noqa: B018
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(p) for p in sorted(visit.folders["t2"].glob("*.dcm"))])
    with pytest.raises(RuntimeError):
        reader.Execute()
    dce = read_dce(case, "CUT")                            # ... and the case reads: they were never opened for pixels
    assert len(dce.phases) == 4 and _arrays(dce)[1].max() == np.rint(ARRAYS["phases"][1]).max()


def test_two_equally_good_dynamic_series_need_mri_series(tmp_path: Path) -> None:
    visit = Visit("20100101", ARRAYS["phases"])
    dce_type = ["ORIGINAL", "PRIMARY", "OTHER"]
    write_series(tmp_path / "D" / "a", ARRAYS["phases"], visit, number=5, description="Ax Vibrant MultiPhase",
                 image_type=dce_type, times_s=TIMES)
    write_series(tmp_path / "D" / "b", [p[:, :12] for p in SECOND], visit, number=9, description="Sag DCE right",
                 image_type=dce_type, times_s=TIMES)
    with pytest.raises(MRIError, match=r"case D, file .*D: 2 dynamic series fit equally well in study 2010-01-01 "
                                       r"'MRI BREAST BILATERAL W WO CONTRAST': #5 'Ax Vibrant MultiPhase' \(4 time "
                                       r"points\); #9 'Sag DCE right' \(4 time points\); set mri.series in the "
                                       r"manifest \(a SeriesDescription glob or SeriesNumber\)"):
        find_dce_series(tmp_path / "D", "D")
    for rule in (9, "9", "sag*"):
        choice = find_dce_series(tmp_path / "D", "D", series=rule)
        assert [s.number for s in choice.acquisition.series] == [9] and choice.series_rule == f"mri.series: {rule}"
        assert _reasons(choice)[5] == "dynamic (4 time points), not chosen"
    with pytest.raises(MRIError, match=r"mri.series 'T2\*' \(SeriesNumber or SeriesDescription glob\) matches none "
                                       r"of the dynamic series in study 2010-01-01"):
        find_dce_series(tmp_path / "D", "D", series="T2*")


def test_a_series_of_two_time_points_yields_to_one_that_gives_pre_early_and_late(tmp_path: Path) -> None:
    visit = Visit("20100101", ARRAYS["phases"])
    dce_type = ["ORIGINAL", "PRIMARY", "OTHER"]
    write_series(tmp_path / "E" / "a", ARRAYS["phases"], visit, number=5, description="DCE", image_type=dce_type,
                 times_s=TIMES)
    write_series(tmp_path / "E" / "b", [p[:, :12] for p in ARRAYS["phases"][:2]], visit, number=6,
                 description="test bolus", image_type=dce_type, times_s=TIMES[:2])
    choice = find_dce_series(tmp_path / "E", "E")
    assert [s.number for s in choice.acquisition.series] == [5]
    assert _reasons(choice)[6] == "dynamic (2 time points), not chosen"


def test_no_dynamic_series_lists_what_was_found(tmp_path: Path) -> None:
    case = tmp_path / "NODCE"
    (visit,) = write_exam(case, [Visit("20100101", ARRAYS["phases"])], breast=ARRAYS["breast"])
    shutil.rmtree(visit.folders["dce"])
    with pytest.raises(MRIError, match=r"case NODCE, file .*NODCE: no dynamic \(DCE\) series: found study "
                                       r"2010-01-01 'MRI BREAST BILATERAL W WO CONTRAST': #1 '3 Plane Loc' "
                                       r"\(localiser \(ImageType ORIGINAL\\PRIMARY\\LOCALIZER\)\), #2 'Ax T2 FSE' "
                                       r"\(single time point \(16 slices\)\), #300 \(segmentation \(SEG\)\), "
                                       r"#800 'image_dce_pe1' \(derived image \(ImageType "
                                       r"DERIVED\\PRIMARY\\DCE\\PE1\)\), #801 'image_dce_ser' \(derived image "
                                       r"\(ImageType DERIVED\\PRIMARY\\DCE\\SER\)\)$"):
        find_dce_series(case, "NODCE")


def test_localisers_and_other_series_by_their_headers(tmp_path: Path) -> None:
    visit = Visit("20100101", ARRAYS["phases"])
    original = ["ORIGINAL", "PRIMARY", "OTHER"]
    vol = ARRAYS["phases"][:1]
    write_series(tmp_path / "F" / "scout", vol, visit, number=1, description="3-pl T2* scout", image_type=original)
    write_series(tmp_path / "F" / "sub", ARRAYS["phases"][1:], visit, number=7, description="Ax sub",
                 image_type=["ORIGINAL", "PRIMARY", "M", "ND", "SUB"], times_s=TIMES[1:])
    write_series(tmp_path / "F" / "dce", ARRAYS["phases"], visit, number=5, description="DCE", image_type=original,
                 times_s=TIMES, tpi=True)
    reasons = _reasons(find_dce_series(tmp_path / "F", "F"))
    assert reasons == {1: "localiser (series description)",
                       7: "derived image (ImageType ORIGINAL\\PRIMARY\\M\\ND\\SUB)"}


def test_a_broken_dicom_file_still_names_itself(tmp_path: Path) -> None:
    case = tmp_path / "BROKEN"
    (visit,) = write_exam(case, [Visit("20100101", ARRAYS["phases"])])
    victim = sorted(visit.folders["pe1"].glob("*.dcm"))[3]
    victim.write_bytes(b"\x00" * 64)                      # named .dcm: a broken download, not a stray note
    with pytest.raises(MRIError, match=rf"case BROKEN, file .*{victim.name}: not a readable DICOM file"):
        find_dce_series(case, "BROKEN")


def test_headers_are_read_up_to_group_0028_only_and_long_headers_from_the_file(tmp_path: Path) -> None:
    from pydicom.datadict import tag_for_keyword

    from radpath.mri.dicom import HEADER_BYTES, HEADER_KEYWORDS, LAST_GROUP, read_header

    assert all(tag_for_keyword(k) >> 16 <= LAST_GROUP for k in HEADER_KEYWORDS)   # nothing needed lies beyond
    visit = Visit("20100101", ARRAYS["phases"])
    for private, folder in ((300, tmp_path / "short"), (6000, tmp_path / "long")):
        write_series(folder, ARRAYS["phases"][:1], visit, number=3, description="DCE",
                     image_type=["ORIGINAL", "PRIMARY", "OTHER"], private_tags=private)
        path = sorted(folder.glob("*.dcm"))[5]
        full = pydicom.dcmread(path)
        header = read_header(path, "H")
        assert header is not None and "PixelData" not in header
        rows_at = path.read_bytes().find(b"\x28\x00\x10\x00")          # where (0028,0010) Rows lies in the file
        assert (rows_at > HEADER_BYTES) == (private > 1000)                # the long header is read from the file
        for keyword in ("SeriesInstanceUID", "InstanceNumber", "ImagePositionPatient", "Rows", "PixelSpacing",
                        "EchoTime", "ContentTime", "ImageType", "MagneticFieldStrength"):
            assert header.get(keyword) == full.get(keyword), keyword


def test_a_truncated_dicom_file_is_named_in_one_whole_line(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A truncated slice gave a message cut at `reader for "` after an ITK warning block (issue 23 §7)."""
    case = tmp_path / "CUT"
    (visit,) = write_exam(case, [Visit("20100101", ARRAYS["phases"])], breast=ARRAYS["breast"])
    victim = sorted(visit.folders["dce"].glob("*.dcm"))[5]
    victim.write_bytes(victim.read_bytes()[:-300])
    with pytest.raises(MRIError) as error:
        read_dce(case, "CUT")
    message = str(error.value)
    assert message == (f"case CUT, file {victim}: DICOM series cannot be read: {victim.name}: Unable to determine "
                       f"ImageIO reader for \"{victim.name}\" (the file is cut short or is not an image)")
    assert error.value.file == str(victim)
    assert capfd.readouterr().err == ""  # no ITK warning block
