"""Warehouse commands: `init`, `sql`, `query`, `status`."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer
from rich.text import Text

from radpath.cli.common import DbOption, console, db_path, print_frame
from radpath.errors import RadpathError


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("sql")(sql)
    app.command("query")(query)
    app.command("status")(status)


def init(db: Path = DbOption) -> None:
    """Create or migrate the warehouse to this radpath's schema."""
    from radpath.warehouse import latest_version, open_warehouse

    path = db_path(db)
    with open_warehouse(path):
        pass
    console.print(f"warehouse {path} is at schema version {latest_version()}")


ROWS_SHOWN = 200

TimeoutOption = typer.Option(None, "--timeout", min=0.001, metavar="SECONDS",
    help="Stop the query after this many seconds (a one-line error) [default: none; Ctrl-C always stops it].")
MemoryOption = typer.Option(None, "--memory-limit", metavar="SIZE",
    help="DuckDB memory limit for the query, e.g. 4GB [default: DuckDB's, 80% of RAM].")


def _run_query(db: Path | None, text: str, csv: Path | None, parquet: Path | None, timeout: float | None = None,
               memory_limit: str | None = None) -> None:
    """Run checked read-only statements: print the first rows, or stream the whole result to --csv/--parquet (see
    warehouse.readonly: export is pyarrow's, never SQL's)."""
    from radpath.paths import output_file
    from radpath.warehouse.readonly import ReadOnlySession, check_query_text

    check_query_text(text)  # before opening anything: the input is the problem
    csv = output_file(csv, "--csv") if csv else None
    parquet = output_file(parquet, "--parquet") if parquet else None
    with ReadOnlySession(db_path(db), timeout=timeout, memory_limit=memory_limit) as session:
        if csv or parquet:
            rows = session.export(text, csv=csv, parquet=parquet)
            for path in (parquet, csv):
                if path:
                    console.print(f"wrote {rows} rows to {path}")
            return
        frame, more = session.head(text, ROWS_SHOWN)
    print_frame(frame, more=more)


def sql(
    statement: str = typer.Argument(..., help="A SQL query over the warehouse views (patients, features, ...)."),
    db: Path = DbOption,
    csv: Path = typer.Option(None, "--csv", metavar="OUT_FILE",
        help="Write the whole result to this CSV file, streamed [default: print the first 200 rows]."),
    parquet: Path = typer.Option(None, "--parquet", metavar="OUT_FILE",
        help="Write the whole result to this Parquet file, streamed [default: print the first 200 rows]."),
    timeout: float = TimeoutOption,
    memory_limit: str = MemoryOption,
) -> None:
    """Run read-only SQL (SELECT, WITH, VALUES, PIVOT, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, reading PRAGMAs) and
    print the first rows or stream the whole result to --csv/--parquet; Ctrl-C or --timeout stops a long query.
    Statements that write files or change the warehouse or its settings (COPY, EXPORT, ATTACH, SET, CREATE,
    INSERT, ...) are refused."""
    _run_query(db, statement, csv, parquet, timeout, memory_limit)
def named_queries() -> dict[str, str]:
    """Named queries shipped in `sql/queries/NAME.sql`."""
    folder = resources.files("radpath.sql").joinpath("queries")
    return {
        entry.name[:-4]: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    }


def query(
    name: str = typer.Argument(..., help="Name of a query in sql/queries (e.g. inclusion_flow)."),
    db: Path = DbOption,
    csv: Path = typer.Option(None, "--csv", metavar="OUT_FILE",
        help="Write the result to this CSV file [default: print it]."),
    parquet: Path = typer.Option(None, "--parquet", metavar="OUT_FILE",
        help="Write the result to this Parquet file [default: print it]."),
    timeout: float = TimeoutOption,
) -> None:
    """Run a named query from sql/queries/NAME.sql."""
    queries = named_queries()
    if name not in queries:
        raise RadpathError(f"no query named {name!r}; known: {', '.join(sorted(queries))}")
    _run_query(db, queries[name], csv, parquet, timeout)


def status(db: Path = DbOption) -> None:
    """Summarise cohorts, modalities present, recent runs, the last failed and interrupted runs with their errors,
    and failures. A run still marked running whose process has ended (killed) is shown as interrupted."""
    from radpath.warehouse import open_warehouse
    from radpath.warehouse.runs import INTERRUPTED, gone_runs

    path = db_path(db)
    with open_warehouse(path, read_only=True) as con:
        gone = gone_runs(con)  # read-only: the next write-open records them as interrupted
        cohorts = con.execute("SELECT * FROM cohorts ORDER BY cohort").df()
        modalities = con.execute(
            "SELECT cohort, modality, count(DISTINCT patient_id) AS patients, count(DISTINCT code) AS features "
            "FROM features GROUP BY ALL ORDER BY cohort, modality"
        ).df()
        shown_status = "CASE WHEN list_contains(?, run_id) THEN 'interrupted' ELSE status END"
        runs = con.execute(
            f"SELECT run_id, command, {shown_status} AS status, started_at, finished_at FROM runs "
            "ORDER BY started_at DESC LIMIT 10", [gone]
        ).df()
        has_error = "error" in {row[0] for row in con.execute("DESCRIBE runs").fetchall()}
        failed_runs = con.execute(
            f"SELECT run_id, command, {shown_status} AS status, finished_at, "
            + ("CASE WHEN list_contains(?, run_id) THEN ? ELSE error END AS error" if has_error else "? AS error")
            + " FROM runs WHERE status IN ('failed', 'partial', 'interrupted') OR list_contains(?, run_id) "
            "ORDER BY started_at DESC LIMIT 5", [gone, gone, INTERRUPTED, gone] if has_error else [gone, None, gone]
        ).df()
        failures = con.execute(
            "SELECT f.stage, f.cohort, count(*) AS failures FROM case_failures f "
            "JOIN case_status s ON s.case_id = f.case_id AND s.stage = f.stage AND s.run_id = f.run_id "
            "WHERE s.status = 'failed' GROUP BY ALL ORDER BY ALL"
        ).df()
    console.print(Text.assemble(("warehouse", "bold"), f" {path}"))
    print_frame(cohorts, "cohorts")
    if not modalities.empty:
        print_frame(modalities, "features by modality")
    print_frame(runs, "latest runs")
    if failed_runs.empty:
        console.print("no failed runs")
    else:
        console.print("last failed runs, interrupted ones included (SELECT * FROM runs WHERE status <> 'ok' for all):")
        for row in failed_runs.itertuples(index=False):
            console.print(f"  {row.run_id} {row.command} ({row.status}): {row.error or 'no reason recorded'}",
                          markup=False, highlight=False)
    if failures.empty:
        console.print("no outstanding per-case failures")
    else:
        print_frame(failures, "outstanding per-case failures (see the case_failures table)")
