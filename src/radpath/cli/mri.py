"""Commands of the mri issue (being written; registers nothing yet)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    return None
