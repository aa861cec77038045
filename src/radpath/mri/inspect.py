"""`radpath mri inspect`: what was found for a case, and a PNG montage to check it by eye."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from radpath.errors import ConfigError
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, case_input, prepare_case


def resolve_case(case: str, manifest: str | Path | None) -> CaseInput:
    """A patient id of a manifest, or a case folder holding mask.nii.gz (and optionally breast_mask.nii.gz)."""
    if manifest is not None:
        from radpath.cohort import load_manifest

        loaded = load_manifest(manifest)
        spec = loaded.manifest.mri
        if spec is None:
            raise ConfigError(f"manifest {manifest} has no mri section")
        return case_input(loaded.resolve(spec.root), case, spec.case_dir, spec.mask, spec.breast_mask,
                          spec.parenchyma_mask)
    folder = Path(case)
    if not folder.is_dir():
        raise ConfigError(f"{case} is not a case folder; give --manifest to look a patient id up")
    breast = folder / "breast_mask.nii.gz"
    return CaseInput(folder.name, str(folder), str(folder / "mask.nii.gz"),
                     str(breast) if breast.exists() else None)


def montage(prepared: Any, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    maps = prepared.maps
    z = int(np.argmax(maps.tumour.sum(axis=(1, 2))))
    panels = [
        ("pre", maps.pre[z], "gray", None), ("early", maps.early[z], "gray", None),
        ("late", maps.late[z], "gray", None),
        ("PE", np.where(maps.pe.valid[z], maps.pe.values[z], np.nan), "magma", (0, 2)),
        ("SER", np.where(maps.ser.valid[z], maps.ser.values[z], np.nan), "coolwarm", (0.5, 2.0)),
        ("masks", maps.tumour[z] * 2.0 + maps.parenchyma[z], "viridis", (0, 2)),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.3))
    for ax, (name, image, cmap, limits) in zip(axes, panels, strict=True):
        shown = ax.imshow(image, cmap=cmap, vmin=limits[0] if limits else None, vmax=limits[1] if limits else None)
        ax.set_title(name)
        ax.axis("off")
        if name in {"PE", "SER"}:
            fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(f"{title} (middle tumour slice, 1 mm grid)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def inspect_case(case: str, manifest: str | Path | None, params: MRIParams, png: Path | None = None) -> dict[str, Any]:
    item = resolve_case(case, manifest)
    prepared = prepare_case(item, params)
    qc = prepared.qc
    out = Path(png) if png else Path(f"{item.case_id}_mri.png")
    montage(prepared, out, item.case_id)
    return {
        "case": item.case_id,
        "format": qc["format"],
        "vendor": qc["vendor"],
        "phases": qc["n_phases"],
        "times (s, header start)": qc["times_s"],
        "time source": qc["time_source"],
        "chosen (pre, early, late)": (qc["pre_phase"], qc["early_phase"], qc["late_phase"]),
        "effective early / late (s)": (qc["early_s"], qc["late_s"]),
        "spacing (mm)": tuple(round(s, 3) for s in qc["spacing"]),
        "size (voxels)": tuple(qc["size"]),
        "parenchyma": qc["parenchyma_source"],
        "tumour voxels (1 mm)": qc["tumour_voxels_iso"],
        "masked SER voxels in tumour": qc["ser_masked_tumour"],
        "montage": str(out),
    }
