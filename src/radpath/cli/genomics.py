"""Genomics commands: `cytolytic MANIFEST...` (CYT, TMB, ComBat) and `genomics inspect MANIFEST`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path, print_frame

genomics_app = typer.Typer(help="Inspect expression and mutation sources.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("cytolytic")(cytolytic)
    app.add_typer(genomics_app, name="genomics")


def cytolytic(
    manifests: list[Path] = typer.Argument(..., metavar="YAML",
        help="Cohort manifest YAML file(s); ingest them first."),
    harmonize: bool = typer.Option(False, "--harmonize", help="ComBat across cohorts (batch = cohort)."),
    reference: str | None = typer.Option(None, "--reference",
        help="Cohort ComBat leaves unchanged [default: none, all cohorts adjusted]."),
    covariate: list[str] = typer.Option([], "--covariate",
        help="Clinical attribute ComBat keeps (repeatable) [default: none]."),
    db: Path = DbOption,
) -> None:
    """Cytolytic activity (GZMA, PRF1, CYT) and nonsynonymous mutation burden (TMB) per patient."""
    from radpath.genomics.pipeline import run_cytolytic
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db)) as con:
        result = run_cytolytic(con, manifests, harmonize=harmonize, reference=reference, covariates=covariate)
    console.print(f"run {result.run_id}" + (f": ComBat on {result.genes_harmonized} genes" if result.fit else ""))
    print_frame(result.summary, "genomic scores")


@genomics_app.command("inspect")
def inspect(manifest: Path = typer.Argument(..., metavar="YAML", help="Cohort manifest YAML file.")) -> None:
    """Samples, genes, platform and value scale of a cohort's expression source; MAF summary."""
    from radpath.genomics.pipeline import inspect as inspect_sources

    print_frame(inspect_sources(manifest), f"genomics sources of {manifest}")
