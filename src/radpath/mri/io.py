"""Read a case's DCE phases (DICOM or NIfTI) and its masks, with the metadata that was used.

Layouts of a case folder (`read_dce(path)`):

* NIfTI, one file per phase: `dce.json` = {"phases": [{"file": "phase0.nii.gz", "time_s": 0}, ...],
  "vendor": ..., ...}; or a 4D file: {"file": "dce.nii.gz", "times_s": [...]}. A 4D `.nii(.gz)` path
  given directly reads its times from the JSON sidecar of the same stem.
* DICOM, anywhere below the folder (links followed), as an exam is downloaded (several series, several
  visits): `radpath.mri.series` finds the dynamic series from headers alone, `radpath.mri.dicom` splits
  and reads its phases (one series per phase, or one series holding all phases).

Kept from the headers: technical metadata (vendor, model, field strength, spacing, times) and which study
and series were read (UIDs, numbers, descriptions, dates); never names, dates of birth or patient IDs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import MRIError
from radpath.mri.dicom import field_strength_tesla, read_phases
from radpath.mri.series import SeriesChoice, find_dce_series
from radpath.mri.volume import DCE, check_phases, geometry, is_image_file, read_image, same_geometry

SIDECAR = "dce.json"
__all__ = ["DCE", "geometry", "is_dicom_case", "read_dce", "read_mask", "same_geometry"]


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
        phases = [read_image(Path(f), case_id) for f in files]
        times = [float(e["time_s"]) for e in entries]
    else:
        file = folder / info.get("file", path.name if path.is_file() else "dce.nii.gz")
        image4d = read_image(file, case_id)
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
    phases = check_phases(phases, files, case_id)
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
    return DCE(phases, [t - times[0] for t in times], meta, [[f] for f in files])


# ---------------------------------------------------------------- the front door


def is_dicom_case(path: str | Path) -> bool:
    """Whether `read_dce` reads `path` as DICOM: a folder without a `dce.json` sidecar."""
    path = Path(path)
    return path.is_dir() and not (path / SIDECAR).exists()


def read_dce(path: str | Path, case_id: str | None = None, *, study: str | int = "first",
             series: str | int | None = None, choice: SeriesChoice | None = None) -> DCE:
    """The phases of a case folder (or 4D NIfTI file) with their times in seconds and the metadata used.

    A folder with a `dce.json` sidecar is read as NIfTI; any other folder as DICOM: the dynamic series is
    found among everything below it from headers alone (`radpath.mri.series`; `study` and `series` are the
    manifest's `mri.study` / `mri.series`, or give the `choice` already made), and only its pixel data is
    read. The choice (study, series, every skipped series and why) is in `meta` under
    `radpath.mri.series.RECORD_COLUMNS`.
    """
    path = Path(path)
    case = case_id or (path.name if path.is_dir() else path.parent.name)
    if not path.exists():
        raise MRIError(case, "DCE path does not exist", file=str(path))
    if path.is_file():
        if is_image_file(path):
            return _read_nifti(path, case)
        raise MRIError(case, "not a NIfTI file or case folder", file=str(path))
    if not is_dicom_case(path):
        return _read_nifti(path, case)
    choice = choice or find_dce_series(path, case, study=study, series=series)
    dce = read_phases(choice.phases, choice.acquisition.split_by, case)
    dce.meta.update(choice.record())
    return dce


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
    if is_image_file(path):
        mask = read_image(path, case_id)
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
