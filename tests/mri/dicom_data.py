"""DICOM written the way real scanners and tools write it, for the real-data tests (issue 15).

`ge_one_series`: one series holding all phases, no Temporal Position Identifier, per-slice Content Time only,
the pre-contrast slices straddling a second, field strength in gauss (as a GE header gave: 15000).
`truncate_pixels`: a series whose files are cut short inside their pixel data.
Whole exams and DICOM SEGs as tools write them come from `radpath.synth.exams` (benchmarks use them too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from radpath.synth.exams import TIMES, Visit, _tm, fractional_seg, write_exam, write_series
from radpath.synth.mri import Protocol, write_dicom

__all__ = ["TIMES", "Visit", "fractional_seg", "ge_one_series", "truncate_pixels", "write_exam", "write_series"]


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


def truncate_pixels(folder: Path, keep: int = 200) -> None:
    """Cut every file of a series short inside its pixel data: its header reads, its pixels do not."""
    for path in sorted(folder.glob("*.dcm")):
        data = path.read_bytes()
        path.write_bytes(data[: data.rindex(b"\xe0\x7f\x10\x00") + 12 + keep])


