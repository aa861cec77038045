"""Cohort commands: `ingest MANIFEST`, `cohort show NAME`, `cohort list`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path, print_frame
from radpath.errors import RadpathError

cohort_app = typer.Typer(help="Inspect ingested cohorts (inclusion flow, attributes).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.add_typer(cohort_app, name="cohort")


def ingest(
    manifests: list[Path] = typer.Argument(..., metavar="YAML",
        help="Cohort manifest YAML file(s), e.g. cohorts/ispy1.yaml."),
    db: Path = DbOption,
) -> None:
    """Load clinical, TIL and outcome tables of a cohort and apply its inclusion criteria."""
    from radpath.ingest import ingest_manifest
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db)) as con:
        for manifest in manifests:
            data = ingest_manifest(con, manifest)
            included = int(data.patients["included"].sum())
            console.print(
                f"ingested {manifest}: {len(data.patients)} patients, {included} included, "
                f"{len(data.til)} TIL readings, {len(data.outcomes)} outcome rows"
            )
            print_frame(data.flow, "inclusion flow")


@cohort_app.command("show")
def show(name: str = typer.Argument(..., help="Cohort name (the manifest's `name`)."), db: Path = DbOption) -> None:
    """Print a cohort's inclusion flow (like the paper's Figure S1) and attribute counts."""
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db), read_only=True) as con:
        flow = con.execute(
            "SELECT step, criterion, n_before, n_excluded, n_after FROM inclusion_flow WHERE cohort = ? ORDER BY step",
            [name],
        ).df()
        if flow.empty:
            known = [row[0] for row in con.execute("SELECT cohort FROM cohorts ORDER BY 1").fetchall()]
            raise RadpathError(f"no cohort named {name!r} in the warehouse; ingested cohorts: {known or 'none'}")
        subtypes = con.execute(
            "SELECT coalesce(c.subtype, 'unknown') AS subtype, count(*) AS n FROM clinical c "
            "JOIN patients p USING (cohort, patient_id) WHERE p.included AND c.cohort = ? GROUP BY 1 ORDER BY 1",
            [name],
        ).df()
        til = con.execute(
            "SELECT t.til_category, count(*) AS n FROM til t JOIN patients p USING (cohort, patient_id) "
            "WHERE p.included AND t.cohort = ? GROUP BY 1 ORDER BY 1",
            [name],
        ).df()
        events = con.execute(
            "SELECT o.endpoint, count(*) AS patients, sum(o.event) AS events FROM outcomes o "
            "JOIN patients p USING (cohort, patient_id) WHERE p.included AND o.cohort = ? GROUP BY 1 ORDER BY 1",
            [name],
        ).df()
    print_frame(flow, f"{name}: inclusion flow")
    print_frame(subtypes, "included patients by subtype")
    if not til.empty:
        print_frame(til, "included patients by TIL category")
    if not events.empty:
        print_frame(events, "outcomes of included patients")


@cohort_app.command("list")
def list_cohorts(db: Path = DbOption) -> None:
    """List ingested cohorts with patient counts."""
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db), read_only=True) as con:
        print_frame(con.execute("SELECT * FROM cohorts ORDER BY cohort").df(), "cohorts")
