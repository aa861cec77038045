"""Genomics fixtures: a small synthetic study with expression and MAF, and an ingested warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from radpath.ingest import ingest_manifest
from radpath.synth.study import Study, generate_study
from radpath.warehouse import open_warehouse


@pytest.fixture(scope="session")
def genomics_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """Tables + genomics, 30 + 24 included patients, seed 11."""
    out = tmp_path_factory.mktemp("genomics_study")
    return generate_study(out, seed=11, n_train=30, n_valid=24, modalities=["genomics"])


@pytest.fixture(scope="session")
def truth(genomics_study: Study) -> pd.DataFrame:
    return pd.read_csv(genomics_study.truth_path)


@pytest.fixture
def ingested(genomics_study: Study, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A fresh warehouse with both synthetic cohorts ingested."""
    with open_warehouse(tmp_path / "g.duckdb") as con:
        for manifest in genomics_study.manifests.values():
            ingest_manifest(con, manifest)
        yield con
