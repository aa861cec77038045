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


def _run_query(db: Path | None, text: str, csv: Path | None, parquet: Path | None) -> None:
    """Run checked read-only statements; export with pandas/pyarrow, never with SQL (see warehouse.readonly)."""
    from radpath.paths import output_file
    from radpath.warehouse.readonly import run_read_only

    frame = run_read_only(db_path(db), text)
    if parquet:
        parquet = output_file(parquet, "--parquet")
        frame.to_parquet(parquet, index=False)
        console.print(f"wrote {len(frame)} rows to {parquet}")
    if csv:
        csv = output_file(csv, "--csv")
        frame.to_csv(csv, index=False)
        console.print(f"wrote {len(frame)} rows to {csv}")
    if not csv and not parquet:
        print_frame(frame)


def sql(
    statement: str = typer.Argument(..., help="A SQL query over the warehouse views (patients, features, ...)."),
    db: Path = DbOption,
    csv: Path = typer.Option(None, "--csv", metavar="OUT_FILE",
        help="Write the result to this CSV file [default: print it]."),
    parquet: Path = typer.Option(None, "--parquet", metavar="OUT_FILE",
        help="Write the result to this Parquet file [default: print it]."),
) -> None:
    """Run read-only SQL (SELECT, WITH, VALUES, DESCRIBE, SHOW, SUMMARIZE, EXPLAIN, reading PRAGMAs) and print
    the result or save it with --csv/--parquet; statements that write files or change the warehouse or its
    settings (COPY, EXPORT, ATTACH, SET, CREATE, INSERT, ...) are refused."""
    _run_query(db, statement, csv, parquet)


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
) -> None:
    """Run a named query from sql/queries/NAME.sql."""
    queries = named_queries()
    if name not in queries:
        raise RadpathError(f"no query named {name!r}; known: {', '.join(sorted(queries))}")
    _run_query(db, queries[name], csv, parquet)


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
