"""Read a case's DCE phases (DICOM or NIfTI) and its masks, with the metadata that was used.

Layouts of a case folder (`read_dce(path)`):

* NIfTI, one file per phase: `dce.json` = {"phases": [{"file": "phase0.nii.gz", "time_s": 0}, ...],
  "vendor": ..., ...}; or a 4D file: {"file": "dce.nii.gz", "times_s": [...]}. A 4D `.nii(.gz)` path
  given directly reads its times from the JSON sidecar of the same stem.
* DICOM, anywhere below the folder (links followed): one series per phase, or one series holding all
  phases; see `radpath.mri.dicom` for how a series is split and which rule was used.

Only technical metadata is kept (vendor, model, field strength, spacing, times): no names, dates of
birth or identifiers from the headers ever leave this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import MRIError

NIFTI_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
SIDECAR = "dce.json"
GEOMETRY_TOL = 1e-3


@dataclass
class DCE:
    phases: list[Any]                       # SimpleITK images (float32), one geometry
    times_s: list[float]                    # header start times relative to the first phase
    meta: dict[str, Any] = field(default_factory=dict)
    sources: list[list[str]] = field(default_factory=list)   # DICOM: each phase's slice files in image order


def _is_image_file(path: Path) -> bool:
    return any(path.name.lower().endswith(suffix) for suffix in NIFTI_SUFFIXES)


def _read_image(path: Path, case_id: str) -> Any:
    import SimpleITK as sitk

    if not path.exists():
        raise MRIError(case_id, "file does not exist", file=str(path))
    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else "unreadable"
        raise MRIError(case_id, f"not a readable image ({first})", file=str(path)) from exc


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


def _check_phases(phases: list[Any], files: list[str], case_id: str) -> list[Any]:
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


# ---------------------------------------------------------------- NIfTI


def _read_nifti(path: Path, case_id: str) -> DCE:
    import SimpleITK as sitk

    if path.is_dir():
        sidecar = path / SIDECAR
    else:
        stem = path.name[: -len(".nii.gz")] if path.name.endswith(".nii.gz") else path.stem
        sidecar = path.with_name(stem + ".json")
    if not sidecar.exists():
        raise MRIError(case_id, f"no phase-time sidecar {sidecar.name} next to the NIfTI file(s)", file=str(sidecar))
    try:
        info = json.loads(sidecar.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MRIError(case_id, f"sidecar is not valid JSON: {exc}", file=str(sidecar)) from exc
    folder = sidecar.parent
    if "phases" in info:
        entries = info["phases"]
        files = [str(folder / e["file"]) for e in entries]
        phases = [_read_image(Path(f), case_id) for f in files]
        times = [float(e["time_s"]) for e in entries]
    else:
        file = folder / info.get("file", path.name if path.is_file() else "dce.nii.gz")
        image4d = _read_image(file, case_id)
        if image4d.GetDimension() != 4:
            raise MRIError(case_id, f"expected a 4D image, found {image4d.GetDimension()}D", file=str(file))
        n = image4d.GetSize()[3]
        phases = [sitk.Extract(image4d, [*image4d.GetSize()[:3], 0], [0, 0, 0, k]) for k in range(n)]
        files = [str(file)] * n
        times = [float(t) for t in info.get("times_s", [])]
        if len(times) != n:
            raise MRIError(case_id, f"sidecar lists {len(times)} times for {n} phases", file=str(sidecar))
    if len(times) != len(phases):
        raise MRIError(case_id, "sidecar times and phases differ in number", file=str(sidecar))
    phases = _check_phases(phases, files, case_id)
    from radpath.mri.dicom import field_strength_tesla

    tesla, unit = field_strength_tesla(info.get("field_strength_t"))
    meta = {
        "format": "nifti",
        "vendor": info.get("vendor"),
        "field_strength_t": tesla,
        "field_strength_unit": unit,
        "split_by": "sidecar",
        "time_source": "sidecar",
        "files": [Path(f).name for f in files],
        **geometry(phases[0]),
    }
    return DCE(phases, [t - times[0] for t in times], meta)


# ---------------------------------------------------------------- DICOM: radpath.mri.dicom


def read_dce(path: str | Path, case_id: str | None = None) -> DCE:
    """The phases of a case folder (or 4D NIfTI file) with their times in seconds and the metadata used."""
    path = Path(path)
    case = case_id or (path.name if path.is_dir() else path.parent.name)
    if not path.exists():
        raise MRIError(case, "DCE path does not exist", file=str(path))
    if path.is_file():
        if _is_image_file(path):
            return _read_nifti(path, case)
        raise MRIError(case, "not a NIfTI file or case folder", file=str(path))
    if (path / SIDECAR).exists():
        return _read_nifti(path, case)
    from radpath.mri.dicom import read_dicom

    return read_dicom(path, case)


# ---------------------------------------------------------------- masks


def _read_seg(path: Path, case_id: str) -> Any:
    import highdicom as hd
    import pydicom
    import SimpleITK as sitk

    seg = hd.seg.Segmentation.from_dataset(pydicom.dcmread(str(path)))
    volume = seg.get_volume(combine_segments=True)
    image = sitk.GetImageFromArray(np.transpose(volume.array > 0, (2, 1, 0)).astype(np.uint8))
    affine = volume.affine
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple((affine[:3, :3] / spacing).flatten().tolist()))
    image.SetOrigin(tuple(float(v) for v in affine[:3, 3]))
    return image


def read_mask(path: str | Path, reference: Any, case_id: str, what: str = "tumour mask") -> Any:
    """A binary mask (NIfTI, NRRD or DICOM SEG) on the grid of `reference`.

    DICOM SEGs are read by highdicom, or where it cannot, frame by frame (`radpath.mri.seg`).

    A mask on another grid that overlaps the image is resampled (nearest neighbour); an empty mask,
    or one that falls outside the image, is an error naming the case and file.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.exists():
        raise MRIError(case_id, f"{what} does not exist", file=str(path))
    if _is_image_file(path):
        mask = _read_image(path, case_id)
    else:
        try:
            mask = _read_seg(path, case_id)
        except Exception as library_error:
            # SEGs that real tools write and highdicom refuses: place each frame by its position
            from radpath.mri.seg import read_seg_on

            try:
                mask = read_seg_on(path, reference)
            except Exception as exc:
                raise MRIError(case_id, f"{what} is neither an image file nor a DICOM SEG ({exc}; highdicom: "
                               f"{library_error})", file=str(path)) from exc
    if mask.GetDimension() != 3:
        raise MRIError(case_id, f"{what} is {mask.GetDimension()}D, expected 3D", file=str(path))
    mask = sitk.Cast(mask > 0, sitk.sitkUInt8)
    if not sitk.GetArrayViewFromImage(mask).any():
        raise MRIError(case_id, f"{what} is empty", file=str(path))
    diff = same_geometry(reference, mask)
    if diff:
        mask = sitk.Resample(mask, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        if not sitk.GetArrayViewFromImage(mask).any():
            raise MRIError(case_id, f"{what} lies outside the image (mask geometry differs: {diff})", file=str(path))
    return mask
