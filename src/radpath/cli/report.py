"""Manuscript outputs: `tables`, `figures`, `report`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path
from radpath.paths import output_dir

FormatOption = typer.Option("md,csv,tex,html,docx", "--format", help="Comma-separated: md, csv, tex, html, docx.")
CohortOption = typer.Option(
    None, "--cohort",
    help="Cohort that Table 2, Table 3 and the training-cohort figures describe [default: the cohort whose "
    "manifest role is training; give --cohort when there are none or several].",
)
AllowMissingOption = typer.Option(
    False, "--allow-missing", help="Exit 0 even when some figures cannot be drawn (they are listed either way)."
)


def register(app: typer.Typer) -> None:
    app.command("tables")(tables)
    app.command("figures")(figures)
    app.command("report")(report)


def _write_tables(db: Path | None, out: Path, formats: str, cohort: str | None) -> dict:
    from radpath.report.formats import parse_formats, write_table
    from radpath.report.tables import build_tables
    from radpath.warehouse import open_warehouse

    names = parse_formats(formats)
    with open_warehouse(db_path(db), read_only=True) as con:
        built = build_tables(con, cohort)
    output_dir(out, "--out")
    for name, table in built.items():
        write_table(table, out / name, names)
        state = f"{len(table)} rows" if len(table) else "empty (analysis not run)"
        console.print(f"{name}: {state} -> {out / name}.{{{','.join(names)}}}")
    return built


def tables(
    out: Path = typer.Option(..., "--out", metavar="OUT_FOLDER", help="Folder for the tables."),
    format: str = FormatOption,
    cohort: str = CohortOption,
    db: Path = DbOption,
) -> None:
    """Write the manuscript tables (Tables 1-4, associations, model comparison, survival) in the paper's layout,
    with captions and footnotes, from the warehouse."""
    _write_tables(db, out, format, cohort)


def _draw(db: Path | None, out: Path, cohort: str | None) -> tuple[dict, dict]:
    from radpath.report.figures import draw_figures
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db), read_only=True) as con:
        drawn, skipped = draw_figures(con, output_dir(out, "--out"), cohort)
    for name, paths in drawn.items():
        console.print(f"{name}: {len(paths)} files in {out}")
    return drawn, skipped


def _missing(skipped: dict, allow_missing: bool) -> None:
    """List the figures not drawn; without --allow-missing that is a failure (exit 1)."""
    if not skipped:
        return
    console.print(f"{len(skipped)} figure(s) not drawn:", style="yellow")
    for name, reason in skipped.items():
        console.print(f"  {name}: {reason}", markup=False)
    if not allow_missing:
        console.print("exit status 1: some figures are missing (pass --allow-missing to accept that)")
        raise typer.Exit(1)


def figures(
    out: Path = typer.Option(..., "--out", metavar="OUT_FOLDER", help="Folder for PNG and SVG files."),
    cohort: str = CohortOption,
    allow_missing: bool = AllowMissingOption,
    db: Path = DbOption,
) -> None:
    """Draw the manuscript figures (heat maps, box plots, ROC, Kaplan-Meier, TIL maps) as PNG and SVG; exit 1
    when a figure cannot be drawn unless --allow-missing."""
    _, skipped = _draw(db, out, cohort)
    _missing(skipped, allow_missing)


def report(
    out: Path = typer.Option(..., "--out", metavar="OUT_FOLDER",
        help="Folder for the report (tables/, figures/, models/, report.html)."),
    format: str = FormatOption,
    cohort: str = CohortOption,
    allow_missing: bool = AllowMissingOption,
    db: Path = DbOption,
) -> None:
    """Write tables, figures, model cards (models/NAME_vN.md) and one self-contained HTML page with run
    provenance; exit 1 when a figure cannot be drawn (listed in the summary and the page) unless --allow-missing."""
    from radpath.report.cards import write_model_cards
    from radpath.report.html import write_report
    from radpath.warehouse import open_warehouse

    built = _write_tables(db, out / "tables", format if "csv" in format else format + ",csv", cohort)
    drawn, skipped = _draw(db, out / "figures", cohort)
    with open_warehouse(db_path(db), read_only=True) as con:
        cards = write_model_cards(con, out / "models")
        path = write_report(con, out, built, drawn, skipped, cards)
    console.print(f"model cards: {len(cards)} in {out / 'models'}")
    console.print(f"report: {path}")
    _missing(skipped, allow_missing)
