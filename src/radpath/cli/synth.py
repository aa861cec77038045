"""`radpath synth`: write the synthetic study used by the demo and the tests."""

from __future__ import annotations

from pathlib import Path

import typer

from radpath.cli.common import RichProgress, console


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)


def synth(
    out: Path = typer.Option(..., "--out", metavar="OUT_FOLDER", help="Folder to write the study into."),
    seed: int = typer.Option(1, "--seed", help="Random seed; a seed fixes the whole study."),
    n_train: int = typer.Option(126, "--n-train", min=10, help="Included patients of the training cohort."),
    n_valid: int = typer.Option(105, "--n-valid", min=10, help="Included patients of the validation cohort."),
    modality: list[str] = typer.Option(
        None, "--modality", help="Render only these modalities (repeatable) [default: all registered]."
    ),
    jobs: int = typer.Option(
        1, "--jobs", "-j", min=1, help="Processes rendering modalities side by side (the study is the same)."
    ),
) -> None:
    """Write a synthetic two-cohort study (truth table, files, one manifest per cohort)."""
    from radpath.synth.study import generate_study

    study = generate_study(
        out, seed=seed, n_train=n_train, n_valid=n_valid, modalities=modality or None, progress=RichProgress(),
        jobs=jobs,
    )
    console.print(f"truth table: {study.truth_path}")
    for cohort, manifest in study.manifests.items():
        console.print(f"manifest {cohort}: {manifest}")
