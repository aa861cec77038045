"""The DCE volume every reader returns, and the checks shared by the NIfTI and DICOM readers.

This module sits below `radpath.mri.io` (NIfTI, masks, the front door `read_dce`) and `radpath.mri.dicom`
(DICOM headers and pixels), so that neither of them imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import MRIError
from radpath.mri.itk import itk_reason, quiet_itk

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
GEOMETRY_TOL = 1e-3


@dataclass
class DCE:
    """The phases of one DCE acquisition, in time order.

    `phase_files[k]` are the files phase k was read from: for DICOM the slices in the image's z order
    (what a DICOM SEG of phase k references); for NIfTI the one file of the phase.
    """

    phases: list[Any]                       # SimpleITK images (float32), one geometry
    times_s: list[float]                    # header start times relative to the first phase
    meta: dict[str, Any] = field(default_factory=dict)
    phase_files: list[list[str]] = field(default_factory=list)


def is_image_file(path: Path) -> bool:
    """A NIfTI, NRRD or MetaImage file (by name)."""
    return any(path.name.lower().endswith(suffix) for suffix in NIFTI_SUFFIXES)


def read_image(path: Path, case_id: str) -> Any:
    import SimpleITK as sitk

    if not path.exists():
        raise MRIError(case_id, "file does not exist", file=str(path))
    try:
        with quiet_itk():
            return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise MRIError(case_id, f"not a readable image ({itk_reason(exc, [path])})", file=str(path)) from exc


def geometry(image: Any) -> dict[str, Any]:
    return {
        "size": list(image.GetSize()),
        "spacing": [round(v, 6) for v in image.GetSpacing()],
        "origin": [round(v, 4) for v in image.GetOrigin()],
        "direction": [round(v, 6) for v in image.GetDirection()],
    }


def same_geometry(a: Any, b: Any, tol: float = GEOMETRY_TOL) -> str | None:
    """None when the grids match; otherwise a description of the first difference."""
    if a.GetSize() != b.GetSize():
        return f"size {b.GetSize()} vs {a.GetSize()}"
    for name in ("Spacing", "Origin", "Direction"):
        va, vb = np.array(getattr(a, f"Get{name}")()), np.array(getattr(b, f"Get{name}")())
        scale = max(1.0, float(np.abs(va).max()))
        if np.abs(va - vb).max() > tol * scale:
            return f"{name.lower()} {tuple(np.round(vb, 4))} vs {tuple(np.round(va, 4))}"
    return None


def check_phases(phases: list[Any], files: list[str], case_id: str) -> list[Any]:
    """The phases as float32 images, after checking there are several, 3-D, on one grid, finite, not negative."""
    import SimpleITK as sitk

    if len(phases) < 2:
        raise MRIError(case_id, f"a DCE study needs several phases, found {len(phases)}",
                       file=files[0] if files else None)
    out = []
    for k, (image, name) in enumerate(zip(phases, files, strict=True)):
        if image.GetDimension() != 3:
            raise MRIError(case_id, f"phase {k} is {image.GetDimension()}D, expected 3D", file=name)
        diff = same_geometry(phases[0], image)
        if diff:
            raise MRIError(case_id, f"phase {k} has a different geometry than phase 0: {diff}", file=name)
        image = sitk.Cast(image, sitk.sitkFloat32)
        values = sitk.GetArrayViewFromImage(image)
        if not np.isfinite(values).all():
            raise MRIError(case_id, f"phase {k} has NaN or infinite intensities", file=name)
        if float(values.min()) < 0:
            raise MRIError(case_id, f"phase {k} has negative intensities (min {float(values.min()):.3g})", file=name)
        out.append(image)
    return out
