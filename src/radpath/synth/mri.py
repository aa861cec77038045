"""Synthetic DCE-MRI: per patient with `has_mri` a multi-phase breast volume that carries the latent truth.

Each case has air, a half-ellipsoidal breast of fat with fibroglandular parenchyma (a smooth random
field thresholded at the patient's `parenchyma_fraction`), and an ellipsoidal tumour of volume
`tumour_volume_cc`, lobulated by `tumour_lobulation`. Enhancement follows a piecewise-linear curve of
the effective (centre-of-acquisition) time, reaching its plateau at 2 min and washing out towards
SER at 7.5 min: the tumour's PE map has mean `tumour_pe_mean`; its SER map mean `tumour_ser_mean` and
skewness `ser_skew` (spatially smooth heterogeneity); a fraction `bpe_fraction` of the parenchyma
enhances (PE > 0.2); parenchymal SER is `ts_bpe_ser`. A smooth multiplicative bias field (the same in
every phase) and white noise are added. Training cases have 2-7 post-contrast phases with varying
times, three vendors and spacings; validation cases have 3 phases. Files: NIfTI per phase with a
`dce.json` sidecar of times, or (every DICOM_EVERY-th training case) DICOM series, plus `mask.nii.gz`
and `breast_mask.nii.gz`, in `out/<cohort>/mri/<patient_id>/`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from radpath.synth.truth import TRAIN, VALID

SEED_OFFSET = 3003
DICOM_EVERY = 12
SIZE_XYZ = (64, 64, 40)
VENDORS = {  # vendor: (in-plane spacing, slice spacing, intensity scale)
    "SIEMENS": (1.8, 2.5, 1.0),
    "GE MEDICAL SYSTEMS": (2.0, 2.2, 1.6),
    "Philips Medical Systems": (1.7, 2.4, 0.7),
}
FAT, PARENCHYMA, TUMOUR, AIR = 1000.0, 450.0, 500.0, 10.0
NOISE_SD = 3.0


@dataclass(frozen=True)
class Protocol:
    times_s: tuple[float, ...]           # acquisition start times, pre first
    spacing_xyz: tuple[float, float, float]
    vendor: str
    scale: float
    size_xyz: tuple[int, int, int] = SIZE_XYZ


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return (field - field.mean()) / (field.std() + 1e-12)


def _skewed(u: np.ndarray, mean: float, sd: float, skew: float) -> np.ndarray:
    """Quantiles `u` of a distribution with this mean, SD and skewness (standardised gamma)."""
    from scipy import stats

    u = np.clip(u, 1e-4, 1 - 1e-4)
    if abs(skew) < 0.05:
        z = stats.norm.ppf(u)
    else:
        k = 4.0 / skew ** 2
        z = np.sign(skew) * (stats.gamma.ppf(u if skew > 0 else 1 - u, k) - k) / np.sqrt(k)
    return mean + sd * z


def enhancement_curve(t_s: np.ndarray | float, ser: np.ndarray | float) -> np.ndarray:
    """Relative enhancement at effective time t: rises to 1 at 90 s, flat to 150 s, then reaches 1/SER at 450 s."""
    t = np.asarray(t_s, dtype=float)
    ser = np.asarray(ser, dtype=float)
    rise = np.clip(t / 90.0, 0.0, 1.0)
    wash = 1.0 + (1.0 / ser - 1.0) * np.clip((t - 150.0) / 300.0, 0.0, None)
    return np.asarray(np.where(t <= 150.0, rise, np.maximum(wash, 0.05)))


def protocol_for(cohort: str, rng: np.random.Generator) -> Protocol:
    if cohort == VALID:
        return Protocol((0.0, 75.0, 375.0), (1.8, 1.8, 2.2), "GE MEDICAL SYSTEMS", 1.3)
    vendor = str(rng.choice(list(VENDORS)))
    in_plane, slice_mm, scale = VENDORS[vendor]
    n_post = int(rng.integers(2, 8))
    first = float(rng.choice([30.0, 60.0, 90.0]))
    dt = max(float(rng.choice([60.0, 75.0, 90.0, 120.0])), float(np.ceil((480.0 - first) / n_post)))
    return Protocol(tuple([0.0] + [first + k * dt for k in range(n_post)]), (in_plane, in_plane, slice_mm), vendor,
                    scale)


def render_arrays(truth: dict[str, Any], protocol: Protocol, rng: np.random.Generator) -> dict[str, Any]:
    """Phases (z, y, x float arrays), tumour and breast masks of one case."""
    from radpath.mri.phases import effective_times

    nx, ny, nz = protocol.size_xyz
    sx, sy, sz = protocol.spacing_xyz
    z, y, x = np.meshgrid(np.arange(nz) * sz, np.arange(ny) * sy, np.arange(nx) * sx, indexing="ij")
    ex, ey, ez = nx * sx, ny * sy, nz * sz
    breast = (((x - ex / 2) / (0.47 * ex)) ** 2 + ((y - ey) / (0.92 * ey)) ** 2
              + ((z - ez / 2) / (0.47 * ez)) ** 2) <= 1
    # tumour: ellipsoid of the target volume, lobulated, inside the breast
    volume_mm3 = float(np.clip(truth["tumour_volume_cc"], 0.3, 45.0)) * 1000.0
    axes = rng.uniform(0.85, 1.15, 3)
    axes = axes / np.prod(axes) ** (1 / 3)
    centre = np.array([ex / 2 + rng.uniform(-5, 5), 0.58 * ey + rng.uniform(-4, 4), ez / 2 + rng.uniform(-4, 4)])
    dx, dy, dz = (x - centre[0]) / axes[0], (y - centre[1]) / axes[1], (z - centre[2]) / axes[2]
    rho = np.sqrt(dx ** 2 + dy ** 2 + dz ** 2) + 1e-9
    theta, phi = np.arccos(np.clip(dz / rho, -1, 1)), np.arctan2(dy, dx)
    phase_a, phase_b = rng.uniform(0, 2 * np.pi, 2)
    lobes = np.sin(3 * theta + phase_a) * np.cos(4 * phi + phase_b)
    amplitude = 0.45 * float(truth["tumour_lobulation"])
    r0 = (3 * volume_mm3 / (4 * np.pi)) ** (1 / 3)
    for _ in range(3):   # rescale so that the voxel volume matches the target
        tumour = rho <= r0 * (1 + amplitude * lobes)
        measured = tumour.sum() * sx * sy * sz
        r0 *= (volume_mm3 / max(measured, 1.0)) ** (1 / 3)
    tumour = (rho <= r0 * (1 + amplitude * lobes)) & breast
    if not tumour.any():
        tumour[tuple(int(c) for c in np.argwhere(breast).mean(axis=0))] = True
    # parenchyma and its enhancement
    inside = breast & ~tumour
    fgt_field = _smooth_field(rng, breast.shape, 3.0)
    parenchyma = inside & (fgt_field > np.quantile(fgt_field[inside], 1 - truth["parenchyma_fraction"]))
    bpe_field = _smooth_field(rng, breast.shape, 2.5)
    enhancing = parenchyma & (bpe_field > np.quantile(bpe_field[parenchyma], 1 - truth["bpe_fraction"]))
    pe = np.zeros(breast.shape)
    pe[parenchyma] = 0.12 + 0.02 * _smooth_field(rng, breast.shape, 2.0)[parenchyma]
    pe[enhancing] = 0.55 + 0.15 * _smooth_field(rng, breast.shape, 2.0)[enhancing]
    ser = np.ones(breast.shape)
    ser[parenchyma] = truth["ts_bpe_ser"] * (1 + 0.04 * _smooth_field(rng, breast.shape, 2.0)[parenchyma])
    # tumour heterogeneity: smooth fields mapped to the target distributions
    from scipy import stats

    g_ser = _smooth_field(rng, breast.shape, 1.5)[tumour]
    ser[tumour] = np.clip(_skewed(stats.rankdata(g_ser) / (g_ser.size + 1), truth["tumour_ser_mean"], 0.22,
                                  float(np.clip(truth["ser_skew"], -1.8, 1.8))), 0.4, 4.0)
    pe[tumour] = np.clip(truth["tumour_pe_mean"] * (1 + 0.2 * _smooth_field(rng, breast.shape, 1.5)[tumour]), 0.1, None)
    base = np.full(breast.shape, AIR)
    base[breast] = FAT
    base[parenchyma] = PARENCHYMA
    base[tumour] = TUMOUR
    bias = 1.0 + 0.25 * (x / ex - 0.5) + 0.2 * ((y / ey - 0.5) ** 2) - 0.15 * (z / ez - 0.5)
    effective = effective_times(protocol.times_s)
    phases = []
    for t in effective:
        signal = base * (1 + pe * enhancement_curve(t, ser)) * bias * protocol.scale
        signal = signal + rng.normal(0.0, NOISE_SD * protocol.scale, signal.shape)
        phases.append(np.clip(signal, 0, None))
    return {"phases": phases, "tumour": tumour, "breast": breast, "parenchyma": parenchyma}


def _image(array: np.ndarray, spacing: tuple[float, float, float], dtype: str = "int16") -> Any:
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.rint(array).astype(dtype) if dtype != "float32" else array.astype(np.float32))
    image.SetSpacing(spacing)
    image.SetOrigin((-0.5 * array.shape[2] * spacing[0], -0.5 * array.shape[1] * spacing[1], 0.0))
    return image


def write_dicom(
    phases: list[np.ndarray], protocol: Protocol, folder: Path, patient_id: str, *, one_series: bool
) -> None:
    """DICOM MR slices: one series per phase, or one series holding all phases (Temporal Position Identifier)."""
    import SimpleITK as sitk

    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    study_uid = "1.2.826.0.1.3680043.8.498." + str(int(hashlib.sha256(patient_id.encode()).hexdigest()[:12], 16))
    shared_series = study_uid + ".1"
    instance = 0
    for k, array in enumerate(phases):
        image = _image(array, protocol.spacing_xyz)
        series = shared_series if one_series else f"{study_uid}.{k + 1}"
        seconds = 36000.0 + protocol.times_s[k]
        tm = f"{int(seconds // 3600):02d}{int(seconds % 3600 // 60):02d}{seconds % 60:09.6f}"
        for s in range(image.GetDepth()):
            instance += 1
            piece = image[:, :, s]
            origin = image.TransformIndexToPhysicalPoint((0, 0, s))
            tags = {
                "0008|0060": "MR", "0008|0070": protocol.vendor, "0018|0087": "1.5",
                "0010|0010": "Synthetic^Patient", "0010|0020": patient_id, "0010|0030": "19700101",
                "0020|000d": study_uid, "0020|000e": series, "0008|0018": f"{series}.{instance}",
                "0020|0052": study_uid + ".0", "0008|0020": "20200101", "0008|0030": "100000",
                "0008|0032": tm, "0008|0033": tm, "0020|0013": str(instance),
                "0020|0032": "\\".join(f"{v:.4f}" for v in origin),
                "0020|0037": "1\\0\\0\\0\\1\\0", "0018|0050": f"{protocol.spacing_xyz[2]:.4f}",
                "0028|0030": f"{protocol.spacing_xyz[1]:.4f}\\{protocol.spacing_xyz[0]:.4f}",
                "0008|103e": "DCE" if one_series else f"DCE phase {k}",
            }
            if one_series:
                tags["0020|0100"] = str(k + 1)
            for tag, value in tags.items():
                piece.SetMetaData(tag, value)
            writer.SetFileName(str(folder / f"IM{instance:05d}.dcm"))
            writer.Execute(piece)


def write_case(truth: dict[str, Any], protocol: Protocol, folder: Path, rng: np.random.Generator,
               fmt: str = "nifti") -> dict[str, Any]:
    """Render one case into `folder`; returns the rendered arrays (for tests)."""
    import SimpleITK as sitk

    arrays = render_arrays(truth, protocol, rng)
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "nifti":
        entries = []
        for k, array in enumerate(arrays["phases"]):
            name = f"phase{k}.nii.gz"
            sitk.WriteImage(_image(array, protocol.spacing_xyz), str(folder / name))
            entries.append({"file": name, "time_s": protocol.times_s[k]})
        sidecar = {"phases": entries, "vendor": protocol.vendor, "field_strength_t": 1.5,
                   "time_reference": "acquisition start"}
        (folder / "dce.json").write_text(json.dumps(sidecar, indent=1), encoding="utf-8")
    else:
        write_dicom(arrays["phases"], protocol, folder / "dicom", str(truth.get("patient_id", "case")),
                    one_series=fmt == "dicom-one-series")
    sitk.WriteImage(_image(arrays["tumour"], protocol.spacing_xyz, "uint8"), str(folder / "mask.nii.gz"))
    sitk.WriteImage(_image(arrays["breast"], protocol.spacing_xyz, "uint8"), str(folder / "breast_mask.nii.gz"))
    return arrays


def render_mri(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    rng = np.random.default_rng([seed, SEED_OFFSET])
    sections: dict[str, dict[str, Any]] = {}
    for cohort in (TRAIN, VALID):
        rows = truth[(truth["cohort"] == cohort) & truth["has_mri"]]
        for k, row in enumerate(rows.to_dict("records")):
            case_rng = np.random.default_rng([seed, SEED_OFFSET, int(rng.integers(2**31))])
            protocol = protocol_for(cohort, case_rng)
            fmt = "nifti"
            if cohort == TRAIN and k % DICOM_EVERY == DICOM_EVERY - 1:
                fmt = "dicom-one-series" if (k // DICOM_EVERY) % 2 else "dicom"
            write_case(row, protocol, out / cohort / "mri" / str(row["patient_id"]), case_rng, fmt)
        sections[cohort] = {"mri": {"root": "mri", "case_dir": "{patient_id}", "mask": "mask.nii.gz",
                                    "breast_mask": "breast_mask.nii.gz"}}
    return sections
