"""`radpath validate-survival`: survival validation of a frozen TIL model on an independent cohort."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import DbOption, console, db_path, print_frame


def register(app: typer.Typer) -> None:
    app.command("validate-survival")(validate_survival)


def validate_survival(
    cohort: str = typer.Option(..., "--cohort", help="Validation cohort (e.g. ispy1)."),
    model: str = typer.Option(..., "--model", help="Model name (models.name)."),
    version: int | None = typer.Option(None, "--version", help="Model version [default: newest]."),
    endpoint: str = typer.Option("rfs", "--endpoint", help="Outcome endpoint (outcomes.endpoint)."),
    groups: int = typer.Option(2, "--groups", help="3: low/intermediate/high; 2: two groups (see --merge)."),
    merge: str = typer.Option("high+intermediate", "--merge",
                              help="With --groups 2: the adjacent levels to merge (high+intermediate | "
                                   "low+intermediate)."),
    by: str | None = typer.Option("subtype", "--by", help="Subgroups: 'subtype' (receptor status) or 'none'."),
    n_boot: int = typer.Option(200, "--n-boot", min=0, help="Bootstrap resamples for the C-index CI."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    min_events: int = typer.Option(5, "--min-events", min=1, help="Fewer events: 'not estimable'."),
    figures: Path = typer.Option(Path("figures/survival"), "--figures", metavar="OUT_FOLDER",
        help="Folder for the KM plots (PNG, SVG)."),
    no_figures: bool = typer.Option(False, "--no-figures", help="Do not draw the KM plots."),
    db: Path | None = DbOption,
) -> None:
    """KM, log-rank, Cox (+ Schoenfeld), C-index and Mann-Whitney of predicted TIL groups, per receptor subgroup."""
    from radpath.stats.survival_validation import ValidationOptions
    from radpath.stats.survival_validation import validate_survival as run_validation
    from radpath.warehouse import open_warehouse

    options = ValidationOptions(
        cohort=cohort, model=model, version=version, endpoint=endpoint, groups=groups, merge=merge,
        by=None if by in (None, "none", "") else by, n_boot=n_boot, seed=seed, min_events=min_events,
        figures=None if no_figures else figures,
    )
    with open_warehouse(db_path(db)) as con:
        report = run_validation(con, options)
    results = report.analysis.results
    main = results[results["statistic"].isin(["logrank", "cox_hr", "schoenfeld", "c_index",
                                              "mann_whitney_recurrence", "mann_whitney_subtype", "kruskal_subtype"])]
    columns = ["subgroup", "statistic", "term", "estimate", "ci_lower", "ci_upper", "p_value", "n", "n_events", "note"]
    print_frame(results[results["statistic"] == "km_median"][columns], title="Kaplan-Meier medians (days)")
    print_frame(main[columns], title=f"{model} v{report.version} on {cohort}: {endpoint}")
    excluded = results[results["statistic"].str.startswith("n_excluded") & (results["subgroup"] == "all")]
    for row in excluded.itertuples(index=False):
        console.print(f"{row.statistic.replace('n_excluded_', 'excluded, ').replace('_', ' ')}: {int(row.estimate)}")
    for path in report.figures:
        console.print(f"figure: {path}")
    console.print(f"run {report.run_id}")
