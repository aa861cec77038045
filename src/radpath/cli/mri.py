"""Commands of the MRI issue: `extract-mri`, `mri inspect`, `mri reduce`."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import (
    DbOption,
    JobsOption,
    RetryOption,
    RichProgress,
    SchedulerOption,
    console,
    db_path,
    exit_if_cases_failed,
    print_frame,
    print_run,
)

ParamsOption = typer.Option(None, "--params", metavar="YAML",
    help="MRI parameters file (YAML or JSON) [default: built-in parameters].")


def register(app: typer.Typer) -> None:
    app.command("extract-mri")(extract_mri)
    group = typer.Typer(help="Inspect DCE-MRI cases and reduce MRI features.", no_args_is_help=True)
    group.command("inspect")(inspect)
    group.command("reduce")(reduce)
    app.add_typer(group, name="mri")


def extract_mri(
    manifest: Path = typer.Argument(..., metavar="YAML", help="Cohort manifest (YAML) with an mri section."),
    case: list[str] = typer.Option(None, "--case", help="Only these patient ids (repeatable) [default: every case]."),
    params: Path = ParamsOption,
    db: Path = DbOption,
    jobs: int = JobsOption,
    scheduler: str = SchedulerOption,
    retry_failed: bool = RetryOption,
) -> None:
    """Extract the DCE-MRI features of every case of a manifest into the warehouse."""
    from radpath.mri.extract import extract_mri as run
    from radpath.mri.params import load_params
    from radpath.warehouse import open_warehouse

    settings = load_params(params)
    with open_warehouse(db_path(db)) as con:
        summary = run(con, manifest, params=settings, cases=case or None, jobs=jobs, scheduler=scheduler,
                      retry_failed=retry_failed, progress=RichProgress())
    print_run(summary, f"{len(summary.done)} cases done, {len(summary.failed)} failed ({summary.status})")
    exit_if_cases_failed([summary])


def inspect(
    case: str = typer.Argument(..., help="Patient id, or a case folder path."),
    manifest: Path = typer.Option(None, "--manifest", metavar="YAML",
        help="Cohort manifest that lists the case [default: none, CASE is a folder]."),
    params: Path = ParamsOption,
    png: Path = typer.Option(None, "--png", metavar="OUT_FILE", help="Montage file [default: ./<case>_mri.png]."),
) -> None:
    """Print what was found for a case (phases and the rule that split them, times, spacing, vendor, field
    strength, breast region and skin band, parenchyma cluster) and write a PNG montage that draws the parenchyma
    contour on several slices."""
    from radpath.mri.inspect import inspect_case
    from radpath.mri.params import load_params

    report = inspect_case(case, manifest, load_params(params), png)
    for key, value in report.items():
        console.print(f"{key}: {value}", markup=False)


def reduce(
    manifest: Path = typer.Argument(..., metavar="YAML",
        help="Cohort manifest of the cohort to reduce the features on."),
    threshold: float = typer.Option(0.85, "--threshold", help="Drop one of two features correlated above this."),
    max_cases: int = typer.Option(40, "--max-cases", help="Cases re-run with eroded/dilated masks for the ICC."),
    params: Path = ParamsOption,
    db: Path = DbOption,
    jobs: int = JobsOption,
) -> None:
    """Drop redundant MRI features (|r| > threshold), keeping the one more robust to contour variation."""
    from radpath.mri.params import load_params
    from radpath.mri.reduce import reduce_features
    from radpath.warehouse import open_warehouse

    with open_warehouse(db_path(db)) as con:
        result = reduce_features(con, manifest, load_params(params), threshold=threshold, max_cases=max_cases,
                                 jobs=jobs)
    kept = result[result["kept"]]
    print_frame(kept[["code", "icc", "reason"]], title=f"{len(kept)} of {len(result)} features kept")
