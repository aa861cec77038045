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
    print_frame,
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
    console.print(f"run {summary.run.run_id}: {len(summary.done)} cases done, {len(summary.failed)} failed "
                  f"({summary.status})")
    for case_id, error in sorted(summary.failed.items())[:20]:
        console.print(f"  failed {case_id}: {error}", markup=False)
    if summary.status == "failed" and summary.failed:
        raise typer.Exit(1)


def inspect(
    case: str = typer.Argument(..., help="Patient id, or a case folder path."),
    manifest: Path = typer.Option(None, "--manifest", metavar="YAML",
        help="Cohort manifest that lists the case [default: none, CASE is a folder]."),
    params: Path = ParamsOption,
    png: Path = typer.Option(None, "--png", metavar="OUT_FILE", help="Montage file [default: ./<case>_mri.png]."),
    study: str = typer.Option(None, "--study", metavar="RULE",
        help="Which visit of a DICOM exam: first, last, an index (1, 2, -1), a date (2002-03-15) or a "
             "StudyDescription glob [default: the manifest's mri.study, else first]."),
    series: str = typer.Option(None, "--series", metavar="RULE",
        help="The DCE series of a DICOM exam by SeriesNumber or SeriesDescription glob [default: the manifest's "
             "mri.series, else chosen automatically]."),
) -> None:
    """Print what was found for a case and write a PNG montage that draws the parenchyma contour on several
    slices. For a DICOM exam: the study (visit) and series read, and every series skipped with its reason
    (derived maps, SEG, localiser, single time point, other visits), from headers alone, before the pipeline
    runs; then the phases and the rule that split them, times, spacing, vendor, field strength, breast region
    and skin band, parenchyma cluster."""
    from radpath.mri.inspect import inspect_prepared, resolve_case, series_report
    from radpath.mri.params import load_params

    settings = load_params(params)
    item = resolve_case(case, manifest, study=study, series=series)
    console.print(f"case: {item.case_id}")
    choice, found = series_report(item)
    _print_report(found)
    report = inspect_prepared(item, settings, png, choice)
    _print_report({key: value for key, value in report.items() if key != "case"})


def _print_report(report: dict[str, object]) -> None:
    """`key: value` lines; a list of texts one per line below its key."""
    for key, value in report.items():
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            console.print(f"{key}:")
            for line in value:
                console.print(f"  {line}")
        else:
            console.print(f"{key}: {value}")


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
