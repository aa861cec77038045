"""Manuscript outputs: `tables`, `figures`, `report`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path

FormatOption = typer.Option("md,csv,tex,html,docx", "--format", help="Comma-separated: md, csv, tex, html, docx.")
CohortOption = typer.Option(None, "--cohort", help="Cohort of Table 2 [default: the training cohort] and of Table 3 "
                            "and the model comparison [default: the cohort evaluated last].")


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
    for name, table in built.items():
        write_table(table, out / name, names)
        state = f"{len(table)} rows" if len(table) else "empty (analysis not run)"
        console.print(f"{name}: {state} -> {out / name}.{{{','.join(names)}}}")
    return built


def tables(
    out: Path = typer.Option(..., "--out", help="Folder for the tables."),
    format: str = FormatOption,
    cohort: str = CohortOption,
    db: Path = DbOption,
) -> None:
    """Write the manuscript tables (Tables 1-4, associations, model comparison, survival) in the paper's layout,
    with captions and footnotes, from the warehouse."""
    _write_tables(db, out, format, cohort)


def _draw(db: Path | None, out: Path) -> tuple[dict, dict]:
    from radpath.report.figures import draw_figures
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db), read_only=True) as con:
        drawn, skipped = draw_figures(con, out)
    for name, paths in drawn.items():
        console.print(f"{name}: {len(paths)} files in {out}")
    for name, reason in skipped.items():
        console.print(f"[yellow]{name} not drawn[/yellow]: {reason}")
    return drawn, skipped


def figures(out: Path = typer.Option(..., "--out", help="Folder for PNG and SVG files."), db: Path = DbOption) -> None:
    """Draw the manuscript figures (heat maps, box plots, ROC, Kaplan-Meier, TIL maps) as PNG and SVG."""
    _draw(db, out)


def report(
    out: Path = typer.Option(..., "--out", help="Folder for the report (tables/, figures/, models/, report.html)."),
    format: str = FormatOption,
    cohort: str = CohortOption,
    db: Path = DbOption,
) -> None:
    """Write tables, figures, model cards (models/NAME_vN.md) and one self-contained HTML page with run
    provenance."""
    from radpath.report.cards import write_model_cards
    from radpath.report.html import write_report
    from radpath.warehouse import open_warehouse

    built = _write_tables(db, out / "tables", format if "csv" in format else format + ",csv", cohort)
    drawn, skipped = _draw(db, out / "figures")
    with open_warehouse(db_path(db), read_only=True) as con:
        cards = write_model_cards(con, out / "models")
        path = write_report(con, out, built, drawn, skipped, cards)
    console.print(f"model cards: {len(cards)} in {out / 'models'}")
    console.print(f"report: {path}")
