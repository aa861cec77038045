"""Read a case's DCE phases (DICOM or NIfTI) and its masks, with the metadata that was used.

Layouts of a case folder (`read_dce(path)`):

* NIfTI, one file per phase: `dce.json` = {"phases": [{"file": "phase0.nii.gz", "time_s": 0}, ...],
  "vendor": ..., ...}; or a 4D file: {"file": "dce.nii.gz", "times_s": [...]}. A 4D `.nii(.gz)` path
  given directly reads its times from the JSON sidecar of the same stem.
* DICOM, anywhere below the folder: one series per phase (time from Trigger/Acquisition/Content/Series
  Time), or one series holding all phases, split by Temporal Position Identifier, by those times, or by
  slice positions that repeat in instance order.

Only technical metadata is kept (vendor, model, field strength, spacing, times): no names, dates of
birth or identifiers from the headers ever leave this module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
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
    meta = {
        "format": "nifti",
        "vendor": info.get("vendor"),
        "field_strength_t": info.get("field_strength_t"),
        "time_source": "sidecar",
        "files": [Path(f).name for f in files],
        **geometry(phases[0]),
    }
    return DCE(phases, [t - times[0] for t in times], meta)


# ---------------------------------------------------------------- DICOM


def _tm_seconds(value: Any) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        hh, mm, ss = int(text[0:2]), int(text[2:4] or 0), float(text[4:] or 0)
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def _time_of(ds: Any) -> tuple[float | None, str]:
    trigger = ds.get("TriggerTime")
    if trigger not in (None, ""):
        return float(trigger) / 1000.0, "TriggerTime"
    for keyword in ("AcquisitionTime", "ContentTime", "SeriesTime"):
        seconds = _tm_seconds(ds.get(keyword))
        if seconds is not None:
            return seconds, keyword
    return None, "none"


def _slice_position(ds: Any) -> float:
    orientation = np.array([float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])])
    normal = np.cross(orientation[:3], orientation[3:])
    position = np.array([float(v) for v in ds.get("ImagePositionPatient", [0, 0, 0])])
    return float(position @ normal)


def _dicom_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not _is_image_file(p) and p.suffix.lower() not in {".json", ".txt", ".png", ".csv"}
        and "mask" not in p.name.lower()
    )


def _read_dicom(folder: Path, case_id: str) -> DCE:
    import pydicom
    import SimpleITK as sitk

    headers = []
    for path in _dicom_files(folder):
        try:
            ds = pydicom.dcmread(str(path), stop_before_pixels=True)
        except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError) as exc:
            raise MRIError(case_id, f"not a readable DICOM file ({type(exc).__name__}: {exc})", file=str(path)) from exc
        if ds.get("Modality") in {"SEG", "RTSTRUCT", "SR"}:
            continue  # masks and reports that live next to the images
        if ds.get("Modality") != "MR" and "ImagePositionPatient" not in ds:
            raise MRIError(case_id, "DICOM file holds no image", file=str(path))
        headers.append((path, ds))
    if not headers:
        raise MRIError(case_id, "no DICOM or NIfTI images found in the case folder", file=str(folder))
    series: dict[str, list[tuple[Path, Any]]] = defaultdict(list)
    for path, ds in headers:
        series[str(ds.get("SeriesInstanceUID", "?"))].append((path, ds))
    groups: list[list[tuple[Path, Any]]]
    how = "series"
    if len(series) > 1:
        groups = list(series.values())
    else:
        items = sorted(next(iter(series.values())), key=lambda it: int(it[1].get("InstanceNumber", 0) or 0))
        tpi = {it[1].get("TemporalPositionIdentifier") for it in items}
        times = {_time_of(it[1])[0] for it in items}
        if len(tpi) > 1 and None not in tpi:
            key: Callable[[Any], float] = lambda it: float(it[1].TemporalPositionIdentifier)  # noqa: E731
            how = "TemporalPositionIdentifier"
        elif len(times) > 1 and None not in times:
            key, how = (lambda it: _time_of(it[1])[0] or 0.0), _time_of(items[0][1])[1]
        else:
            positions = [round(_slice_position(ds), 3) for _, ds in items]
            n_slices = len(set(positions))
            if len(items) % n_slices:
                raise MRIError(case_id, f"{len(items)} instances do not split into phases of {n_slices} slices",
                               file=str(items[0][0]))
            index = {id(it): k // n_slices for k, it in enumerate(items)}
            key, how = (lambda it: float(index[id(it)])), "repeated slice positions"
        split: dict[Any, list[tuple[Path, Any]]] = defaultdict(list)
        for it in items:
            split[key(it)].append(it)
        groups = [split[k] for k in sorted(split)]
    phases, times_s, files, sources = [], [], [], set()
    for group in groups:
        group = sorted(group, key=lambda it: _slice_position(it[1]))
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(p) for p, _ in group])
        try:
            phases.append(reader.Execute())
        except RuntimeError as exc:
            message = f"DICOM series cannot be read: {str(exc).strip()[:160]}"
            raise MRIError(case_id, message, file=str(group[0][0])) from exc
        t, source = _time_of(group[0][1])
        times_s.append(min((_time_of(ds)[0] or 0.0) for _, ds in group) if t is not None else float("nan"))
        sources.add(source)
        files.append(str(group[0][0]))
    by_time = how != "TemporalPositionIdentifier" and not np.isnan(times_s).any()
    order = np.argsort(times_s) if by_time else range(len(groups))
    phases = [phases[k] for k in order]
    files = [files[k] for k in order]
    times_s = [times_s[k] for k in order]
    if np.isnan(times_s).any():
        raise MRIError(case_id, "DICOM phases carry no trigger, acquisition or content time", file=files[0])
    phases = _check_phases(phases, files, case_id)
    first = headers[0][1]
    meta = {
        "format": "dicom",
        "vendor": str(first.get("Manufacturer", "")) or None,
        "model": str(first.get("ManufacturerModelName", "")) or None,
        "field_strength_t": float(first.get("MagneticFieldStrength")) if first.get("MagneticFieldStrength") else None,
        "time_source": "/".join(sorted(sources)),
        "split_by": how,
        "files": [Path(f).name for f in files],
        **geometry(phases[0]),
    }
    return DCE(phases, [t - times_s[0] for t in times_s], meta)


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
    return _read_dicom(path, case)


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
        except Exception as exc:
            raise MRIError(case_id, f"{what} is neither an image file nor a DICOM SEG ({exc})", file=str(path)) from exc
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
