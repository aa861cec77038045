"""The files of an automatic tumour mask, for a radiologist to review and correct: NIfTI and DICOM SEG.

`write_mask(folder, case_id, method, mask, sources)` writes `tumour_<method>.nii.gz` (the mask on the pre-contrast
grid) and, when the case was read from DICOM, `tumour_<method>.seg.dcm`: a BINARY DICOM Segmentation (highdicom)
that references the pre-contrast phase's slices (its study, series and instances), one frame per slice, so that
3D Slicer or OHIF open it over the series it came from. A corrected SEG (or NIfTI) given back as the case's
`mri.mask` is read by `radpath.mri.io.read_mask` onto the same grid. A NIfTI case has no DICOM series to
reference: it gets the NIfTI file only.

The SEG carries the source images' patient and study attributes (as every SEG must, for a viewer to place it with
its images); it is written beside the study's own files, never into the warehouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SEG_SERIES_NUMBER = 9901
# Type 2 attributes a SEG copies from its source images: present (possibly empty) in every valid image, but absent
# from some de-identified downloads; an absent one is given empty, as the standard allows for Type 2
TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                "ReferringPhysicianName", "StudyID", "AccessionNumber")
METHOD_NAMES = {"auto-ftv": "I-SPY functional tumour volume (PE >= 70 %, background threshold, largest component)",
                "auto-fcm": "fuzzy C-means of the early and late enhancement, most-enhancing cluster"}


@dataclass(frozen=True)
class MaskFiles:
    nifti: Path
    seg: Path | None
    seg_error: str | None = None       # why a DICOM case got no SEG (the NIfTI is written regardless)


def write_mask(folder: Path, case_id: str, method: str, mask: Any, sources: Sequence[str]) -> MaskFiles:
    """Write a case's mask (SimpleITK uint8 on the pre-contrast grid) as NIfTI and, with `sources` (the
    pre-contrast slice files in image order), as DICOM SEG; returns the paths."""
    import SimpleITK as sitk

    from radpath.paths import output_dir

    folder = output_dir(folder, f"tumour mask folder of case {case_id}")
    nifti = folder / f"tumour_{method}.nii.gz"
    sitk.WriteImage(sitk.Cast(mask > 0, sitk.sitkUInt8), str(nifti), True)
    if not sources:
        return MaskFiles(nifti, None)
    seg = folder / f"tumour_{method}.seg.dcm"
    try:
        write_seg(sitk.GetArrayFromImage(mask) > 0, sources, seg, method)
    except Exception as exc:  # highdicom refuses a source series: the NIfTI stands, the reason is reported
        return MaskFiles(nifti, None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
    return MaskFiles(nifti, seg)


def write_seg(mask: np.ndarray, sources: Sequence[str], path: Path, method: str) -> Path:
    """A BINARY DICOM SEG of `mask` (z, y, x: one frame per source slice, rows and columns as the slices) that
    references the `sources` slices."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    import radpath

    images = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in sources]
    for image in images:
        for keyword in TYPE2_COPIED:
            if keyword not in image:
                setattr(image, keyword, "")
    if len(images) != mask.shape[0] or any((int(d.Rows), int(d.Columns)) != mask.shape[1:] for d in images):
        raise ValueError(f"mask {mask.shape} does not match the {len(images)} source slices of its series")
    version = getattr(radpath, "__version__", "0")
    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"radpath {method}", version=version,
        family=codes.cid7162.ClusterAnalysis if method == "auto-fcm" else codes.cid7162.HistogramAnalysis)
    segment = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Tumour",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algorithm)
    seg = hd.seg.Segmentation(
        source_images=images, pixel_array=mask.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[segment],
        series_instance_uid=hd.UID(), series_number=SEG_SERIES_NUMBER, sop_instance_uid=hd.UID(),
        instance_number=1, manufacturer="radpath", manufacturer_model_name="radpath", software_versions=version,
        device_serial_number="0", content_label="TUMOUR",
        content_description=f"radpath {method}: {METHOD_NAMES.get(method, method)}"[:64],
        series_description=f"radpath tumour {method}", omit_empty_frames=False)
    seg.save_as(str(path))
    return path
