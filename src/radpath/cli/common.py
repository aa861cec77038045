"""Options and helpers shared by the command modules (database path, executor, printing).

Printing: every command prints through `console` / `err_console` (or `print_frame`), which never read text as
Rich markup or emoji codes (a cohort description, a patient id or a query result may hold `[/i]`, `T2[a]` or
`:x:`) and never hard-wrap: in a terminal long lines wrap where the terminal wraps them, and output sent to a
file or a pipe keeps every line whole (paths and hashes are not split at 80 columns).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgressBar
from rich.table import Table
from rich.text import Text

from radpath.warehouse.connect import resolve_db

if TYPE_CHECKING:
    from radpath.stage import StageSummary


def plain_console(*, stderr: bool = False) -> Console:
    """A Console that prints text as given: no markup, no emoji codes, no hard wrapping (see the module docstring).
    Styles are given with `style=`, never inside the text."""
    return Console(stderr=stderr, markup=False, emoji=False, soft_wrap=True)


console = plain_console()
err_console = plain_console(stderr=True)

DbOption = typer.Option(
    None, "--db", envvar="RADPATH_DB", metavar="DB",
    help="Warehouse file [default: $RADPATH_DB, else ./radpath.duckdb].",
)
JobsOption = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for per-case work.")
SchedulerOption = typer.Option(
    None, "--scheduler",
    help="Dask scheduler address (tcp://host:8786); overrides --jobs [default: none, local processes]."
)
RetryOption = typer.Option(False, "--retry-failed", help="Re-run only the cases that failed last time.")


def db_path(db: Path | None) -> Path:
    return resolve_db(db)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    logging.captureWarnings(True)


class RichProgress:
    """A rich progress bar on stderr, implementing `radpath.progress.Progress`."""

    def __init__(self) -> None:
        self._bar: RichProgressBar | None = None
        self._task: Any = None
        self.failed = 0

    def start(self, total: int, description: str) -> None:
        self._bar = RichProgressBar(
            TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed", markup=False), TimeElapsedColumn(), TimeRemainingColumn(),
            console=err_console, transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(description, total=total, failed=0)

    def advance(self, ok: bool = True, note: str | None = None) -> None:
        if not ok:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


FAILURES_SHOWN = 10


def print_run(summary: StageSummary, line: str, files: str | None = None, con: Any = None) -> None:
    """Print a stage run's line, where its files went (only when it wrote any) and its first failures; given the
    warehouse, a slide stage's QC line and µm/px warnings (`radpath.pathology.qc.run_lines`) follow."""
    where = f"; {files}" if files and summary.done else ""
    console.print(f"run {summary.run.run_id}: {line}{where}")
    failures = list(summary.failed.values())
    for error in failures[:FAILURES_SHOWN]:
        console.print(f"  failed {error}")
    if len(failures) > FAILURES_SHOWN:
        console.print(f"  ... and {len(failures) - FAILURES_SHOWN} more (radpath query failures)")
    if con is not None:
        from radpath.pathology.qc import run_lines

        for qc_line in run_lines(con, summary.run.run_id):
            console.print(qc_line, markup=False)


def exit_if_cases_failed(summaries: Sequence[StageSummary]) -> None:
    """End a per-case stage command with exit status 1 when any case of its runs failed, so that `set -e` scripts
    (and `make demo`) stop there; every per-case stage command ends through here. The runs stay recorded
    ('partial' or 'failed'), with each case's reason in case_failures."""
    failed = sum(len(s.failed) for s in summaries)
    if failed:
        total = failed + sum(len(s.done) for s in summaries)
        err_console.print(f"{failed} of {total} cases failed (exit status 1); `radpath query failures` lists them",
                          style="red")
        raise typer.Exit(1)


def print_frame(
    frame: pd.DataFrame, title: str | None = None, max_rows: int = 200, *, out: Console | None = None,
    more: bool = False,
) -> None:
    """Print a data frame: a table when it fits the terminal, else one record per block (column: value);
    numbers to 4 significant digits, never cut; plain text when piped; "0 rows" and the columns when empty.
    `more`: the frame is the head of a longer result whose length is not known (radpath sql)."""
    out = out or console
    if frame.empty:
        prefix = f"{title}: " if title else ""
        columns = ", ".join(str(c) for c in frame.columns) or "none"
        if out.is_terminal:
            out.print(f"{prefix}0 rows (columns: {columns})", markup=False, highlight=False)
        else:
            print(f"{prefix}0 rows (columns: {columns})")
        return
    shown = frame.head(max_rows)
    if len(frame) > max_rows:
        more_rows = f"... {len(frame) - max_rows} more rows (use --csv or --parquet for all)"
    elif more:
        more_rows = f"... more rows not shown, the first {len(shown)} are (use --csv or --parquet for all, or LIMIT)"
    else:
        more_rows = ""
    if not out.is_terminal:
        if title:
            print(f"# {title}")
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        if more_rows:
            print(more_rows)
        return
    headers = [str(c) for c in shown.columns]
    rows = [[_cell(value) for value in row] for row in shown.itertuples(index=False)]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    if sum(widths) + 3 * len(widths) + 1 <= out.width:
        table = Table(title=Text(title) if title else None, show_lines=False)
        for column, header in zip(shown.columns, headers, strict=True):
            numeric = pd.api.types.is_numeric_dtype(shown[column])
            table.add_column(Text(header), justify="right" if numeric else "left", overflow="fold")
        for row in rows:  # Text, never str: a value like '[/bold]' or 'T2[a]' is data, not markup
            table.add_row(*(Text(value) for value in row))
        out.print(table, soft_wrap=False)
    else:  # too wide for the terminal: one block per record, like psql's expanded display
        if title:
            out.print(Text(title, style="bold"))
        label = max(len(h) for h in headers)
        for number, row in enumerate(rows, start=1):
            out.print(f"-[ row {number} ]" + "-" * max(0, min(out.width, 40) - 12 - len(str(number))), markup=False)
            for header, value in zip(headers, row, strict=True):
                out.print(f"{header.ljust(label)} | {value}", markup=False, highlight=False, soft_wrap=False)
    if more_rows:
        out.print(more_rows)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
