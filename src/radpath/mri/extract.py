"""The `extract-mri` stage: every case of a manifest through the pipeline into the warehouse."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath.cohort import TableSource, load_manifest
from radpath.errors import ConfigError
from radpath.mri.features import feature_defs
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import case_input, process_case
from radpath.mri.series import RECORD_COLUMNS
from radpath.progress import Progress
from radpath.sources import read_table
from radpath.stage import StageSummary, run_case_stage
from radpath.warehouse.runs import Run, hash_inputs
from radpath.warehouse.write import register_feature_defs, replace_rows, write_features

STAGE = "extract-mri"
QC_COLUMNS = (
    "format", "vendor", "field_strength_t", "n_phases", "times_s", "time_source", "pre_phase", "early_phase",
    "late_phase", "early_s", "late_s", "spacing", "size", "parenchyma_source", "normalisation_scale",
    "tumour_voxels_iso", "pe_masked_tumour", "ser_masked_tumour", "ser_masked_parenchyma", "seconds",
    "phase_split", "field_strength_unit", "breast_source", "skin_band_mm", "parenchyma_cluster",
    "mask_source", "mask_voi", "mask_note", "mask_file", "tumour_cm3", "qc_flags", *RECORD_COLUMNS,
    "input_files", "input_sha256",
)
BOX_COLUMNS = ("x0", "x1", "y0", "y1", "z0", "z1")


def voi_boxes(loaded: Any, spec: Any) -> dict[str, list[int]]:
    """The manifest's `mri.voi_boxes`: a mapping in the YAML, or a CSV (patient_id, x0, x1, y0, y1, z0, z1)."""
    value = spec.voi_boxes
    if value is None:
        return {}
    if isinstance(value, dict):
        boxes = {str(k): list(v) for k, v in value.items()}
        where = str(loaded.path)
    else:
        frame = read_table(loaded, TableSource(path=value, id_column="patient_id"), ["patient_id", *BOX_COLUMNS])
        where = str(loaded.resolve(value))
        boxes = {}
        for line, row in frame.iterrows():
            try:
                boxes[str(row["patient_id"])] = [float(row[c]) for c in BOX_COLUMNS]
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where} line {line}: VOI box values must be numbers ({exc})") from exc
    for pid, box in boxes.items():
        if len(box) != 6 or any(not float(v).is_integer() for v in box) or box[0] > box[1] or box[2] > box[3] \
                or box[4] > box[5]:
            raise ConfigError(f"{where}: VOI box of {pid} must be six voxel indices [x0, x1, y0, y1, z0, z1] "
                              f"with x0 <= x1, y0 <= y1, z0 <= z1; found {box}")
    return {pid: [int(v) for v in box] for pid, box in boxes.items()}


def manifest_cases(manifest_path: str | Path, known: list[str] | None, only: Sequence[str] | None = None,
                   tumour_mask: str | None = None) -> tuple[str, list[tuple[str, dict[str, Any]]], list[Path]]:
    """(cohort, [(patient_id, case fields)], case folders) of a manifest's MRI section.

    Patients are `known` (the cohort's patients in the warehouse) when given and not empty, else the case folders
    found. `tumour_mask` (auto-ftv | auto-fcm) makes the mask of cases whose mask file is absent.
    """
    loaded = load_manifest(manifest_path)
    spec = loaded.manifest.mri
    if spec is None:
        raise ConfigError(f"manifest {manifest_path} has no mri section")
    root = loaded.resolve(spec.root)
    if not root.is_dir():
        raise ConfigError(f"manifest {manifest_path}: MRI root {root} is not a folder")
    if not known:
        if spec.case_dir != "{patient_id}":
            raise ConfigError(f"no patients of cohort {loaded.name} in the warehouse: run `radpath ingest` first")
        known = sorted(p.name for p in root.iterdir() if p.is_dir())
    if only:
        missing = sorted(set(only) - set(known))
        if missing:
            raise ConfigError(f"cases not in cohort {loaded.name}: {', '.join(missing)}")
        known = [p for p in known if p in set(only)]
    boxes = voi_boxes(loaded, spec)
    cases, folders = [], []
    for pid in known:
        folder = root / spec.case_dir.format(patient_id=pid)
        if not folder.is_dir():
            if only:
                raise ConfigError(f"case {pid}: no MRI folder {folder}")
            continue
        case = case_input(root, pid, spec, tumour_mask=tumour_mask, voi_box=boxes.get(pid))
        cases.append((pid, case.__dict__))
        folders.append(folder)
    return loaded.name, cases, folders


def mri_cases(con: duckdb.DuckDBPyConnection, manifest_path: str | Path, only: Sequence[str] | None = None,
              tumour_mask: str | None = None) -> tuple[str, list[tuple[str, dict[str, Any]]], list[Path]]:
    """`manifest_cases` with the cohort's patients in the warehouse `con`."""
    cohort = load_manifest(manifest_path).name
    known = [r[0] for r in con.execute(
        "SELECT patient_id FROM patients WHERE cohort = ? ORDER BY patient_id", [cohort]).fetchall()]
    return manifest_cases(manifest_path, known, only, tumour_mask)


def _writer(cohort: str) -> Any:
    def write(con: duckdb.DuckDBPyConnection, run: Run, case_id: str, value: dict[str, Any]) -> None:
        features = value["features"]
        frame = pd.DataFrame({"patient_id": case_id, "code": list(features), "value": list(features.values())})
        write_features(con, run, cohort, "mri", frame)
        qc = value["qc"]
        row = {"cohort": cohort, "patient_id": case_id, "params_hash": run.params_hash, "run_id": run.run_id}
        for column in QC_COLUMNS:
            item = qc.get(column)
            row[column] = json.dumps(item) if isinstance(item, list | dict) else item
        replace_rows(con, "mri_case_qc", pd.DataFrame([row]),
                     {"cohort": cohort, "patient_id": case_id, "params_hash": run.params_hash})
    return write


def default_masks_dir(db: str | Path, cohort: str) -> Path:
    """Where extract-mri writes automatic tumour masks by default: `mri_masks/<cohort>` beside the warehouse."""
    return Path(db).absolute().parent / "mri_masks" / cohort


def extract_mri(
    con: duckdb.DuckDBPyConnection,
    manifest_path: str | Path,
    *,
    params: MRIParams | None = None,
    cases: Sequence[str] | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
    tumour_mask: str | None = None,
    masks_dir: str | Path | None = None,
) -> StageSummary:
    """Run the MRI pipeline over a manifest's cases; failures are recorded per case and the run carries on.

    `tumour_mask` (auto-ftv | auto-fcm) segments the tumour of cases whose mask file is absent; automatic masks
    are written to `masks_dir`/<patient_id> (default: `mri_masks/<cohort>` beside the warehouse file).
    """
    params = params or MRIParams()
    cohort, found, _ = mri_cases(con, manifest_path, cases, tumour_mask)
    register_feature_defs(con, "mri", feature_defs(params))
    payload_params = params.model_dump()
    inputs = hash_inputs([Path(manifest_path)])        # each case's files: mri_case_qc.input_sha256 (its worker)
    threads = 1 if (jobs > 1 or scheduler) else None
    if masks_dir is None:
        db = con.execute("SELECT file FROM pragma_database_list WHERE name = current_database()").fetchone()
        masks_dir = default_masks_dir(db[0] if db and db[0] else ".", cohort)
    run_params = dict(payload_params, tumour_mask=tumour_mask) if tumour_mask else payload_params
    return run_case_stage(
        con, command=STAGE, stage=STAGE, cohort=cohort, params=run_params, inputs=inputs,
        cases=[(pid, {"case": case, "params": payload_params, "threads": threads, "masks_dir": str(masks_dir)})
               for pid, case in found],
        worker=process_case, write=_writer(cohort), jobs=jobs, scheduler=scheduler,
        retry_failed=retry_failed, progress=progress,
    )


def qc_lines(con: duckdb.DuckDBPyConnection, run_id: str) -> list[str]:
    """One line per QC flag of the cases a run extracted: `QC <patient>: <flag>`."""
    rows = con.execute("SELECT patient_id, qc_flags FROM mri_case_qc WHERE run_id = ? AND qc_flags IS NOT NULL "
                       "ORDER BY patient_id", [run_id]).fetchall()
    return [f"QC {pid}: {flag}" for pid, flags in rows for flag in json.loads(flags)]
