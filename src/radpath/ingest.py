"""`radpath ingest`: load a cohort's clinical, TIL and outcome tables and decide inclusion.

Everything is read and checked first; then one transaction replaces the cohort's rows (registry,
patients, inclusion flow, clinical, TIL readings, outcomes) and records the run. A bad file, column
or value raises `IngestError` naming file, row and column, and the warehouse is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath import attributes
from radpath.cohort import ClinicalTable, LoadedManifest, TableSource, load_manifest
from radpath.errors import IngestError
from radpath.sources import PRESENCE, absent_sources, patient_id, read_table
from radpath.warehouse.runs import finish_run, hash_inputs, start_run
from radpath.warehouse.write import replace_rows, transaction

CLINICAL_COLUMNS = ("age", "er", "pr", "her2", "hr", "subtype", "t_stage", "n_stage", "m_stage", "stage",
                    "histology", "pam50")


@dataclass
class CohortData:
    """Everything an ingest writes, before it is written."""

    clinical: pd.DataFrame
    til: pd.DataFrame
    outcomes: pd.DataFrame
    patients: pd.DataFrame
    flow: pd.DataFrame
    absent: dict[str, Path] = field(default_factory=dict)    # source kind -> missing file or folder
    unmatched: dict[str, int] = field(default_factory=dict)  # source -> rows whose patient is not in clinical


def _ids(frame: pd.DataFrame, loaded: LoadedManifest, source: TableSource) -> pd.Series:
    path = loaded.resolve(source.path)
    missing = frame[source.id_column].isna()
    if missing.any():
        line = int(frame.index[missing.to_numpy()][0])
        raise IngestError(f"{path}: row {line}, column {source.id_column!r}: patient id is missing")
    return frame[source.id_column].map(lambda raw: patient_id(raw, source))


def _collapse_duplicates(frame: pd.DataFrame, path: Path, id_column: str) -> pd.DataFrame:
    """One row per patient: identical repeats (GDC lists a case once per treatment) collapse;
    repeats that disagree in a mapped column are an error naming both rows."""
    duplicated = frame["patient_id"].duplicated(keep=False)
    if not duplicated.any():
        return frame
    repeats = frame[duplicated]
    distinct = repeats.groupby("patient_id", sort=False).nunique(dropna=True)
    conflicts = distinct[(distinct > 1).any(axis=1)]
    if not conflicts.empty:
        pid = conflicts.index[0]
        column = str(conflicts.columns[(conflicts.iloc[0] > 1).to_numpy()][0])
        rows = repeats[(repeats["patient_id"] == pid) & repeats[column].notna()]
        values = rows[column].unique()
        raise IngestError(
            f"{path}: duplicate patient id {pid} (column {id_column!r}) in rows {rows.index[0]} and "
            f"{rows.index[rows[column] != values[0]][0]} with different values in column {column!r}: "
            f"{_shown(values[0])} vs {_shown(values[1])}"
        )
    # keep the first row, filled with values later duplicates add
    return frame.groupby("patient_id", sort=False).first().reset_index()


def _shown(value: Any) -> str:
    """A table value as a person reads it in a message: 50 or 50.5 or 'IDC', never np.float64(50.0)."""
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _code_key(value: Any) -> str:
    """How a source value is looked up in `codes`: spreadsheet numbers lose a trailing '.0'."""
    text = str(value).strip()
    return text[:-2] if text.endswith(".0") and text[:-2].lstrip("-").isdigit() else text


def read_clinical_table(loaded: LoadedManifest, table: ClinicalTable) -> pd.DataFrame:
    """One clinical table mapped to warehouse attributes: patient_id + normalised attribute columns."""
    unknown = sorted(set(table.columns) - set(attributes.ATTRIBUTES))
    if unknown:
        raise IngestError(
            f"manifest {loaded.path}: unknown clinical attributes {unknown}; known: {', '.join(attributes.ATTRIBUTES)}"
        )
    path = loaded.resolve(table.path)
    raw = read_table(loaded, table, [table.id_column, *table.columns.values()])
    out = pd.DataFrame({"patient_id": _ids(raw, loaded, table)}, index=raw.index)
    for attribute, column in table.columns.items():
        codes = table.codes.get(attribute, {})
        normalise = attributes.NORMALISERS[attribute]
        mapped: dict[Any, Any] = {}
        for value in raw[column].dropna().unique():  # each distinct source value is normalised once
            try:
                mapped[value] = normalise(str(codes.get(_code_key(value), value)))
            except ValueError as exc:
                line = raw.index[(raw[column] == value).to_numpy()][0]
                raise IngestError(f"{path}: row {line}, column {column!r} ({attribute}): {exc}") from None
        out[attribute] = raw[column].map(lambda v, m=mapped: None if v is None else m[v])
    return _collapse_duplicates(out, path, table.id_column)


def read_clinical(loaded: LoadedManifest) -> pd.DataFrame:
    """All clinical tables joined on patient id; the first table lists the cohort's patients."""
    tables = [read_clinical_table(loaded, table) for table in loaded.manifest.clinical]
    merged = tables[0]
    for table in tables[1:]:
        overlap = [c for c in table.columns if c in merged.columns and c != "patient_id"]
        merged = merged.merge(table.drop(columns=overlap), on="patient_id", how="left")
    for column in CLINICAL_COLUMNS:
        if column not in merged.columns:
            merged[column] = None
    merged = merged.astype(object).where(merged.notna(), None)
    merged["hr"] = [
        hr if hr is not None else attributes.derive_hr(er, pr)
        for hr, er, pr in zip(merged["hr"], merged["er"], merged["pr"], strict=True)
    ]
    merged["subtype"] = [
        st if st is not None else attributes.derive_subtype(hr, her2)
        for st, hr, her2 in zip(merged["subtype"], merged["hr"], merged["her2"], strict=True)
    ]
    merged["age"] = pd.to_numeric(merged["age"], errors="coerce")
    return merged[["patient_id", *CLINICAL_COLUMNS]]


def _number(value: Any, path: Path, line: int, column: str, what: str) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise IngestError(f"{path}: row {line}, column {column!r}: expected {what}, found {value!r}") from None


def read_til(loaded: LoadedManifest) -> pd.DataFrame:
    """Pathologist readings of percent stromal TILs (0-100), one row per patient and reader."""
    spec = loaded.manifest.til
    columns = ["patient_id", "stromal_til_pct", "reader"]
    if spec is None:
        return pd.DataFrame(columns=columns)
    path = loaded.resolve(spec.path)
    wanted = [spec.id_column, spec.value_column] + ([spec.reader_column] if spec.reader_column else [])
    raw = read_table(loaded, spec, wanted)
    rows = []
    ids = _ids(raw, loaded, spec)
    for line, value in raw[spec.value_column].items():
        if value is None:
            continue
        pct = _number(value, path, int(line), spec.value_column, "a percentage of stromal TILs")
        if not 0 <= pct <= 100:
            raise IngestError(
                f"{path}: row {line}, column {spec.value_column!r}: stromal TILs must be 0-100 %, found {pct:g}"
            )
        reader = raw.at[line, spec.reader_column] if spec.reader_column else None
        rows.append((ids[line], pct, reader, int(line)))
    frame = pd.DataFrame(rows, columns=[*columns, "line"])
    duplicated = frame.duplicated(["patient_id", "reader"], keep=False)
    if duplicated.any():
        first = frame[duplicated].iloc[:2]
        if first["stromal_til_pct"].nunique() > 1:
            raise IngestError(
                f"{path}: duplicate TIL reading for patient {first.iloc[0]['patient_id']} by the same reader in "
                f"rows {first.iloc[0]['line']} and {first.iloc[1]['line']} with different values"
            )
        frame = frame.drop_duplicates(["patient_id", "reader"])
    return frame[columns]


def read_outcomes(loaded: LoadedManifest) -> pd.DataFrame:
    """Time-to-event endpoints (time in days, event 0/1); patients lacking an endpoint get no row."""
    spec = loaded.manifest.outcomes
    columns = ["patient_id", "endpoint", "time_days", "event"]
    if spec is None:
        return pd.DataFrame(columns=columns)
    path = loaded.resolve(spec.path)
    wanted = [spec.id_column] + [c for e in spec.endpoints for c in (*e.time, e.event)]
    raw = read_table(loaded, spec, wanted)
    ids = _ids(raw, loaded, spec)
    rows = []
    for endpoint in spec.endpoints:
        for line in raw.index:
            time = next((raw.at[line, c] for c in endpoint.time if raw.at[line, c] is not None), None)
            event = raw.at[line, endpoint.event]
            if time is None or event is None:
                continue
            days = _number(time, path, int(line), endpoint.time[0], "a time in days")
            if days < 0:
                raise IngestError(f"{path}: row {line}, column {endpoint.time[0]!r}: negative time {days:g}")
            code = _code_key(event)
            if endpoint.event_codes:
                if code not in endpoint.event_codes:
                    raise IngestError(
                        f"{path}: row {line}, column {endpoint.event!r}: event code {event!r} is not one of "
                        f"{sorted(endpoint.event_codes)}"
                    )
                flag = endpoint.event_codes[code]
            elif code in {"0", "1"}:
                flag = int(code)
            else:
                raise IngestError(
                    f"{path}: row {line}, column {endpoint.event!r}: expected event 0 or 1, found {event!r}"
                )
            rows.append((ids[line], endpoint.name, days, flag))
    frame = pd.DataFrame(rows, columns=columns)
    duplicated = frame.duplicated(["patient_id", "endpoint"], keep=False)
    if duplicated.any():
        conflict = frame[duplicated].drop_duplicates()
        if conflict.duplicated(["patient_id", "endpoint"]).any():
            pid = conflict[conflict.duplicated(["patient_id", "endpoint"])].iloc[0]["patient_id"]
            raise IngestError(f"{path}: duplicate patient id {pid} with different outcomes")
        frame = frame.drop_duplicates(["patient_id", "endpoint"])
    return frame


def inclusion(
    loaded: LoadedManifest, clinical: pd.DataFrame, til: pd.DataFrame, outcomes: pd.DataFrame,
    absent: Mapping[str, Path] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply the inclusion criteria in order: (patients with decision, flow table). A source in `absent` holds
    no patient, so a criterion that needs it excludes everyone left."""
    patients = list(clinical["patient_id"])
    remaining = list(patients)
    step_of: dict[str, tuple[int, str]] = {}
    flow: list[tuple[int, str, int, int, int, str | None]] = [
        (0, "patients in the clinical table", len(patients), 0, len(patients), None)]
    by_id = clinical.set_index("patient_id")
    for step, criterion in enumerate(loaded.manifest.inclusion, start=1):
        if criterion.kind == "source_present" and criterion.source in (absent or {}):
            passes: set[str] = set()
        else:
            passes = _criterion_test(loaded, criterion, by_id, til, outcomes, remaining)
        kept = [pid for pid in remaining if pid in passes]
        for pid in remaining:
            if pid not in passes:
                step_of[pid] = (step, criterion.reason)
        flow.append((step, criterion.label, len(remaining), len(remaining) - len(kept), len(kept), criterion.reason))
        remaining = kept
    decided = pd.DataFrame(
        {
            "patient_id": patients,
            "included": [pid not in step_of for pid in patients],
            "exclusion_step": [step_of.get(pid, (None, None))[0] for pid in patients],
            "exclusion_reason": [step_of.get(pid, (None, None))[1] for pid in patients],
        }
    )
    return decided, pd.DataFrame(flow, columns=["step", "criterion", "n_before", "n_excluded", "n_after",
                                                "exclusion_reason"])


def _criterion_test(
    loaded: LoadedManifest, criterion: Any, by_id: pd.DataFrame, til: pd.DataFrame,
    outcomes: pd.DataFrame, remaining: Sequence[str],
) -> set[str]:
    where = f"manifest {loaded.path}, criterion {criterion.label!r}"
    if criterion.kind in {"attribute_in", "attribute_present"}:
        if criterion.attribute not in by_id.columns:
            raise IngestError(f"{where}: unknown attribute {criterion.attribute!r}")
        column = by_id[criterion.attribute]
        if criterion.kind == "attribute_present":
            return set(column.index[column.notna()])
        return set(column.index[column.isin(criterion.values or [])])
    if criterion.kind == "outcome_present":
        return set(outcomes.loc[outcomes["endpoint"] == criterion.endpoint, "patient_id"])
    source = criterion.source
    if source == "til":
        return set(til["patient_id"])
    if getattr(loaded.manifest, source or "", None) is None:
        raise IngestError(f"{where}: the manifest has no {source!r} section")
    test: Callable[[LoadedManifest, Sequence[str]], set[str]] = PRESENCE[source or ""]
    return test(loaded, remaining)


def read_cohort(loaded: LoadedManifest) -> CohortData:
    """Read and check every table of a cohort (no writes). A cohort without patients is an error; rows of the
    other tables whose patient the clinical table does not list are dropped and counted."""
    clinical = read_clinical(loaded)
    if clinical.empty:
        first = loaded.resolve(loaded.manifest.clinical[0].path)
        raise IngestError(f"cohort {loaded.name}: the clinical table {first} lists no patients (only a header?); "
                          "a cohort needs at least one patient")
    known = set(clinical["patient_id"])
    til = read_til(loaded)
    outcomes = read_outcomes(loaded)
    unmatched = {
        "til": int((~til["patient_id"].isin(known)).sum()),
        "outcomes": int((~outcomes["patient_id"].isin(known)).sum()),
    }
    til = til[til["patient_id"].isin(known)]
    outcomes = outcomes[outcomes["patient_id"].isin(known)]
    absent = absent_sources(loaded)
    patients, flow = inclusion(loaded, clinical, til, outcomes, absent)
    return CohortData(clinical, til, outcomes, patients, flow, absent, {k: n for k, n in unmatched.items() if n})


def _input_files(loaded: LoadedManifest) -> list[Path]:
    m = loaded.manifest
    tables: list[TableSource] = [*m.clinical, *(t for t in (m.outcomes, m.til) if t is not None)]
    return [loaded.path, *{loaded.resolve(t.path) for t in tables}]


def ingest_manifest(con: duckdb.DuckDBPyConnection, manifest: str | Path | LoadedManifest) -> CohortData:
    """Load a cohort into the warehouse, replacing its previous rows, in one transaction."""
    loaded = manifest if isinstance(manifest, LoadedManifest) else load_manifest(manifest)
    data = read_cohort(loaded)
    cohort = loaded.name
    params = {"manifest": str(loaded.path), "manifest_sha256": loaded.sha256()}
    inputs = hash_inputs(_input_files(loaded))
    key = {"cohort": cohort}
    with transaction(con):
        run = start_run(con, "ingest", params, inputs)

        def tag(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.assign(cohort=cohort, run_id=run.run_id)

        registry = pd.DataFrame([{
            "cohort": cohort, "role": loaded.manifest.role, "description": loaded.manifest.description,
            "manifest_path": str(loaded.path), "manifest_hash": loaded.sha256(), "run_id": run.run_id,
        }])
        replace_rows(con, "cohort_registry", registry, key)
        replace_rows(con, "patient_registry", tag(data.patients), key)
        replace_rows(con, "inclusion_flow", tag(data.flow), key)
        replace_rows(con, "clinical", tag(data.clinical), key)
        replace_rows(con, "til_readings", tag(data.til), key)
        replace_rows(con, "outcome_values", tag(data.outcomes), key)
        finish_run(con, run, "ok")
    return data
