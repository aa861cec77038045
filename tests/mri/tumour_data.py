"""A DCE exam with a planted tumour for the automatic-mask tests: every rule of auto-ftv has something to do.

A half-ellipsoidal breast on the chest side of the view (fat, a gland of background parenchymal enhancement,
PE 0.35), a lobulated tumour (PE ~1.2) with a non-enhancing necrotic core (its hole), an enhancing vessel
(PE 2.5, a smaller separate component), and isolated noise voxels of high PE (the neighbour rule's); the PE map
is blurred (partial volume at every edge). The tumour truth (crisp) includes the core. Fat is bright
(non-fat-suppressed T1) or dark and noisy (fat-suppressed: the background threshold's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

TIMES = [0.0, 60.0, 360.0]            # effective early 210 s, late 510 s: within the phase tolerance
SPACING = (1.6, 1.6, 2.0)             # x, y, z mm


def planted_exam(seed: int = 0, *, fat_suppressed: bool = False, shape: tuple[int, int, int] = (28, 72, 72),
                 tumour_radius_mm: float = 11.0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    sx, sy, sz = SPACING
    z, y, x = np.meshgrid(np.arange(nz) * sz, np.arange(ny) * sy, np.arange(nx) * sx, indexing="ij")
    ez, ey, ex = nz * sz, ny * sy, nx * sx
    breast = ((x - ex / 2) / (0.45 * ex)) ** 2 + ((y - ey) / (0.9 * ey)) ** 2 + ((z - ez / 2) / (0.45 * ez)) ** 2 <= 1
    field = ndimage.gaussian_filter(rng.standard_normal(shape), 3.0)
    inner = ndimage.binary_erosion(breast, iterations=3)          # the gland stays off the skin, as in a breast
    gland = inner & (field > np.quantile(field[inner], 0.65))
    cz, cy, cx = ez / 2, 0.5 * ey, 0.55 * ex
    rho = np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) + 1e-9
    lobes = 1 + 0.15 * np.sin(3 * np.arctan2(y - cy, x - cx))
    tumour = (rho <= tumour_radius_mm * lobes) & breast
    core = rho <= 4.0
    vessel = breast & (np.hypot(y - 0.55 * ey, x - 0.22 * ex) <= 2.0) & ~tumour
    pe = np.where(gland, 0.35 + 0.05 * rng.standard_normal(shape), 0.02)
    pe = np.where(tumour, 1.2 + 0.1 * rng.standard_normal(shape), pe)
    pe = np.where(core, 0.05, pe)
    pe = np.where(vessel, 2.5, pe)
    pe = ndimage.gaussian_filter(pe, 0.7)                           # partial volume at every edge
    ser = np.where(tumour, 1.3, np.where(vessel, 1.5, 0.9))
    candidates = np.argwhere(breast & ~gland & ~tumour & ~vessel)
    for index in candidates[rng.choice(len(candidates), 25, replace=False)]:
        pe[tuple(index)] = 1.5                                     # isolated noise voxels
    fat = 120.0 if fat_suppressed else 1000.0
    pre = np.where(breast, fat, 8.0)
    pre = np.where(gland, 420.0, pre)
    pre = np.where(tumour, 460.0, pre)
    pre = np.where(vessel, 380.0, pre)
    noise = 20.0 if fat_suppressed else 6.0
    phases = [pre + noise * rng.standard_normal(shape)]
    phases.append(pre * (1 + pe) + noise * rng.standard_normal(shape))
    phases.append(pre * (1 + pe / ser) + noise * rng.standard_normal(shape))
    return {"phases": [np.clip(p, 0, None) for p in phases], "tumour": tumour, "breast": breast, "core": core,
            "vessel": vessel}


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * (a & b).sum() / (a.sum() + b.sum()))


def mri_cohort(folder: Path, name: str, patients: Sequence[str], mri: str) -> Path:
    """A cohort manifest (one clinical column) whose `mri` section is `mri` (YAML lines below `mri:`)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clinical.csv").write_text("pid,age\n" + "".join(f"{p},{50 + k}\n" for k, p in enumerate(patients)))
    manifest = folder / f"{name}.yaml"
    manifest.write_text(f"name: {name}\nroot: .\nclinical:\n- path: clinical.csv\n  id_column: pid\n  columns:\n"
                        f"    age: age\nmri:\n{mri}")
    return manifest


def run_cli(*args: str) -> str:
    """The output of a radpath command that must succeed."""
    from typer.testing import CliRunner

    from radpath.cli.app import build_app

    result = CliRunner().invoke(build_app(), list(args))
    assert result.exit_code == 0, result.output
    return str(result.output)
