"""Transactional writes. Every write of a stage goes through here so re-runs replace, never duplicate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import pandas as pd

from radpath.warehouse.runs import Run, now


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, or ROLLBACK on any exception (the warehouse is left as it was)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, key: Mapping[str, Any]
) -> int:
    """Delete the rows of `table` matching `key`, then insert `frame` (columns by name).

    Call inside `transaction` to make the replacement atomic. Returns the rows inserted.
    """
    where = " AND ".join(f"{column} = ?" for column in key) or "TRUE"
    con.execute(f"DELETE FROM {table} WHERE {where}", list(key.values()))
    if frame.empty:
        return 0
    columns = ", ".join(frame.columns)
    con.register("_radpath_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _radpath_rows")
    finally:
        con.unregister("_radpath_rows")
    return len(frame)


def write_features(
    con: duckdb.DuckDBPyConnection,
    run: Run,
    cohort: str,
    modality: str,
    values: pd.DataFrame,
    params_hash: str | None = None,
) -> int:
    """Replace the feature values of the patients in `values` (columns patient_id, code, value).

    Rows of the same (cohort, patient, modality, params_hash) are replaced; values of the same codes
    computed with other parameters stay as history (current = false), so the `features` view shows
    what was written last. Call inside `transaction`.
    """
    missing = {"patient_id", "code", "value"} - set(values.columns)
    if missing:
        raise ValueError(f"feature frame lacks columns {sorted(missing)}")
    phash = params_hash or run.params_hash
    frame = pd.DataFrame(
        {
            "cohort": cohort,
            "patient_id": values["patient_id"].astype(str).to_numpy(),
            "modality": modality,
            "code": values["code"].astype(str).to_numpy(),
            "value": pd.to_numeric(values["value"], errors="coerce").astype(float).to_numpy(),
            "params_hash": phash,
            "run_id": run.run_id,
        }
    )
    con.register("_radpath_features", frame)
    try:
        con.execute(
            "DELETE FROM feature_values WHERE cohort = ? AND modality = ? AND params_hash = ? "
            "AND patient_id IN (SELECT DISTINCT patient_id FROM _radpath_features)",
            [cohort, modality, phash],
        )
        con.execute(
            "UPDATE feature_values SET current = false WHERE current AND cohort = ? AND modality = ? "
            "AND (patient_id, code) IN (SELECT patient_id, code FROM _radpath_features)",
            [cohort, modality],
        )
        con.execute(
            "INSERT INTO feature_values (cohort, patient_id, modality, code, value, params_hash, run_id, current) "
            "SELECT cohort, patient_id, modality, code, value, params_hash, run_id, true FROM _radpath_features"
        )
    finally:
        con.unregister("_radpath_features")
    return len(frame)


def register_feature_defs(
    con: duckdb.DuckDBPyConnection, modality: str, defs: Iterable[Mapping[str, Any]]
) -> None:
    """Upsert feature definitions (code, family, name, unit, formula) for Table 1."""
    rows: Sequence[Mapping[str, Any]] = list(defs)
    for row in rows:
        con.execute(
            "INSERT OR REPLACE INTO feature_defs (code, modality, family, name, unit, formula) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [row["code"], modality, row["family"], row["name"], row.get("unit"), row.get("formula")],
        )


def record_failure(
    con: duckdb.DuckDBPyConnection,
    run: Run,
    case_id: str,
    stage: str,
    error: str,
    *,
    cohort: str | None = None,
    file: str | None = None,
) -> None:
    """Record one case's failure for this run."""
    con.execute(
        "INSERT INTO case_failures VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run.run_id, cohort, case_id, stage, error, file, now()],
    )


def set_case_status(
    con: duckdb.DuckDBPyConnection, run: Run, stage: str, cohort: str, case_id: str, status: str
) -> None:
    """Remember the latest outcome (ok | failed) of a case in a per-case stage."""
    con.execute(
        "DELETE FROM case_status WHERE stage = ? AND cohort = ? AND case_id = ? AND params_hash = ?",
        [stage, cohort, case_id, run.params_hash],
    )
    con.execute(
        "INSERT INTO case_status VALUES (?, ?, ?, ?, ?, ?, ?)",
        [stage, cohort, case_id, run.params_hash, status, run.run_id, now()],
    )
