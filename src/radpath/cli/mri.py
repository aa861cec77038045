"""Commands of the MRI issue: `extract-mri`, `mri inspect`, `mri reduce`, `mri segment-tumour`."""

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
AUTO_HELP = ("auto-ftv: the I-SPY functional tumour volume (early PE >= 70 % above a background threshold, largest "
             "component, holes filled); auto-fcm: fuzzy C-means of the enhancement, most-enhancing cluster.")


def register(app: typer.Typer) -> None:
    app.command("extract-mri")(extract_mri)
    group = typer.Typer(help="Inspect DCE-MRI cases and reduce MRI features.", no_args_is_help=True)
    group.command("inspect")(inspect)
    group.command("reduce")(reduce)
    group.command("segment-tumour")(segment_tumour)
    app.add_typer(group, name="mri")


def extract_mri(
    manifest: Path = typer.Argument(..., metavar="YAML", help="Cohort manifest (YAML) with an mri section."),
    case: list[str] = typer.Option(None, "--case", help="Only these patient ids (repeatable) [default: every case]."),
    params: Path = ParamsOption,
    db: Path = DbOption,
    jobs: int = JobsOption,
    scheduler: str = SchedulerOption,
    retry_failed: bool = RetryOption,
    tumour_mask: str = typer.Option(None, "--tumour-mask", metavar="auto-ftv|auto-fcm",
        help="Segment the tumour automatically where a case's mask file is absent (" + AUTO_HELP + ") "
             "[default: none, a missing mask fails the case]."),
    masks_dir: Path = typer.Option(None, "--masks-dir", metavar="OUT_FOLDER",
        help="Where automatic tumour masks are written, one folder per case (NIfTI and DICOM SEG) "
             "[default: mri_masks/<cohort> beside the warehouse]."),
) -> None:
    """Extract the DCE-MRI features of every case of a manifest into the warehouse. Cases whose manifest says
    `mri.mask: auto-ftv` (or auto-fcm), or whose mask file is absent with --tumour-mask, get an automatic tumour
    mask, written for review; quality flags (a phase far from its target time, a small, border-touching or
    out-of-breast tumour mask) are printed one per line and stored in mri_cases."""
    from radpath.mri.extract import extract_mri as run
    from radpath.mri.extract import qc_lines
    from radpath.mri.params import load_params
    from radpath.mri.tumour import AUTO_METHODS
    from radpath.warehouse import open_warehouse

    if tumour_mask is not None and tumour_mask not in AUTO_METHODS:
        raise typer.BadParameter(f"{tumour_mask!r}: expected one of {', '.join(AUTO_METHODS)}",
                                 param_hint="--tumour-mask")
    settings = load_params(params)
    with open_warehouse(db_path(db)) as con:
        summary = run(con, manifest, params=settings, cases=case or None, jobs=jobs, scheduler=scheduler,
                      retry_failed=retry_failed, progress=RichProgress(), tumour_mask=tumour_mask,
                      masks_dir=masks_dir)
        flags = qc_lines(con, summary.run.run_id)
    print_run(summary, f"{len(summary.done)} cases done, {len(summary.failed)} failed ({summary.status})")
    for line in flags:
        console.print(line)
    exit_if_cases_failed([summary])


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


def segment_tumour(
    manifest: Path = typer.Argument(..., metavar="YAML", help="Cohort manifest (YAML) with an mri section."),
    method: str = typer.Option("auto-ftv", "--method", metavar="auto-ftv|auto-fcm", help=AUTO_HELP),
    out: Path = typer.Option(..., "--out", metavar="OUT_FOLDER",
        help="Folder for the masks: <out>/<patient_id>/tumour_<method>.nii.gz and .seg.dcm (DICOM cases)."),
    case: list[str] = typer.Option(None, "--case", help="Only these patient ids (repeatable) [default: every case]."),
    params: Path = ParamsOption,
    db: Path = DbOption,
    jobs: int = JobsOption,
) -> None:
    """Write the automatic tumour masks of a manifest's cases alone, for review before extraction: NIfTI, and a
    DICOM SEG referencing the pre-contrast series that 3D Slicer or OHIF open over it. A corrected mask given
    back as the case's mri.mask is used as is. Patients are the cohort's in the warehouse when it exists, else
    the case folders."""
    from radpath.mri.params import load_params
    from radpath.mri.segment_tumour import segment_tumours

    path = db_path(db)
    known = None
    if path.exists():
        from radpath.cohort import load_manifest
        from radpath.warehouse.readonly import connect_read_only

        con = connect_read_only(path)
        try:
            known = [r[0] for r in con.execute("SELECT patient_id FROM patients WHERE cohort = ? ORDER BY 1",
                                              [load_manifest(manifest).name]).fetchall()]
        finally:
            con.close()
    results = segment_tumours(manifest, method, out, known=known, cases=case or None, params=load_params(params),
                              jobs=jobs, progress=RichProgress())
    done = [r for r in results if r.ok]
    console.print(f"{len(done)} tumour masks written to {out}, {len(results) - len(done)} failed", markup=False)
    for r in results:
        if r.ok:
            console.print(f"  {r.case_id}: {r.cm3:.2f} cm3, {', '.join(r.files)}", markup=False)
            for flag in r.flags:
                console.print(f"QC {r.case_id}: {flag}", markup=False)
        else:
            console.print(f"  failed {r.case_id}: {r.error}", markup=False)
    if results and not done:
        raise typer.Exit(1)
