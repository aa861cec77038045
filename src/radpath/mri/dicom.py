"""DCE phases from DICOM MR slices, as scanners really write them.

A case folder holds one series per phase, or one series holding every phase. A single series is split by
the first rule that applies, and the rule is recorded (`meta["split_by"]`, shown by `radpath mri inspect`
and stored in `mri_case_qc.phase_split`):

1. `TemporalPositionIdentifier` when the slices carry several values of it;
2. `slice-position repetition`: in acquisition order (Instance Number) the slice positions repeat once per
   phase; used when every consecutive run of N slices (N the number of distinct positions) holds each
   position exactly once;
3. `time clustering`: header times (trigger, acquisition or content time) grouped into phases where the gap
   between consecutive sorted times exceeds `TIME_TOLERANCE_S`. Per-slice times of one phase spread over a
   second or more (a GE series whose pre-contrast slices straddle hh:mm:03 and hh:mm:04), so exact times
   would split one phase in two.

Every phase must then hold the full slice set, else the error names the phase and what it lacks.
Magnetic field strengths above `GAUSS_ABOVE` tesla cannot be tesla (no human scanner exceeds 11.7 T):
they are read as gauss and converted, and the conversion is recorded.
Only technical metadata leaves this module: no names, dates of birth or identifiers from the headers.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import MRIError
from radpath.files import walk_files
from radpath.mri.io import DCE, _check_phases, _is_image_file, geometry

TIME_TOLERANCE_S = 10.0      # a larger gap between sorted slice times starts a new phase
GAUSS_ABOVE = 100.0          # MagneticFieldStrength above this is in gauss (1 T = 10,000 G)
POSITION_DECIMALS = 2        # slice positions (mm) equal to this many decimals are the same slice
SKIPPED_SUFFIXES = {".json", ".txt", ".png", ".csv", ".md", ".yaml", ".yml"}


def field_strength_tesla(value: Any) -> tuple[float | None, str | None]:
    """(tesla, unit note) of a header or sidecar field strength; gauss values (> GAUSS_ABOVE) are converted."""
    if value in (None, ""):
        return None, None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, None
    if number > GAUSS_ABOVE:
        return number / 10000.0, f"{number:g} G read as gauss"
    return number, "T"


def _tm_seconds(value: Any) -> float | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        hh, mm, ss = int(text[0:2]), int(text[2:4] or 0), float(text[4:] or 0)
    except ValueError:
        return None
    return hh * 3600 + mm * 60 + ss


def time_of(ds: Any) -> tuple[float | None, str]:
    """(seconds, source) of a slice: Trigger Time, else Acquisition, Content or Series Time."""
    trigger = ds.get("TriggerTime")
    if trigger not in (None, ""):
        return float(trigger) / 1000.0, "TriggerTime"
    for keyword in ("AcquisitionTime", "ContentTime", "SeriesTime"):
        seconds = _tm_seconds(ds.get(keyword))
        if seconds is not None:
            return seconds, keyword
    return None, "none"


def slice_position(ds: Any) -> float:
    """Position (mm) of a slice along the normal of its orientation."""
    orientation = np.array([float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])])
    normal = np.cross(orientation[:3], orientation[3:])
    position = np.array([float(v) for v in ds.get("ImagePositionPatient", [0, 0, 0])])
    return round(float(position @ normal), POSITION_DECIMALS)


def dicom_files(folder: Path) -> list[Path]:
    """Candidate DICOM files below a case folder (links followed), without images, notes and masks."""
    def keep(p: Path) -> bool:
        return (not _is_image_file(p) and p.suffix.lower() not in SKIPPED_SUFFIXES
                and "mask" not in p.name.lower() and not p.name.startswith("."))

    return list(walk_files(folder, keep=keep))


Item = tuple[Path, Any]


def cluster_times(times: list[float], tolerance_s: float = TIME_TOLERANCE_S) -> list[int]:
    """Phase index of each time: sorted times form one phase until a gap exceeds `tolerance_s`."""
    order = np.argsort(times, kind="stable")
    labels = [0] * len(times)
    label = 0
    for previous, current in zip(order, order[1:], strict=False):
        if times[current] - times[previous] > tolerance_s:
            label += 1
        labels[current] = label
    return labels


def split_series(items: list[Item], case_id: str) -> tuple[list[list[Item]], str]:
    """The phases of one series (slices in acquisition order) and the rule used (see the module docstring)."""
    items = sorted(items, key=lambda it: int(it[1].get("InstanceNumber", 0) or 0))
    positions = [slice_position(ds) for _, ds in items]
    full = set(positions)
    n_slices = len(full)
    tpi = [it[1].get("TemporalPositionIdentifier") for it in items]
    times = [time_of(ds)[0] for _, ds in items]
    groups: dict[Any, list[Item]] = defaultdict(list)
    if None not in tpi and len(set(tpi)) > 1:
        for it, value in zip(items, tpi, strict=True):
            groups[float(value)].append(it)
        how = "TemporalPositionIdentifier"
    elif len(items) % n_slices == 0 and len(items) > n_slices and all(
        len(set(positions[k: k + n_slices])) == n_slices for k in range(0, len(items), n_slices)
    ):
        for k, it in enumerate(items):
            groups[k // n_slices].append(it)
        how = "slice-position repetition"
    elif None not in times:
        for it, label in zip(items, cluster_times([float(t) for t in times if t is not None]), strict=True):
            groups[label].append(it)
        how = f"time clustering (tolerance {TIME_TOLERANCE_S:g} s)"
    else:
        raise MRIError(case_id, f"{len(items)} slices of one series at {n_slices} positions cannot be split into "
                       "phases: no Temporal Position Identifier, positions do not repeat in instance order, "
                       "and some slices carry no time", file=str(items[0][0]))
    phases = [groups[key] for key in sorted(groups)]
    for k, group in enumerate(phases):
        have = [slice_position(ds) for _, ds in group]
        missing, extra = len(full - set(have)), len(have) - len(set(have))
        if missing or extra:
            raise MRIError(case_id, f"phase {k} (split by {how}) holds {len(set(have))} of the {n_slices} slice "
                           f"positions" + (f" and {extra} repeated slice(s)" if extra else ""),
                           file=str(group[0][0]))
    return phases, how


def _as_list(value: Any) -> list[Any]:
    if value in (None, ""):
        return []
    return list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]


def read_dicom(folder: Path, case_id: str) -> DCE:
    import pydicom
    import SimpleITK as sitk

    headers: list[Item] = []
    for path in dicom_files(folder):
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
    series: dict[str, list[Item]] = defaultdict(list)
    for path, ds in headers:
        series[str(ds.get("SeriesInstanceUID", "?"))].append((path, ds))
    if len(series) > 1:
        groups, how = list(series.values()), "series"
    else:
        groups, how = split_series(next(iter(series.values())), case_id)
    phases: list[Any] = []
    times_s: list[float] = []
    files: list[str] = []
    slices: list[list[str]] = []
    sources: set[str] = set()
    for group in groups:
        group = sorted(group, key=lambda it: slice_position(it[1]))
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([str(p) for p, _ in group])
        try:
            phases.append(reader.Execute())
        except RuntimeError as exc:
            message = f"DICOM series cannot be read: {str(exc).strip()[:160]}"
            raise MRIError(case_id, message, file=str(group[0][0])) from exc
        stamped = [(t, source) for t, source in (time_of(ds) for _, ds in group) if t is not None]
        times_s.append(min(t for t, _ in stamped) if stamped else float("nan"))
        sources.update(source for _, source in stamped)
        files.append(str(group[0][0]))
        slices.append([str(p) for p, _ in group])
    by_time = how in {"series", "slice-position repetition"} or how.startswith("time")
    if by_time and not np.isnan(times_s).any():
        order: list[int] = [int(k) for k in np.argsort(times_s, kind="stable")]
    else:
        order = list(range(len(groups)))
    phases = [phases[k] for k in order]
    files = [files[k] for k in order]
    slices = [slices[k] for k in order]
    times_s = [times_s[k] for k in order]
    if np.isnan(times_s).any():
        raise MRIError(case_id, "DICOM phases carry no trigger, acquisition or content time", file=files[0])
    phases = _check_phases(phases, files, case_id)
    first = headers[0][1]
    tesla, unit = field_strength_tesla(first.get("MagneticFieldStrength"))
    meta = {
        "format": "dicom",
        "vendor": str(first.get("Manufacturer", "")) or None,
        "model": str(first.get("ManufacturerModelName", "")) or None,
        "field_strength_t": tesla,
        "field_strength_unit": unit,
        "time_source": "/".join(sorted(sources)) or "none",
        "split_by": how,
        "scan_options": "\\".join(str(v) for v in _as_list(first.get("ScanOptions"))) or None,
        "series_description": str(first.get("SeriesDescription", "")) or None,
        "files": [Path(f).name for f in files],
        **geometry(phases[0]),
    }
    return DCE(phases, [t - times_s[0] for t in times_s], meta, slices)
