"""The `extract-mri` stage: every case of a manifest through the pipeline into the warehouse."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath.cohort import load_manifest
from radpath.errors import ConfigError
from radpath.mri.features import feature_defs
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import case_input, process_case
from radpath.mri.series import RECORD_COLUMNS
from radpath.progress import Progress
from radpath.stage import StageSummary, run_case_stage
from radpath.warehouse.runs import Run, hash_inputs
from radpath.warehouse.write import register_feature_defs, replace_rows, write_features

STAGE = "extract-mri"
QC_COLUMNS = (
    "format", "vendor", "field_strength_t", "n_phases", "times_s", "time_source", "pre_phase", "early_phase",
    "late_phase", "early_s", "late_s", "spacing", "size", "parenchyma_source", "normalisation_scale",
    "tumour_voxels_iso", "pe_masked_tumour", "ser_masked_tumour", "ser_masked_parenchyma", "seconds",
    "phase_split", "field_strength_unit", "breast_source", "skin_band_mm", "parenchyma_cluster",
    *RECORD_COLUMNS,
)


def mri_cases(con: duckdb.DuckDBPyConnection, manifest_path: str | Path,
              only: Sequence[str] | None = None) -> tuple[str, list[tuple[str, dict[str, Any]]], list[Path]]:
    """(cohort, [(patient_id, case fields)], case folders) of a manifest's MRI section.

    Patients are the cohort's patients in the warehouse when it has them, else the case folders found.
    """
    loaded = load_manifest(manifest_path)
    spec = loaded.manifest.mri
    if spec is None:
        raise ConfigError(f"manifest {manifest_path} has no mri section")
    root = loaded.resolve(spec.root)
    if not root.is_dir():
        raise ConfigError(f"manifest {manifest_path}: MRI root {root} is not a folder")
    known = [r[0] for r in con.execute(
        "SELECT patient_id FROM patients WHERE cohort = ? ORDER BY patient_id", [loaded.name]).fetchall()]
    if not known:
        if spec.case_dir != "{patient_id}":
            raise ConfigError(f"no patients of cohort {loaded.name} in the warehouse: run `radpath ingest` first")
        known = sorted(p.name for p in root.iterdir() if p.is_dir())
    if only:
        missing = sorted(set(only) - set(known))
        if missing:
            raise ConfigError(f"cases not in cohort {loaded.name}: {', '.join(missing)}")
        known = [p for p in known if p in set(only)]
    cases, folders = [], []
    for pid in known:
        folder = root / spec.case_dir.format(patient_id=pid)
        if not folder.is_dir():
            if only:
                raise ConfigError(f"case {pid}: no MRI folder {folder}")
            continue
        case = case_input(root, pid, spec)
        cases.append((pid, case.__dict__))
        folders.append(folder)
    return loaded.name, cases, folders


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
) -> StageSummary:
    """Run the MRI pipeline over a manifest's cases; failures are recorded per case and the run carries on."""
    params = params or MRIParams()
    cohort, found, folders = mri_cases(con, manifest_path, cases)
    register_feature_defs(con, "mri", feature_defs(params))
    payload_params = params.model_dump()
    inputs = hash_inputs([Path(manifest_path), *folders])
    threads = 1 if (jobs > 1 or scheduler) else None
    return run_case_stage(
        con, command=STAGE, stage=STAGE, cohort=cohort, params=payload_params, inputs=inputs,
        cases=[(pid, {"case": case, "params": payload_params, "threads": threads}) for pid, case in found],
        worker=process_case, write=_writer(cohort), jobs=jobs, scheduler=scheduler,
        retry_failed=retry_failed, progress=progress,
    )
