"""A real warehouse holding the table_study's cohorts plus synthetic MRI and genomics features.

MRI-like features: SIGNAL_k (k = 1..4) = +/- z_img + small noise (the planted signal), and NOISE_k pure noise.
Genomics: CYT = 2 ** cyt_log2 (linear TPM-like scale), TMB = tmb / 38 (per Mb), from the synthetic truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from radpath.ingest import ingest_manifest
from radpath.synth.study import Study, generate_study
from radpath.warehouse import open_warehouse, start_run, transaction, write_features

SIGNAL = ["SIGNAL_1", "SIGNAL_2", "SIGNAL_3", "SIGNAL_4"]
N_NOISE = 26


def write_synthetic_features(con: duckdb.DuckDBPyConnection, truth: pd.DataFrame, seed: int = 11,
                             n_noise: int = N_NOISE) -> None:
    rng = np.random.default_rng(seed)
    with transaction(con):
        run = start_run(con, "test-features", {"seed": seed})
        for cohort, part in truth.groupby("cohort"):  # every listed patient; inclusion is the warehouse's
            z = part["z_img"].to_numpy()
            n = len(part)
            rows = []
            signs = [1.0, -1.0, 1.0, -1.0]
            for code, sign in zip(SIGNAL, signs, strict=True):
                rows.append(pd.DataFrame({"patient_id": part["patient_id"], "code": code,
                                          "value": 10 + 3 * (sign * z + 0.35 * rng.standard_normal(n))}))
            for k in range(n_noise):
                rows.append(pd.DataFrame({"patient_id": part["patient_id"], "code": f"NOISE_{k + 1:02d}",
                                          "value": rng.standard_normal(n) * (k + 1)}))
            write_features(con, run, str(cohort), "mri", pd.concat(rows))
            genomics = pd.concat([
                pd.DataFrame({"patient_id": part["patient_id"], "code": "CYT", "value": 2 ** part["cyt_log2"]}),
                pd.DataFrame({"patient_id": part["patient_id"], "code": "TMB", "value": part["tmb"] / 38.0}),
            ])
            write_features(con, run, str(cohort), "genomics", genomics)
        con.execute("UPDATE run_log SET status = 'ok' WHERE run_id = ?", [run.run_id])


@pytest.fixture(scope="session")
def stats_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """Tables-only study sized for modelling: 126 training + 60 validation patients, seed 3."""
    return generate_study(tmp_path_factory.mktemp("stats_study"), seed=3, n_train=126, n_valid=60,
                          modalities=["tables"])


@pytest.fixture(scope="session")
def stats_db(stats_study: Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file with both cohorts ingested and synthetic features written (copy before writing)."""
    path = tmp_path_factory.mktemp("stats_db") / "base.duckdb"
    truth = pd.read_csv(stats_study.truth_path)
    with open_warehouse(path) as con:
        for manifest in stats_study.manifests.values():
            ingest_manifest(con, manifest)
        write_synthetic_features(con, truth)
    return path


@pytest.fixture
def stats_con(stats_db: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An open copy of the synthetic-feature warehouse (tests may write to it)."""
    copy = tmp_path / "stats.duckdb"
    copy.write_bytes(stats_db.read_bytes())
    with open_warehouse(copy) as con:
        yield con


@pytest.fixture(scope="session")
def truth(stats_study: Study) -> pd.DataFrame:
    return pd.read_csv(stats_study.truth_path)
