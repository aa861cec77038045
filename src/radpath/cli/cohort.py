"""Cohort commands: `ingest MANIFEST`, `cohort show NAME`, `cohort list`, `cohort remove NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path, print_frame

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
                f"{len(data.til)} TIL readings, {len(data.outcomes)} outcome rows", soft_wrap=True
            )
            for source, path in data.absent.items():
                needs = [c.label for c in _criteria_needing(manifest, source)]
                counted = f"; counted as missing by {', '.join(repr(n) for n in needs)}" if needs else ""
                console.print(f"  source {source} absent ({path} does not exist){counted}",
                              markup=False, soft_wrap=True)
            for source, rows in data.unmatched.items():
                console.print(f"  {rows} {source} rows name patients the clinical table does not list: not loaded",
                              markup=False, soft_wrap=True)
            print_frame(data.flow, "inclusion flow")


def _criteria_needing(manifest: Path, source: str) -> list:  # type: ignore[type-arg]
    from radpath.cohort import load_manifest

    return [c for c in load_manifest(manifest).manifest.inclusion if c.kind == "source_present" and c.source == source]


@cohort_app.command("show")
def show(name: str = typer.Argument(..., help="Cohort name (the manifest's `name`)."), db: Path = DbOption) -> None:
    """Print a cohort's inclusion flow (like the paper's Figure S1) and attribute counts."""
    from radpath.warehouse import open_warehouse
    from radpath.warehouse.cohorts import require_cohort

    with open_warehouse(db_path(db), read_only=True) as con:
        flow = con.execute(
            "SELECT step, criterion, n_before, n_excluded, n_after, exclusion_reason FROM inclusion_flow "
            "WHERE cohort = ? ORDER BY step",
            [name],
        ).df()
        require_cohort(con, name)
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


@cohort_app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Cohort name (the manifest's `name`)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking (needed when not at a terminal)."),
    db: Path = DbOption,
) -> None:
    """Delete a cohort and every row that belongs to it (patients, tables, features, results) in one transaction;
    fitted models stay."""
    import sys

    from radpath.errors import RadpathError
    from radpath.warehouse import open_warehouse
    from radpath.warehouse.cohorts import cohort_rows, remove_cohort, require_cohort

    with open_warehouse(db_path(db)) as con:
        require_cohort(con, name)
        rows = cohort_rows(con, name)
        listing = ", ".join(f"{table} {n}" for table, n in rows.items())
        if not yes:
            if not sys.stdin.isatty():
                raise RadpathError(f"cohort {name!r} has {sum(rows.values())} rows ({listing}); "
                                   "pass --yes to remove them when not at a terminal")
            if not typer.confirm(f"remove cohort {name!r}: {sum(rows.values())} rows ({listing})?"):
                raise typer.Exit(1)
        removal = remove_cohort(con, name)
    console.print(f"removed cohort {name}: {removal.total} rows ({listing})", markup=False)
    if removal.kept_models:
        console.print(f"kept models trained on it: {', '.join(removal.kept_models)}", markup=False)
