"""Commands of the stats issue: associate, fit-signature, fit-composite, evaluate, apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from radpath.cli.common import DbOption, console, print_frame

MODALITY_HELP = "Feature modalities (repeatable) [default: mri, or every modality when features are listed]."
FEATURES_HELP = ("Candidate features: codes and/or named sets, comma-separated or repeated, e.g. paper_table1 "
                 "(the paper's 17 Table 1 features) or M1,TEX2 [default: every feature of --modality].")


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


CsvOption = typer.Option(None, "--csv", metavar="OUT_FILE",
                         help="Also write the whole table to this CSV file [default: print a summary only].")


def _show(outcome: Any, csv: Path | None = None) -> None:
    """Print each table (or its preview, saying where the rest is), the notes and the run; `csv` receives the
    command's first table in full."""
    for title, frame in outcome.tables.items():
        print_frame(outcome.previews.get(title, frame), title=title)
        if title in outcome.where:
            console.print(f"shown: {outcome.where[title]}", markup=False, highlight=False)
    for note in outcome.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if csv is not None and outcome.tables:
        from radpath.paths import output_file

        title, frame = next(iter(outcome.tables.items()))
        path = output_file(csv, "--csv")
        frame.to_csv(path, index=False)
        console.print(f"wrote all {len(frame)} rows of {title} to {path}", markup=False, highlight=False)
    console.print(f"run {outcome.run_id}")


def register(app: typer.Typer) -> None:
    @app.command("associate")
    def associate_cmd(
        cohort: str = typer.Option(..., "--cohort", help="Cohort to analyse."),
        target: str = typer.Option("til", "--target", help="til, or a feature code such as CYT or TMB."),
        modality: list[str] = typer.Option([], "--modality", help=MODALITY_HELP),
        features: list[str] = typer.Option([], "--features", help=FEATURES_HELP),
        alpha: float = typer.Option(0.05, "--alpha", help="P threshold for significance (0 < alpha <= 1)."),
        fdr: float = typer.Option(0.2, "--fdr", help="Benjamini-Hochberg FDR threshold for significance "
                                  "(0 < fdr <= 1)."),
        csv: Path = CsvOption,
        db: Path | None = DbOption,
    ) -> None:
        """Pearson r (Fisher-z CI, BH-FDR) of each feature with the target, TMB and CYT.

        Prints the counts per target and the 10 smallest P of each; every row is in the warehouse (view
        table_associations) and in --csv FILE."""
        from radpath.stats.pipeline import run_associate
        from radpath.warehouse import open_warehouse

        with open_warehouse(db) as con:
            _show(run_associate(con, cohort, target=target, modalities=_split(modality), alpha=alpha, fdr=fdr,
                                features=_split(features)), csv)

    @app.command("fit-signature")
    def fit_signature_cmd(
        cohort: str = typer.Option(..., "--cohort", help="Training cohort (its included patients with TIL)."),
        target: str = typer.Option("til", "--target", help="Only til is supported."),
        name: str = typer.Option("signature", "--name", help="Model name to save (a refit adds a version)."),
        label: str = typer.Option(None, "--label", help="Readable name printed in tables, figures and the model "
                                  "card, e.g. 'Imaging signature' [default: 'Imaging signature (NAME)']."),
        modality: list[str] = typer.Option([], "--modality", help=MODALITY_HELP),
        features: list[str] = typer.Option([], "--features", help=FEATURES_HELP),
        folds: int = typer.Option(10, "--folds", min=2, help="Outer k-fold partitions of each repeat."),
        repeats: int = typer.Option(100, "--repeats", min=1, help="Repeats of the k-fold LASSO selection."),
        min_frequency: float = typer.Option(
            0.9, "--min-frequency", min=0.0, max=1.0,
            help="Keep features selected in more than this fraction of the folds x repeats fits."),
        seed: int = typer.Option(0, "--seed", help="Seed of the outer fold partitions."),
        full_path: bool = typer.Option(False, "--full-path",
                                       help="Compute every alpha of each inner path (no early stop)."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes for the LASSO repeats."),
        db: Path | None = DbOption,
    ) -> None:
        """Repeated k-fold LASSO selection, then OLS on features selected in > min-frequency of fits.

        Each fold's LASSO fit predicts the patients it left out: those out-of-fold predictions are stored
        (cv_predictions) and give the cross-validated r and AUC beside the apparent (in-sample) ones."""
        from radpath.errors import StatsError
        from radpath.stats.pipeline import run_fit_signature
        from radpath.warehouse import open_warehouse

        if target.lower() != "til":
            raise StatsError(f"fit-signature models TIL; --target {target} is not supported")
        with open_warehouse(db) as con:
            _show(run_fit_signature(con, cohort, name=name, modalities=_split(modality), folds=folds,
                                    repeats=repeats, min_frequency=min_frequency, seed=seed, n_jobs=jobs,
                                    full_path=full_path, features=_split(features), label=label))

    @app.command("fit-composite")
    def fit_composite_cmd(
        cohort: str = typer.Option(..., "--cohort", help="Training cohort (the signature's)."),
        signature: str = typer.Option(..., "--signature", help="Name of a fitted signature."),
        with_: list[str] = typer.Option(["cyt"], "--with", help="Molecular terms: cyt, tmb (repeatable)."),
        adjust: list[str] = typer.Option(
            [], "--adjust", help="Adjustments: stage,er,pr,her2,tnbc,tmb [default: none]."
        ),
        name: str = typer.Option("composite", "--name", help="Model name to save (a refit adds a version)."),
        label: str = typer.Option(None, "--label", help="Readable name printed in tables, figures and the model "
                                  "card [default: the signature's label + the molecular terms, e.g. 'Imaging "
                                  "signature (sig) + cytolytic activity']."),
        db: Path | None = DbOption,
    ) -> None:
        """Multivariable OLS of TIL on signature + molecular scores (Table 4), refit and save the composite.

        When the signature stored its LASSO fold predictions, the composite is refitted within the same folds
        too: Table 3 reports its cross-validated AUC beside the apparent one."""
        from radpath.stats.pipeline import run_fit_composite
        from radpath.warehouse import open_warehouse

        with open_warehouse(db) as con:
            _show(run_fit_composite(con, cohort, signature=signature, with_=_split(with_), adjust=_split(adjust),
                                    name=name, label=label))

    @app.command("evaluate")
    def evaluate_cmd(
        cohort: str = typer.Option(..., "--cohort", help="Cohort with TIL readings to evaluate on."),
        model: str = typer.Option(..., "--model", help="The model evaluated (newest version); names the evaluation."),
        compare: list[str] = typer.Option([], "--compare", help="Other models evaluated on the same patients and "
                                          "compared with --model by DeLong's test (repeatable or comma-separated) "
                                          "[default: none]."),
        min_per_class: int = typer.Option(2, "--min-per-class", min=2,
                                          help="Fewest patients per TIL category for a comparison to be made."),
        db: Path | None = DbOption,
    ) -> None:
        """Correlation with TIL, AUC/DeLong CI/Youden per TIL category pair (Table 3), DeLong comparisons.

        All models are evaluated on the same patients; their predictions and the patients dropped are stored."""
        from radpath.stats.pipeline import run_evaluate
        from radpath.warehouse import open_warehouse

        with open_warehouse(db) as con:
            _show(run_evaluate(con, cohort, model, _split(compare), min_per_class=min_per_class))

    @app.command("apply")
    def apply_cmd(
        model: str = typer.Option(..., "--model", help="Fitted model name, or published:wu2020_signature."),
        cohort: str = typer.Option(..., "--cohort", help="Cohort to score."),
        version: int | None = typer.Option(None, "--version", help="Model version [default: newest]."),
        csv: Path = CsvOption,
        db: Path | None = DbOption,
    ) -> None:
        """Score a cohort with a frozen model and store predictions and TIL groups.

        Prints the group counts and the first 10 patients; every prediction is in the warehouse
        (model_predictions) and in --csv FILE. published:wu2020_signature applies the paper's signature,
        standardised within the cohort."""
        from radpath.stats.pipeline import run_apply
        from radpath.warehouse import open_warehouse

        with open_warehouse(db) as con:
            _show(run_apply(con, model, cohort, version), csv)
