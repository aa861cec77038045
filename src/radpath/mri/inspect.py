"""`radpath mri inspect`: what was found for a case, and a PNG montage to check it by eye."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radpath.errors import ConfigError
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, case_input, prepare_case

if TYPE_CHECKING:
    from radpath.mri.series import SeriesChoice


def resolve_case(case: str, manifest: str | Path | None, *, study: str | None = None,
                 series: str | None = None) -> CaseInput:
    """A patient id of a manifest, or a case folder holding mask.nii.gz (and optionally breast_mask.nii.gz).

    `study` / `series` (given) replace the manifest's `mri.study` / `mri.series`."""
    item = _resolve(case, manifest)
    pairs = (("study", study), ("series", series))
    overrides: dict[str, Any] = {key: value for key, value in pairs if value is not None}
    return replace(item, **overrides) if overrides else item


def _resolve(case: str, manifest: str | Path | None) -> CaseInput:
    if manifest is not None:
        from radpath.cohort import load_manifest

        loaded = load_manifest(manifest)
        spec = loaded.manifest.mri
        if spec is None:
            raise ConfigError(f"manifest {manifest} has no mri section")
        from radpath.mri.extract import voi_boxes

        return case_input(loaded.resolve(spec.root), case, spec, voi_box=voi_boxes(loaded, spec).get(case))
    folder = Path(case)
    if not folder.is_dir():
        raise ConfigError(f"{case} is not a case folder; give --manifest to look a patient id up")
    breast = folder / "breast_mask.nii.gz"
    return CaseInput(folder.name, str(folder), str(folder / "mask.nii.gz"),
                     str(breast) if breast.exists() else None)


def contour_slices(parenchyma: np.ndarray, n: int = 4) -> list[int]:
    """Up to `n` slices (z) spread evenly over those holding parenchyma, for the contour panels."""
    holding = np.flatnonzero(parenchyma.any(axis=(1, 2)))
    if holding.size == 0:
        return []
    picks = np.linspace(0, holding.size - 1, min(n, holding.size) + 2)[1:-1] if holding.size > n else np.arange(
        holding.size)
    return sorted({int(holding[int(round(k))]) for k in picks})


def montage(prepared: Any, path: Path, title: str) -> Path:
    """Top row: the middle tumour slice on the 1 mm grid (phases, PE, SER, masks). Bottom row: the parenchyma
    contour (FCM or user, green), skin band (red) and tumour (yellow) on several acquisition slices."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import SimpleITK as sitk

    maps = prepared.maps
    z = int(np.argmax(maps.tumour.sum(axis=(1, 2))))
    panels = [
        ("pre", maps.pre[z], "gray", None), ("early", maps.early[z], "gray", None),
        ("late", maps.late[z], "gray", None),
        ("PE", np.where(maps.pe.valid[z], maps.pe.values[z], np.nan), "magma", (0, 2)),
        ("SER", np.where(maps.ser.valid[z], maps.ser.values[z], np.nan), "coolwarm", (0.5, 2.0)),
        ("masks", maps.tumour[z] * 2.0 + maps.parenchyma[z], "viridis", (0, 2)),
    ]
    native = prepared.native
    parenchyma = np.asarray(native["parenchyma"], bool)
    slices = contour_slices(parenchyma, len(panels))
    fig, axes = plt.subplots(2, len(panels), figsize=(3 * len(panels), 6.6), squeeze=False)
    for ax, (name, image, cmap, limits) in zip(axes[0], panels, strict=True):
        shown = ax.imshow(image, cmap=cmap, vmin=limits[0] if limits else None, vmax=limits[1] if limits else None)
        ax.set_title(name)
        ax.axis("off")
        if name in {"PE", "SER"}:
            fig.colorbar(shown, ax=ax, fraction=0.046)
    pre = sitk.GetArrayFromImage(native["pre"])
    tumour = sitk.GetArrayFromImage(native["tumour"]) > 0
    skin = np.asarray(native.get("skin", np.zeros_like(parenchyma)), bool)
    for k, ax in enumerate(axes[1]):
        ax.axis("off")
        if k >= len(slices):
            continue
        s = slices[k]
        ax.imshow(pre[s], cmap="gray")
        for mask, colour in ((parenchyma[s], "lime"), (skin[s], "red"), (tumour[s], "yellow")):
            if mask.any() and not mask.all():
                ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=0.8)
        ax.set_title(f"slice {s}: parenchyma")
    fig.suptitle(f"{title}: middle tumour slice (1 mm grid); parenchyma (green), skin band (red), tumour (yellow)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _when(date: str | None, time: str | None = None) -> str:
    text = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if date and len(date) == 8 and date.isdigit() else (date or "no date")
    return text + (f" {time[:2]}:{time[2:4]}" if time and len(time) >= 4 else "")


def _series_line(entry: dict[str, Any]) -> str:
    if "file" in entry:
        return f"file {entry['file']}: {entry['reason']}"
    number = "#?" if entry.get("number") is None else f"#{entry['number']}"
    name = f"{number} '{entry['description']}'" if entry.get("description") else number
    return f"{name} ({entry['files']} files, {_when(entry.get('date'), entry.get('time'))}): {entry['reason']}"


def series_report(item: CaseInput) -> tuple[SeriesChoice | None, dict[str, Any]]:
    """The study and series a DICOM case is read from and every series skipped with its reason, from headers
    alone; (None, {}) for a NIfTI case."""
    from radpath.mri.io import is_dicom_case
    from radpath.mri.series import find_dce_series

    if not is_dicom_case(item.dce):
        return None, {}
    choice = find_dce_series(item.dce, item.case_id, study=item.study, series=item.series)
    record = choice.record()
    read = [f"#{s['number'] if s['number'] is not None else '?'} '{s['description'] or ''}' ({s['files']} files, "
            f"{s['time_points']} time point(s), {_when(s['date'], s['time'])}) uid {s['uid']}"
            for s in record["series"]]
    report = {
        "study": f"{_when(record['study_date'])} '{record['study_description'] or ''}', visit {record['visit']} of "
                 f"{record['n_visits']} (mri.study: {record['study_rule']}) uid {record['study_uid']}",
        "series read": read,
        "series choice": f"{record['series_rule']}; phases split by {choice.acquisition.split_by}",
        "skipped": [_series_line(entry) for entry in record["skipped_series"]],
    }
    return choice, report


def inspect_case(case: str, manifest: str | Path | None, params: MRIParams, png: Path | None = None, *,
                 study: str | None = None, series: str | None = None) -> dict[str, Any]:
    """Everything `radpath mri inspect` prints: the series choice (DICOM) and what the pipeline found."""
    item = resolve_case(case, manifest, study=study, series=series)
    choice, found = series_report(item)
    return {**found, **inspect_prepared(item, params, png, choice)}


def inspect_prepared(item: CaseInput, params: MRIParams, png: Path | None = None,
                     choice: SeriesChoice | None = None) -> dict[str, Any]:
    """Run the pipeline on one case (with the DICOM series `choice` already made) and write its montage."""
    prepared = prepare_case(item, params, series_choice=choice)
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
        "phase split": qc.get("phase_split"),
        "field strength (T)": (qc["field_strength_t"], qc.get("field_strength_unit")),
        "breast region": qc.get("breast_source"),
        "skin band (mm, voxels removed)": (qc.get("skin_band_mm"), qc.get("skin_voxels")),
        "parenchyma": qc["parenchyma_source"],
        "parenchyma cluster": qc.get("parenchyma_cluster"),
        "parenchyma contour slices": contour_slices(prepared.native["parenchyma"]),
        "tumour mask": (qc.get("mask_source"), qc.get("mask_note") or ""),
        "tumour voxels (1 mm)": qc["tumour_voxels_iso"],
        "masked SER voxels in tumour": qc["ser_masked_tumour"],
        "QC flags": "; ".join(qc.get("qc_flags") or []) or "none",
        "montage": str(out),
    }
