"""The paper's imaging signature as a frozen published model (issue 16 part 4)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from tests.stats.conftest import SIGNAL

from radpath.errors import StatsError
from radpath.stats.pipeline import run_apply, run_evaluate
from radpath.stats.roc import auc_ci
from radpath.stats.survival_validation import ValidationOptions, validate_survival
from radpath.warehouse import start_run, transaction, write_features

NAME = "published:wu2020_signature"
CODES = ["M1", "TEX2", "TSBPE2", "BPE1", "BPE3"]


def _ids(con: duckdb.DuckDBPyConnection, cohort: str) -> list[str]:
    return [r[0] for r in con.execute("SELECT patient_id FROM patients WHERE cohort = ? AND included "
                                      "ORDER BY 1", [cohort]).fetchall()]


def _write(con: duckdb.DuckDBPyConnection, cohort: str, wide: pd.DataFrame) -> None:
    long = wide.rename_axis("patient_id").reset_index().melt(id_vars="patient_id", var_name="code")
    with transaction(con):
        run = start_run(con, "test-paper-features", {"cohort": cohort})
        write_features(con, run, cohort, "mri", long, params_hash="paper")
        con.execute("UPDATE run_log SET status = 'ok' WHERE run_id = ?", [run.run_id])


def test_signature_arithmetic_hand_computed_on_three_patients(stats_con: duckdb.DuckDBPyConnection) -> None:
    a, b, c = _ids(stats_con, "ispy1")[:3]
    # values chosen so that the within-cohort z-scores (mean, SD ddof=1 over the three) are whole numbers
    wide = pd.DataFrame({"M1": [1.0, 2.0, 3.0],          # mean 2,   SD 1   -> z -1, 0, 1
                         "TEX2": [10.0, 30.0, 20.0],     # mean 20,  SD 10  -> z -1, 1, 0
                         "TSBPE2": [8.0, 4.0, 6.0],      # mean 6,   SD 2   -> z  1, -1, 0
                         "BPE1": [0.5, 1.5, 1.0],        # mean 1,   SD 0.5 -> z -1, 1, 0
                         "BPE3": [0.1, 0.3, 0.2]},       # mean 0.2, SD 0.1 -> z -1, 1, 0
                        index=[a, b, c])
    _write(stats_con, "ispy1", wide)
    out = run_apply(stats_con, NAME, "ispy1")
    # a: -4.4 + 3.14 - 2.0 + 2.62 + 0.72 + 13.02 = 13.10
    # b:  0   - 3.14 + 2.0 - 2.62 - 0.72 + 13.02 =  8.54
    # c:  4.4 + 13.02                            = 17.42
    pred = out.tables["predictions"].set_index("patient_id")
    assert pred.loc[[a, b, c], "predicted"].to_numpy() == pytest.approx([13.10, 8.54, 17.42], abs=1e-9)
    assert list(pred.loc[[a, b, c], "til_group"]) == ["intermediate", "low", "intermediate"]
    assert len(pred) == 3  # the other ispy1 patients lack the five features
    card = next(n for n in out.notes if n.startswith("model card:"))
    assert "standardised within the cohort" in card and "Table S3" in card
    stored = stats_con.execute("SELECT name, version, kind, cohort FROM models").fetchall()
    assert stored == [(NAME, 1, "published", "published")]
    run_apply(stats_con, NAME, "ispy1")  # applying again reuses the registered version
    assert stats_con.execute("SELECT count(*) FROM models").fetchone() == (1,)


def test_evaluate_and_validate_survival_read_it_like_a_fitted_model(stats_con: duckdb.DuckDBPyConnection) -> None:
    feats = stats_con.execute(
        "SELECT patient_id, cohort, code, value FROM features WHERE code IN (?, ?, ?, ?, ?)",
        [*SIGNAL, "NOISE_01"]).df()
    for cohort, part in feats.groupby("cohort"):
        wide = part.pivot_table(index="patient_id", columns="code", values="value")
        wide.columns = CODES  # SIGNAL_1..4 + NOISE_01 stand in for the five paper features
        _write(stats_con, str(cohort), wide)
    run_apply(stats_con, NAME, "tcga_brca")
    run_apply(stats_con, NAME, "ispy1")
    out = run_evaluate(stats_con, "tcga_brca", NAME)
    metrics = out.tables["classification"].set_index("comparison")
    assert set(metrics["threshold_source"]) == {"fixed"}  # the paper's category boundaries, not Youden
    assert metrics.loc["low_vs_intermediate", "threshold"] == 10.0
    # the AUC evaluate stores is that of the predictions apply stored, against the TIL categories
    pred = stats_con.execute("SELECT patient_id, predicted FROM model_predictions WHERE cohort = 'tcga_brca'"
                             ).df().set_index("patient_id")["predicted"]
    til = stats_con.execute("SELECT patient_id, stromal_til_pct FROM til WHERE cohort = 'tcga_brca'"
                            ).df().set_index("patient_id")["stromal_til_pct"]
    both = pd.concat([pred, til], axis=1, join="inner").dropna()
    low_high = both[(both.iloc[:, 1] <= 10) | (both.iloc[:, 1] > 40)]
    expected = auc_ci(np.asarray(low_high.iloc[:, 1] > 40, dtype=int), low_high.iloc[:, 0].to_numpy()).auc
    assert metrics.loc["low_vs_high", "auc"] == pytest.approx(expected, abs=1e-12)
    report = validate_survival(stats_con, ValidationOptions(cohort="ispy1", model=NAME, by=None, n_boot=20))
    assert report.version == 1
    n = report.analysis.results.query("statistic == 'n_patients'")
    stored = stats_con.execute("SELECT count(*) FROM model_predictions WHERE cohort = 'ispy1'").fetchone()
    assert stored is not None and len(n) == 1 and 10 < int(n["estimate"].iloc[0]) <= stored[0]


def test_missing_features_and_unknown_model_are_named(stats_con: duckdb.DuckDBPyConnection) -> None:
    ids = _ids(stats_con, "ispy1")[:4]
    _write(stats_con, "ispy1", pd.DataFrame({"M1": [1.0, 2, 3, 4], "TSBPE2": [1.0, 2, 3, 5],
                                             "BPE1": [2.0, 1, 3, 3]}, index=ids))
    with pytest.raises(StatsError, match=r"needs features TEX2 \(mri\), BPE3 \(mri\), which cohort ispy1 does not"):
        run_apply(stats_con, NAME, "ispy1")
    with pytest.raises(StatsError, match="no published model 'published:nosuch'; known published models: "
                                         "published:wu2020_signature"):
        run_apply(stats_con, "published:nosuch", "ispy1")
    with pytest.raises(StatsError, match="enters the warehouse when first applied"):
        run_evaluate(stats_con, "tcga_brca", "published:other")
