"""DICOM written the way real scanners and tools write it, for the real-data tests (issue 15).

`ge_one_series`: one series holding all phases, no Temporal Position Identifier, per-slice Content Time only,
the pre-contrast slices straddling a second, field strength in gauss (as a GE header gave: 15000).
`fractional_seg`: a FRACTIONAL DICOM SEG with one segment "Breast", frames placed only by Image Position
(Patient) with a one-dimensional Dimension Index (the layout of a public breast-mask SEG highdicom refuses).
`write_exam`: a whole breast MR exam as it is downloaded (issue 22): per visit a 3-plane localiser, an axial T2
on the same slices as the DCE, the DCE (all phases in one series, or one series per phase), GE's derived PE1 and
SER maps (ImageType DERIVED\\PRIMARY\\DCE\\PE1 / ...\\SER, one time point, as GE writes them) and a breast
SEG; in TCIA's Patient/Study/Series folders with `1-01.dcm` files, or all in one flat folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radpath.synth.mri import Protocol, write_dicom

SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"


def _tm(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:02.0f}"


def ge_one_series(phases: list[np.ndarray], folder: Path, times_s: list[float], *, straddle: int = 4,
                  field_strength: str = "15000") -> Path:
    """One GE-like series (see the module docstring); the last `straddle` pre-contrast slices are 1 s later."""
    protocol = Protocol(tuple(times_s), (2.0, 2.0, 2.0), "GE MEDICAL SYSTEMS", 1.0, phases[0].shape[::-1])
    write_dicom(phases, protocol, folder, "GE1", one_series=True)
    n_slices = phases[0].shape[0]
    for path in sorted(folder.iterdir()):
        ds = pydicom.dcmread(path)
        instance = int(ds.InstanceNumber) - 1
        phase, slice_index = divmod(instance, n_slices)
        seconds = 36003.0 + times_s[phase]
        if phase == 0 and slice_index >= n_slices - straddle:
            seconds += 1.0                                   # hh:mm:03 -> hh:mm:04 within the pre-contrast phase
        del ds.TemporalPositionIdentifier
        for keyword in ("AcquisitionTime", "TriggerTime"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.ContentTime = _tm(seconds)
        ds.MagneticFieldStrength = field_strength
        ds.save_as(path)
    return folder


def fractional_seg(mask: np.ndarray, reference: Any, path: Path, *, partial: np.ndarray | None = None,
                   slices: list[int] | None = None, study_uid: str | None = None) -> Path:
    """A FRACTIONAL SEG of `mask` (z, y, x) on the grid of the SimpleITK image `reference`.

    Inside voxels store 200 of 255; `partial` voxels store 100 (below half: outside). Frames are written for
    `slices` (default: every slice) in reverse order, so that only their positions place them.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SEG_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SEG_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid()
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "SEG", 300, 1
    ds.Manufacturer, ds.ContentLabel, ds.ImageType = "3D Slicer", "BREAST", ["DERIVED", "PRIMARY"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SegmentationType, ds.SegmentationFractionalType, ds.MaximumFractionalValue = "FRACTIONAL", "PROBABILITY", 255
    ds.Rows, ds.Columns = mask.shape[1], mask.shape[2]
    segment = Dataset()
    segment.SegmentNumber, segment.SegmentLabel, segment.SegmentAlgorithmType = 1, "Breast", "MANUAL"
    for keyword, (value, meaning) in {"SegmentedPropertyCategoryCodeSequence": ("91723000", "Anatomical Structure"),
                                      "SegmentedPropertyTypeCodeSequence": ("76752008", "Breast")}.items():
        code = Dataset()
        code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = value, "SCT", meaning
        setattr(segment, keyword, Sequence([code]))
    ds.SegmentSequence = Sequence([segment])
    dimension = Dataset()
    dimension.DimensionIndexPointer = 0x00200032             # Image Position (Patient): a 1-D Dimension Index
    dimension.FunctionalGroupPointer = 0x00209113            # Plane Position Sequence
    dimension.DimensionOrganizationUID = generate_uid()
    ds.DimensionIndexSequence = Sequence([dimension])
    organisation = Dataset()
    organisation.DimensionOrganizationUID = dimension.DimensionOrganizationUID
    ds.DimensionOrganizationSequence = Sequence([organisation])
    shared = Dataset()
    orientation, measures, identification = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = [f"{v:g}" for v in reference.GetDirection()[0:9:3]] + \
        [f"{v:g}" for v in reference.GetDirection()[1:9:3]]
    sx, sy, sz = reference.GetSpacing()
    measures.PixelSpacing, measures.SliceThickness, measures.SpacingBetweenSlices = [sy, sx], sz, sz
    identification.ReferencedSegmentNumber = 1
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.SegmentIdentificationSequence = Sequence([identification])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    chosen = list(slices if slices is not None else range(mask.shape[0]))[::-1]
    values = np.where(mask, 200, 0).astype(np.uint8)
    if partial is not None:
        values[partial & ~mask] = 100
    per_frame = []
    for k, z in enumerate(chosen):
        item, content, plane = Dataset(), Dataset(), Dataset()
        content.DimensionIndexValues = [k + 1]
        plane.ImagePositionPatient = [f"{v:.4f}" for v in reference.TransformIndexToPhysicalPoint((0, 0, int(z)))]
        item.FrameContentSequence = Sequence([content])
        item.PlanePositionSequence = Sequence([plane])
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.NumberOfFrames = len(chosen)
    ds.PixelData = values[chosen].tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


# ---------------------------------------------------------------- whole exams (issue 22)

MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
DCE_TYPE = ["ORIGINAL", "PRIMARY", "OTHER"]
TIMES = (0.0, 90.0, 240.0, 390.0)


@dataclass
class Visit:
    """One study of an exam: its date, DCE phases (z, y, x arrays) and the UIDs written (filled by write_exam)."""

    date: str
    phases: list[np.ndarray]
    description: str = "MRI BREAST BILATERAL W WO CONTRAST"
    time: str = "093000"
    study_uid: str = field(default_factory=generate_uid)
    frame_uid: str = field(default_factory=generate_uid)
    series: dict[str, list[str]] = field(default_factory=dict)      # name -> series UIDs written
    folders: dict[str, Path] = field(default_factory=dict)          # name -> first series folder


def write_series(folder: Path, volumes: list[np.ndarray], visit: Visit, *, number: int, description: str,
                 image_type: list[str], times_s: tuple[float, ...] = (0.0,), tpi: bool = False,
                 te: float = 2.1, tr: float = 4.5, flip: float = 10.0, prefix: str = "1-",
                 orientations: list[tuple[float, ...]] | None = None) -> str:
    """One MR series of `volumes` (several: phases in one series, in instance order phase by phase); files
    `<prefix><instance>.dcm` as TCIA names them; returns the series UID. 2 mm voxels, origin 0, axial."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    width = max(2, len(str(sum(v.shape[0] for v in volumes))))
    instance = 0
    for k, volume in enumerate(volumes):
        seconds = 36000.0 + times_s[k]
        for z in range(volume.shape[0]):
            instance += 1
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = MR_STORAGE
            ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID, ds.SOPInstanceUID = MR_STORAGE, ds.file_meta.MediaStorageSOPInstanceUID
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "UCSF-BR-06", "19600101"
            ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "MR", "GE MEDICAL SYSTEMS", "SIGNA EXCITE"
            ds.MagneticFieldStrength = "15000"
            ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime = visit.study_uid, visit.date, visit.time
            ds.StudyDescription = visit.description
            ds.SeriesInstanceUID, ds.SeriesNumber, ds.SeriesDescription = uid, number, description
            ds.SeriesDate, ds.SeriesTime = visit.date, _tm(36000.0 + times_s[0])
            ds.FrameOfReferenceUID = visit.frame_uid
            ds.ImageType = image_type
            ds.InstanceNumber = instance
            ds.AcquisitionTime = ds.ContentTime = _tm(seconds)
            if tpi:
                ds.TemporalPositionIdentifier = k + 1
            ds.EchoTime, ds.RepetitionTime, ds.FlipAngle = f"{te:g}", f"{tr:g}", f"{flip:g}"
            orientation = orientations[z] if orientations else (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
            normal = np.cross(orientation[:3], orientation[3:])
            ds.ImageOrientationPatient = [f"{v:g}" for v in orientation]
            ds.ImagePositionPatient = [f"{v:.4f}" for v in normal * 2.0 * z]
            ds.PixelSpacing, ds.SliceThickness = ["2", "2"], "2"
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.rint(volume[z]).astype("<u2").tobytes()
            ds.save_as(folder / f"{prefix}{instance:0{width}d}.dcm", enforce_file_format=True)
    return uid


def truncate_pixels(folder: Path, keep: int = 200) -> None:
    """Cut every file of a series short inside its pixel data: its header reads, its pixels do not."""
    for path in sorted(folder.glob("*.dcm")):
        data = path.read_bytes()
        path.write_bytes(data[: data.rindex(b"\xe0\x7f\x10\x00") + 12 + keep])


def write_exam(case: Path, visits: list[Visit], *, per_phase: bool = False, tcia: bool = True, tpi: bool = False,
               breast: np.ndarray | None = None) -> list[Visit]:
    """Every visit's series below `case` (see the module docstring); the visits come back with their UIDs."""
    for v, visit in enumerate(visits):
        study = case / f"{visit.date[4:6]}-{visit.date[6:]}-{visit.date[:4]}-NA-{visit.description}-{40000 + v}"

        def place(number: int, description: str, study: Path = study, v: int = v) -> tuple[Path, str]:
            if tcia:
                return study / f"{number}.000000-{description}-{91000 + number}", "1-"
            return case, f"v{v}s{number}-"

        pre = visit.phases[0]
        shape = pre.shape
        loc_dir, prefix = place(1, "3 Plane Loc")
        planes = [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0, 1.0, 0.0, 0.0, 0.0, -1.0), (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)]
        visit.series["loc"] = [write_series(loc_dir, [pre[:3]], visit, number=1, description="3 Plane Loc",
                                            image_type=["ORIGINAL", "PRIMARY", "LOCALIZER"], prefix=prefix,
                                            orientations=planes)]
        t2_dir, prefix = place(2, "Ax T2 FSE")
        visit.series["t2"] = [write_series(t2_dir, [pre * 0.5], visit, number=2, description="Ax T2 FSE",
                                           image_type=DCE_TYPE, te=102.0, tr=4000.0, flip=90.0, prefix=prefix)]
        visit.folders["t2"] = t2_dir
        times = TIMES[: len(visit.phases)]
        if per_phase:
            visit.series["dce"] = []
            for k, phase in enumerate(visit.phases):
                folder, prefix = place(3 + k, f"Ax Vibrant ph{k}")
                visit.series["dce"].append(write_series(folder, [phase], visit, number=3 + k,
                                                        description=f"Ax Vibrant ph{k}", image_type=DCE_TYPE,
                                                        times_s=(times[k],), prefix=prefix))
                visit.folders.setdefault("dce", folder)
        else:
            folder, prefix = place(3, "Ax Vibrant MultiPhase")
            visit.series["dce"] = [write_series(folder, visit.phases, visit, number=3,
                                                description="Ax Vibrant MultiPhase", image_type=DCE_TYPE,
                                                times_s=times, tpi=tpi, prefix=prefix)]
            visit.folders["dce"] = folder
        pe = np.clip((visit.phases[1] - pre) / np.maximum(pre, 1) * 1000, 0, None)
        for name, number, image_type in (("pe1", 800, ["DERIVED", "PRIMARY", "DCE", "PE1"]),
                                         ("ser", 801, ["DERIVED", "PRIMARY", "DCE", "SER"])):
            folder, prefix = place(number, f"image_dce_{name}")
            visit.series[name] = [write_series(folder, [pe], visit, number=number, description=f"image_dce_{name}",
                                               image_type=image_type, prefix=prefix)]
            visit.folders[name] = folder
        if breast is not None:
            from .helpers import image

            seg_dir, prefix = place(1000, "Breast VOI")
            seg_dir.mkdir(parents=True, exist_ok=True)
            fractional_seg(breast, image(np.zeros(shape)), seg_dir / f"{prefix}1.dcm", study_uid=visit.study_uid)
    return visits
