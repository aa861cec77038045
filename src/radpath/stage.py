"""The driver every per-case stage uses (MRI extraction, slide scoring, ...).

It records the run, runs the cases through the executor, writes each finished case in its own
transaction (so a killed run leaves every case either fully written or not at all), records
failures and carries on, and supports `--retry-failed` through the `case_status` table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from radpath.executor import run_cases
from radpath.progress import Progress
from radpath.warehouse.runs import Run, finish_run, params_hash, start_run
from radpath.warehouse.write import record_failure, set_case_status, transaction

# writer(con, run, case_id, value) writes one case's rows; it runs inside a transaction.
Writer = Callable[[duckdb.DuckDBPyConnection, Run, str, Any], None]


@dataclass
class StageSummary:
    run: Run
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if not self.failed:
            return "ok"
        return "failed" if not self.done else "partial"


def failed_cases(con: duckdb.DuckDBPyConnection, stage: str, cohort: str, phash: str) -> set[str]:
    """Cases whose latest outcome in this stage, with these parameters, is a failure."""
    rows = con.execute(
        "SELECT case_id FROM case_status WHERE stage = ? AND cohort = ? AND params_hash = ? AND status = 'failed'",
        [stage, cohort, phash],
    ).fetchall()
    return {row[0] for row in rows}


def run_case_stage(
    con: duckdb.DuckDBPyConnection,
    *,
    command: str,
    stage: str,
    cohort: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str] | None,
    cases: Sequence[tuple[str, Any]],
    worker: Callable[[Any], Any],
    write: Writer,
    jobs: int = 1,
    scheduler: str | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> StageSummary:
    """Run `worker` over `cases` and write each result with `write`; see the module docstring."""
    if retry_failed:
        retry = failed_cases(con, stage, cohort, params_hash(params))
        cases = [case for case in cases if case[0] in retry]
    run = start_run(con, command, params, inputs)
    summary = StageSummary(run)
    try:
        for result in run_cases(
            worker, cases, jobs=jobs, scheduler=scheduler, progress=progress, description=f"{stage} {cohort}"
        ):
            if result.ok:
                try:
                    with transaction(con):
                        write(con, run, result.case_id, result.value)
                        set_case_status(con, run, stage, cohort, result.case_id, "ok")
                    summary.done.append(result.case_id)
                    continue
                except Exception as exc:  # a write failure is a failure of that case
                    error = f"case {result.case_id}: writing results failed: {exc}"
                    file = None
            else:
                error, file = result.error or "unknown error", result.file
            with transaction(con):
                record_failure(con, run, result.case_id, stage, error, cohort=cohort, file=file)
                set_case_status(con, run, stage, cohort, result.case_id, "failed")
            summary.failed[result.case_id] = error
    except BaseException:
        finish_run(con, run, "failed")
        raise
    reason = None
    if summary.failed:
        total = len(summary.failed) + len(summary.done)
        reason = f"{len(summary.failed)} of {total} cases failed; first: {next(iter(summary.failed.values()))}"
    finish_run(con, run, summary.status, reason)
    return summary
