"""The `radpath` command: builds the typer app from an explicit list of command modules.

Each module in `COMMAND_MODULES` defines `register(app)` that adds its commands. Modules import
their heavy dependencies (torch, openslide, SimpleITK) inside the command functions, so that
`radpath --help` stays fast. Errors radpath raises on purpose (`RadpathError`) are printed as one
line and exit with status 2, as are the operating system's refusals to read or write a named file (an
`OSError` carrying its file name: no such folder, permission denied, disk full, read-only file system), which
no up-front check can rule out; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from radpath import __version__
from radpath.cli.checks import RadpathGroup
from radpath.errors import RadpathError

COMMAND_MODULES: tuple[str, ...] = (
    "radpath.cli.warehouse",
    "radpath.cli.cohort",
    "radpath.cli.synth",
    "radpath.cli.mri",
    "radpath.cli.pathology",
    "radpath.cli.segmentation",
    "radpath.cli.cells",
    "radpath.cli.models",
    "radpath.cli.genomics",
    "radpath.cli.stats",
    "radpath.cli.survival",
    "radpath.cli.report",
    "radpath.cli.serve",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"radpath {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="radpath",
        help="Radiology-pathology integration study platform for breast cancer research.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        cls=RadpathGroup,
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ) -> None:
        """Radiology-pathology integration study platform for breast cancer research."""

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    return app


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        app(args=argv, prog_name="radpath", standalone_mode=True)
    except RadpathError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except OSError as exc:
        if exc.filename is None:
            raise
        typer.secho(f"error: {exc.filename!s}: {exc.strerror or exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
