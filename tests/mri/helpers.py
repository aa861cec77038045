"""Helpers of the MRI tests: tiny DCE cases written as real NIfTI files, and the IBSI phantom's reference values."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

IBSI = Path(__file__).parent / "data" / "ibsi"


def ibsi_reference() -> dict[str, tuple[float, float]]:
    """IBSI tag -> (value, tolerance); values are given to 3 significant digits, so the tolerance is at least
    half a unit of the last significant digit given."""
    out = {}
    with (IBSI / "reference_values.csv").open() as handle:
        for value, tolerance, tag in csv.reader(handle, delimiter=";"):
            if not value or value == "reference value":
                continue
            text = value.lstrip("-")
            decimals = len(text.split(".")[1]) if "." in text else 0
            number = float(value)
            # the unit of the last digit given, at most 3 significant digits (1490 = 1.49e3: unit 10)
            unit = max(10.0 ** -decimals, 10.0 ** (math.floor(math.log10(abs(number))) - 2) if number else 0.0)
            out[tag] = (number, max(float(tolerance or 0), 0.5 * unit))
    return out


def image(array: np.ndarray, spacing: tuple[float, float, float] = (2.0, 2.0, 2.0), dtype: Any = np.float32) -> Any:
    img = sitk.GetImageFromArray(np.asarray(array).astype(dtype))
    img.SetSpacing(spacing)
    return img


def phantom_arrays(shape_zyx: tuple[int, int, int] = (16, 24, 24), n_phases: int = 4) -> dict[str, Any]:
    """Air border, fat (1000), a parenchyma slab (400) and a tumour cube (420); enhancement known per tissue."""
    nz, ny, nx = shape_zyx
    breast = np.zeros(shape_zyx, bool)
    breast[2:-2, 2:-2, 2:-2] = True
    parenchyma = breast.copy()
    parenchyma[:, ny // 2:, :] = False
    tumour = np.zeros(shape_zyx, bool)
    tumour[5:11, 8:14, 9:15] = True
    parenchyma &= ~tumour
    pre = np.full(shape_zyx, 10.0)
    pre[breast] = 1000.0
    pre[parenchyma] = 400.0
    pre[tumour] = 420.0
    pe = np.where(tumour, 1.0, np.where(parenchyma, 0.3, 0.02))
    phases = [pre]
    for k in range(1, n_phases):
        level = min(1.0, k / 1.0) * (1.0 if k <= 1 else 0.8 ** (k - 1))
        phases.append(pre * (1 + pe * np.where(tumour, level, 1.0 if k else 0.0)))
    return {"phases": phases, "tumour": tumour, "breast": breast, "parenchyma": parenchyma}


def write_nifti_case(folder: Path, arrays: dict[str, Any], times: list[float] | None = None,
                     spacing: tuple[float, float, float] = (2.0, 2.0, 2.0)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    times = times or [0.0, 90.0, 240.0, 390.0][: len(arrays["phases"])]
    entries = []
    for k, array in enumerate(arrays["phases"]):
        sitk.WriteImage(image(array, spacing, np.int16), str(folder / f"phase{k}.nii.gz"))
        entries.append({"file": f"phase{k}.nii.gz", "time_s": times[k]})
    (folder / "dce.json").write_text(json.dumps({"phases": entries, "vendor": "TestVendor"}))
    sitk.WriteImage(image(arrays["tumour"], spacing, np.uint8), str(folder / "mask.nii.gz"))
    sitk.WriteImage(image(arrays["breast"], spacing, np.uint8), str(folder / "breast_mask.nii.gz"))
    return folder
