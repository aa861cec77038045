"""DICOM written the way real scanners and tools write it, for the real-data tests (issue 15).

`ge_one_series`: one series holding all phases, no Temporal Position Identifier, per-slice Content Time only,
the pre-contrast slices straddling a second, field strength in gauss (as a GE header gave: 15000).
`fractional_seg`: a FRACTIONAL DICOM SEG with one segment "Breast", frames placed only by Image Position
(Patient) with a one-dimensional Dimension Index (the layout of a public breast-mask SEG highdicom refuses).
"""

from __future__ import annotations

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
                   slices: list[int] | None = None) -> Path:
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
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
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
