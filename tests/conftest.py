"""Fixtures shared by every test module: a fresh warehouse and a small synthetic study.

Per-area fixtures live in the area's own conftest.py (tests/mri/, tests/pathology/, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from radpath.synth.study import Study, generate_study
from radpath.warehouse import open_warehouse


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a new, empty warehouse file (created on first open)."""
    return tmp_path / "radpath.duckdb"


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An open, migrated warehouse."""
    with open_warehouse(db_path) as connection:
        yield connection


@pytest.fixture(scope="session")
def table_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """Tables-only synthetic study (clinical, TIL, outcomes), 40 + 30 included patients, seed 7."""
    out = tmp_path_factory.mktemp("table_study")
    return generate_study(out, seed=7, n_train=40, n_valid=30, modalities=["tables"])
