"""Storing what evaluate-cells and evaluate-seg measured: one `pathology_evaluations` row per number, with the
protocol that produced it (migration 0018). A re-run of the same (command, model, data, protocol) replaces its
rows in one transaction; the run (command, parameters, input hashes) goes to `run_log` as for every stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath.errors import ConfigError
from radpath.warehouse.runs import Run, finish_run, hash_inputs, start_run
from radpath.warehouse.write import replace_rows, transaction


def check_protocols(protocols: Sequence[str], known: Sequence[str]) -> list[str]:
    """The chosen protocols in order without repeats; a name not in `known` is a ConfigError."""
    unknown = [p for p in protocols if p not in known]
    if unknown or not protocols:
        raise ConfigError(f"evaluation protocol {unknown[0] if unknown else ''!r}: expected one of {list(known)}")
    return list(dict.fromkeys(protocols))


def metric_rows(protocol: str, table: Mapping[str, Mapping[str, float]]) -> list[dict[str, Any]]:
    """Rows (protocol, subject, metric, value) of a {subject: {metric: value}} table."""
    return [{"protocol": protocol, "subject": str(subject), "metric": str(metric), "value": float(value)}
            for subject, values in table.items() for metric, value in values.items()]


def record_evaluation(
    con: duckdb.DuckDBPyConnection, command: str, model: str | Path, data: str | Path, rows: list[dict[str, Any]],
    params: Mapping[str, Any],
) -> Run:
    """Write `rows` (from `metric_rows`) for the model and data folder, replacing the protocols' earlier rows."""
    model_path, data_path = str(Path(model).resolve()), str(Path(data).resolve())
    frame = pd.DataFrame(rows, columns=["protocol", "subject", "metric", "value"])
    with transaction(con):
        run = start_run(con, command, {**params, "model": model_path, "data": data_path},
                        hash_inputs([Path(model_path)]))
        for protocol, part in frame.groupby("protocol", sort=False):
            out = part.assign(command=command, model_path=model_path, data_path=data_path, run_id=run.run_id)
            replace_rows(con, "pathology_evaluations", out, {"command": command, "model_path": model_path,
                                                             "data_path": data_path, "protocol": protocol})
        finish_run(con, run, "ok")
    return run
