"""DICOM MR headers and pixels, as scanners really write them.

Headers (read by `radpath.mri.series` without pixel data) give each slice's position and time; the phases of
one series are split by the first rule that applies, and the rule is recorded (`meta["split_by"]`, shown by
`radpath mri inspect` and stored in `mri_case_qc.phase_split`):

1. `TemporalPositionIdentifier` when the slices carry several values of it;
2. `slice-position repetition`: in acquisition order (Instance Number) the slice positions repeat once per
   phase; used when every consecutive run of N slices (N the number of distinct positions) holds each
   position exactly once;
3. `time clustering`: header times (trigger, acquisition or content time) grouped into phases where the gap
   between consecutive sorted times exceeds `TIME_TOLERANCE_S`. Per-slice times of one phase spread over a
   second or more (a GE series whose pre-contrast slices straddle hh:mm:03 and hh:mm:04), so exact times
   would split one phase in two.

Every phase must then hold the full slice set, else the error names the phase and what it lacks.
`read_phases` reads the pixels of the chosen phases only (which series those are is decided in
`radpath.mri.series`). Magnetic field strengths above `GAUSS_ABOVE` tesla cannot be tesla (no human scanner
exceeds 11.7 T): they are read as gauss and converted, and the conversion is recorded.
Only technical metadata leaves this module: no names, dates of birth or identifiers from the headers.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from struct import error as struct_error
from typing import Any

import numpy as np

from radpath.errors import MRIError
from radpath.files import walk_files
from radpath.mri.itk import itk_reason, quiet_itk
from radpath.mri.volume import DCE, check_phases, geometry, is_image_file

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


def _unreadable_slice(names: list[str], exc: RuntimeError) -> tuple[str, str]:
    """The first file of a series that SimpleITK cannot read alone, with the reason (a file cut short, say);
    the first file and the series' reason when each reads alone."""
    import SimpleITK as sitk

    for name in names:
        try:
            with quiet_itk():
                sitk.ReadImage(name)
        except RuntimeError as alone:
            return name, itk_reason(alone, [name])
    return names[0], itk_reason(exc, names)


def slice_position(ds: Any) -> float:
    """Position (mm) of a slice along the normal of its orientation (plain floats: called for every slice)."""
    o = [float(v) for v in ds.get("ImageOrientationPatient", None) or (1, 0, 0, 0, 1, 0)]
    p = [float(v) for v in ds.get("ImagePositionPatient", None) or (0, 0, 0)]
    normal = (o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3])
    return round(p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2], POSITION_DECIMALS)


def dicom_files(folder: Path) -> list[Path]:
    """Candidate DICOM files below a case folder (links followed), without images, notes and masks."""
    def keep(p: Path) -> bool:
        return (not is_image_file(p) and p.suffix.lower() not in SKIPPED_SUFFIXES
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




# Header elements radpath reads (`read_header`): everything the series choice, the phase split and the recorded
# metadata need. They all lie in groups 0008-0028, so a header is parsed only up to the end of group 0028: the
# private groups after it (GE's 0043, Siemens' 0029 CSA headers), the rest of the header and the pixel data are
# never read, and the first HEADER_BYTES of a file are parsed in memory (one read call per file).
HEADER_KEYWORDS = (
    "SpecificCharacterSet", "ImageType", "SOPClassUID", "SOPInstanceUID", "StudyDate", "SeriesDate", "StudyTime",
    "SeriesTime", "AcquisitionTime", "ContentTime", "Modality", "Manufacturer", "StudyDescription",
    "SeriesDescription", "ManufacturerModelName", "ScanOptions", "RepetitionTime", "EchoTime",
    "MagneticFieldStrength", "TriggerTime", "FlipAngle", "DiffusionBValue", "StudyInstanceUID",
    "SeriesInstanceUID", "SeriesNumber", "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient",
    "FrameOfReferenceUID", "TemporalPositionIdentifier", "NumberOfFrames", "Rows", "Columns", "PixelSpacing",
)
LAST_GROUP = 0x0028
HEADER_BYTES = 1 << 14           # GE headers reach group 0028 within ~5-12 KiB; longer ones are read on
NOT_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")   # a file named so that does not parse is a broken download


def _parse_header(handle: Any, tags: list[Any]) -> tuple[Any, bool]:
    """(dataset, whether parsing reached an element past LAST_GROUP) of a file object."""
    from pydicom.filereader import read_partial

    reached = False

    def past(tag: Any, vr: Any, length: int) -> bool:
        nonlocal reached
        reached = reached or tag.group > LAST_GROUP
        return reached

    return read_partial(handle, stop_when=past, specific_tags=tags), reached


def read_header(path: Path, case_id: str) -> Any | None:
    """The header elements of `HEADER_KEYWORDS` of a DICOM file, without its pixel data; None for a file
    that is not DICOM (a licence or note beside the series) unless it is named like DICOM (`.dcm`), which is
    an error naming the file."""
    import io

    import pydicom
    from pydicom.tag import Tag

    tags = [Tag(keyword) for keyword in HEADER_KEYWORDS]
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEADER_BYTES)
            whole = len(head) < HEADER_BYTES
            try:
                ds, reached = _parse_header(io.BytesIO(head), tags)
            except (EOFError, ValueError, KeyError, OSError, struct_error):
                if whole:
                    raise
                reached = False
            if not (reached or whole):      # a header longer than HEADER_BYTES: parse it from the file
                handle.seek(0)
                ds, _ = _parse_header(handle, tags)
        return ds
    except (pydicom.errors.InvalidDicomError, OSError, EOFError, ValueError, KeyError, struct_error) as exc:
        if isinstance(exc, pydicom.errors.InvalidDicomError) and not path.name.lower().endswith(NOT_DICOM_SUFFIXES):
            return None
        raise MRIError(case_id, f"not a readable DICOM file ({type(exc).__name__}: {exc})", file=str(path)) from exc


def phase_time(group: list[Item]) -> float | None:
    """Start time (s) of a phase: its earliest slice time (see `time_of`); None when no slice has one."""
    stamped = [t for t, _ in (time_of(ds) for _, ds in group) if t is not None]
    return min(stamped) if stamped else None


def read_phases(phases: list[list[Item]], how: str, case_id: str) -> DCE:
    """Read the pixel data of the given phases (in the given order; each the headers of its slices) into a DCE.

    Only these files are opened for pixels. The slices of a phase are stacked by their position along the
    slice normal; `DCE.phase_files` keeps that order.
    """
    import SimpleITK as sitk

    images: list[Any] = []
    times_s: list[float] = []
    files: list[str] = []
    phase_files: list[list[str]] = []
    sources: set[str] = set()
    for group in phases:
        group = sorted(group, key=lambda it: slice_position(it[1]))
        names = [str(p) for p, _ in group]
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(names)
        try:
            with quiet_itk():
                images.append(reader.Execute())
        except RuntimeError as exc:
            bad, reason = _unreadable_slice(names, exc)
            raise MRIError(case_id, f"DICOM series cannot be read: {Path(bad).name}: {reason}", file=bad) from exc
        start = phase_time(group)
        times_s.append(float("nan") if start is None else start)
        sources.update(source for t, source in (time_of(ds) for _, ds in group) if t is not None)
        files.append(names[0])
        phase_files.append(names)
    if np.isnan(times_s).any():
        raise MRIError(case_id, "DICOM phases carry no trigger, acquisition or content time", file=files[0])
    images = check_phases(images, files, case_id)
    first = phases[0][0][1]
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
        **geometry(images[0]),
    }
    return DCE(images, [t - times_s[0] for t in times_s], meta, phase_files)
