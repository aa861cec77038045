"""Breast MR exams written as scanners and archives deliver them, for the tests and benchmarks of reading real data.

`write_exam`: a whole exam as it is downloaded (issue 22): per visit a 3-plane localiser, an axial T2 on the same
slices as the DCE, the DCE (all phases in one series, or one series per phase), GE's derived PE1 and SER maps
(ImageType DERIVED\\PRIMARY\\DCE\\PE1 / ...\\SER, one time point, as GE writes them) and a breast SEG; in
TCIA's Patient/Study/Series folders (`<date>-NA-<study>-<n>/<number>.000000-<series>-<n>/1-01.dcm`) or all in
one flat folder. Headers carry what real ones carry (GE vendor and model, field strength in gauss, a patient
name, ID and birth date that must never reach the warehouse) and optionally `private_tags` private elements
per file, as GE headers hold hundreds.
`fractional_seg`: a FRACTIONAL DICOM SEG with one segment "Breast", frames placed only by Image Position
(Patient) with a one-dimensional Dimension Index (the layout of a public breast-mask SEG highdicom refuses).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

SEG_STORAGE = UID("1.2.840.10008.5.1.4.1.1.66.4")


def _tm(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:02.0f}"


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


MR_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
DCE_TYPE = ["ORIGINAL", "PRIMARY", "OTHER"]
TIMES = (0.0, 90.0, 240.0, 390.0)


@dataclass
class Visit:
    """One study of an exam: its date, DCE phases (z, y, x arrays) and the UIDs written (filled by write_exam)."""

    date: str
    phases: list[np.ndarray]
    description: str = "MRI BREAST BILATERAL W WO CONTRAST"
    time: str = "093000"
    times_s: tuple[float, ...] = TIMES                             # start of each DCE phase, s
    study_uid: str = field(default_factory=generate_uid)
    frame_uid: str = field(default_factory=generate_uid)
    series: dict[str, list[str]] = field(default_factory=dict)      # name -> series UIDs written
    folders: dict[str, Path] = field(default_factory=dict)          # name -> first series folder


# GE MR headers' private groups and about how many elements each holds (of ~300 in all)
PRIVATE_GROUPS = ((0x0019, 0.43), (0x0021, 0.12), (0x0023, 0.02), (0x0025, 0.03), (0x0027, 0.08), (0x0043, 0.32))


def _private(ds: Dataset, n: int) -> None:
    """`n` private elements spread over GE's private groups as GE headers spread them (they make most of a real
    header's length: hundreds of elements)."""
    left = n
    for k, (group, share) in enumerate(PRIVATE_GROUPS):
        count = left if k == len(PRIVATE_GROUPS) - 1 else min(left, round(n * share))
        left -= count
        for j in range(count):
            block = ds.private_block(group, f"GEMS_PRIV_{j // 255:02d}", create=True)
            block.add_new(j % 255, "DS", f"{j * 0.125:.6f}")


def write_series(folder: Path, volumes: list[np.ndarray], visit: Visit, *, number: int, description: str,
                 image_type: list[str], times_s: tuple[float, ...] = (0.0,), tpi: bool = False,
                 te: float = 2.1, tr: float = 4.5, flip: float = 10.0, prefix: str = "1-",
                 orientations: Seq[tuple[float, ...]] | None = None, spacing: float = 2.0,
                 private_tags: int = 0) -> str:
    """One MR series of `volumes` (several: phases in one series, in instance order phase by phase); files
    `<prefix><instance>.dcm` as TCIA names them; returns the series UID. Cubic `spacing` mm voxels, origin 0,
    axial unless `orientations` (one per slice) says otherwise."""
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
            ds.ImagePositionPatient = [f"{v:.4f}" for v in normal * spacing * z]
            ds.PixelSpacing, ds.SliceThickness = [f"{spacing:g}", f"{spacing:g}"], f"{spacing:g}"
            _private(ds, private_tags)
            ds.Rows, ds.Columns = volume.shape[1], volume.shape[2]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.PixelData = np.rint(volume[z]).astype("<u2").tobytes()
            ds.save_as(folder / f"{prefix}{instance:0{width}d}.dcm", enforce_file_format=True)
    return uid


def write_exam(case: Path, visits: list[Visit], *, per_phase: bool = False, tcia: bool = True, tpi: bool = False,
               breast: np.ndarray | None = None, spacing: float = 2.0, private_tags: int = 0) -> list[Visit]:
    """Every visit's series below `case` (see the module docstring); the visits come back with their UIDs."""
    kw: dict[str, Any] = {"spacing": spacing, "private_tags": private_tags}
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
                                            image_type=["ORIGINAL", "PRIMARY", "LOCALIZER"], prefix=prefix, **kw,
                                            orientations=planes)]
        t2_dir, prefix = place(2, "Ax T2 FSE")
        visit.series["t2"] = [write_series(t2_dir, [pre * 0.5], visit, number=2, description="Ax T2 FSE",
                                           image_type=DCE_TYPE, te=102.0, tr=4000.0, flip=90.0, prefix=prefix, **kw)]
        visit.folders["t2"] = t2_dir
        times = visit.times_s[: len(visit.phases)]
        if per_phase:
            visit.series["dce"] = []
            for k, phase in enumerate(visit.phases):
                folder, prefix = place(3 + k, f"Ax Vibrant ph{k}")
                visit.series["dce"].append(write_series(folder, [phase], visit, number=3 + k,
                                                        description=f"Ax Vibrant ph{k}", image_type=DCE_TYPE,
                                                        times_s=(times[k],), prefix=prefix, **kw))
                visit.folders.setdefault("dce", folder)
        else:
            folder, prefix = place(3, "Ax Vibrant MultiPhase")
            visit.series["dce"] = [write_series(folder, visit.phases, visit, number=3,
                                                description="Ax Vibrant MultiPhase", image_type=DCE_TYPE,
                                                times_s=times, tpi=tpi, prefix=prefix, **kw)]
            visit.folders["dce"] = folder
        pe = np.clip((visit.phases[1] - pre) / np.maximum(pre, 1) * 1000, 0, None)
        for name, number, image_type in (("pe1", 800, ["DERIVED", "PRIMARY", "DCE", "PE1"]),
                                         ("ser", 801, ["DERIVED", "PRIMARY", "DCE", "SER"])):
            folder, prefix = place(number, f"image_dce_{name}")
            visit.series[name] = [write_series(folder, [pe], visit, number=number, description=f"image_dce_{name}",
                                               image_type=image_type, prefix=prefix, **kw)]
            visit.folders[name] = folder
        if breast is not None:
            import SimpleITK as sitk

            reference = sitk.Image([int(n) for n in shape[::-1]], sitk.sitkFloat32)
            reference.SetSpacing((spacing, spacing, spacing))
            seg_dir, prefix = place(1000, "Breast VOI")
            seg_dir.mkdir(parents=True, exist_ok=True)
            fractional_seg(breast, reference, seg_dir / f"{prefix}1.dcm", study_uid=visit.study_uid)
    return visits
