"""End to end on a real warehouse with planted structure (see conftest): the signal features are selected,
the composite beats either part, frozen models score another cohort, and bad input fails clearly."""

from __future__ import annotations

import json
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LassoCV
from tests.stats.conftest import SIGNAL

from radpath.errors import StatsError
from radpath.stats.pipeline import run_apply, run_associate, run_evaluate, run_fit_composite, run_fit_signature
from radpath.stats.signature import LassoSignature, outer_splits, repeated_lasso
from radpath.warehouse import start_run, transaction, write_features


def test_repeated_lasso_equals_lassocv_loop() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal(60)
    x = rng.standard_normal((60, 25))
    x[:, :3] += z[:, None]
    y = np.exp(1 + 0.8 * z + 0.5 * rng.standard_normal(60))
    alphas, coefs = repeated_lasso(x, y, folds=5, repeats=2, seed=4)
    k = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for splits in outer_splits(60, 5, 2, 4):
            for train in splits:
                ref = LassoCV(cv=5).fit(x[train], y[train])
                assert alphas[k] == pytest.approx(ref.alpha_, rel=1e-12)
                np.testing.assert_array_equal(coefs[k] != 0, ref.coef_ != 0)
                k += 1


def test_associate_finds_planted_features(stats_con: duckdb.DuckDBPyConnection) -> None:
    out = run_associate(stats_con, "tcga_brca", target="til")
    stored = stats_con.execute("SELECT * FROM feature_associations WHERE target = 'til'").df()
    assert len(stored) == 4 + 26
    sig = set(stored.loc[stored["significant"], "code"])
    assert set(SIGNAL) <= sig
    assert len(sig - set(SIGNAL)) <= 2  # FDR < 0.2 keeps false discoveries rare
    strong = stored.set_index("code").loc[SIGNAL, "r"].abs()
    assert (strong > 0.35).all()
    assert {"til", "TMB", "CYT"} <= set(out.tables["associations"]["target"])


def _fit_all(con: duckdb.DuckDBPyConnection) -> None:
    run_fit_signature(con, "tcga_brca", folds=10, repeats=4, seed=1)
    run_fit_composite(con, "tcga_brca", signature="signature", with_=["cyt"],
                      adjust=["stage", "er", "pr", "her2", "tnbc", "tmb"])


def test_signature_composite_evaluate_apply(stats_con: duckdb.DuckDBPyConnection, truth: pd.DataFrame) -> None:
    _fit_all(stats_con)
    sel = stats_con.execute("SELECT * FROM signature_selection WHERE model = 'signature'").df().set_index("code")
    noise = sel.drop(index=SIGNAL)
    assert sel.loc[SIGNAL, "frequency"].max() == 1.0
    # pure noise is rarely chosen: at most one of 26 noise features passes, and the typical one is near 0
    assert noise["selected"].sum() <= 1 and noise["frequency"].median() < 0.1
    models = stats_con.execute("SELECT * FROM models ORDER BY name").df()
    assert list(models["name"]) == ["composite", "signature"] and list(models["version"]) == [1, 1]
    art = json.loads(models.set_index("name").loc["signature", "artifact"])
    assert set(art["features"][0]) == {"modality", "code"}
    planted = sum(f["code"] in SIGNAL for f in art["features"])
    assert planted >= max(1, len(art["features"]) - 1)
    assert set(art["thresholds"]) == {"low_vs_intermediate", "low_vs_high", "intermediate_vs_high"}
    table4 = stats_con.execute("SELECT * FROM model_terms WHERE model = 'composite' AND fit = 'adjusted'").df()
    p = table4.set_index("term")["p_value"]
    assert p["signature"] < 1e-4 and p["CYT"] < 1e-4  # both independent predictors, as in the paper

    run_evaluate(stats_con, "tcga_brca", "composite", ["signature"])
    r = stats_con.execute("SELECT model, r FROM model_correlation").df().set_index("model")["r"]
    assert r["composite"] > r["signature"] + 0.1  # composite beats the signature alone by a wide margin
    metrics = stats_con.execute("SELECT * FROM classification_metrics").df()
    assert len(metrics) == 6 and (metrics["auc"] > 0.7).all()
    assert (metrics["threshold_source"] == "youden").all()

    # CYT alone, as a one-feature model fitted the same way, is also beaten by the composite
    til = stats_con.execute("SELECT patient_id, stromal_til_pct FROM til WHERE cohort='tcga_brca'").df()
    cytv = stats_con.execute("SELECT patient_id, value FROM features WHERE code='CYT' AND cohort='tcga_brca'").df()
    both = til.merge(cytv, on="patient_id")
    r_cyt = np.corrcoef(np.log2(1 + both["value"]), both["stromal_til_pct"])[0, 1]
    assert r["composite"] > r_cyt + 0.1

    out = run_apply(stats_con, "composite", "ispy1")
    preds = stats_con.execute("SELECT * FROM model_predictions WHERE cohort = 'ispy1'").df()
    assert len(preds) == len(out.tables["predictions"]) > 40
    assert set(preds["til_group"]) <= {"low", "intermediate", "high"}
    feat = stats_con.execute("SELECT count(*) FROM features WHERE modality='model' AND code='composite' "
                             "AND cohort='ispy1'").fetchone()
    assert feat is not None and feat[0] == len(preds)
    # frozen: predictions use training means/SDs; a validation r far from 0 shows it transfers
    m = preds.merge(truth[["patient_id", "til_pct"]], on="patient_id")
    assert len(m) == len(preds)
    assert np.corrcoef(m["predicted"], m["til_pct"])[0, 1] > 0.5  # vs the synthetic truth (no I-SPY TIL reads)
    with pytest.raises(StatsError, match="cohort ispy1 has no TIL readings"):
        run_evaluate(stats_con, "ispy1", "composite")


def test_selection_is_deterministic_for_a_seed(stats_con: duckdb.DuckDBPyConnection) -> None:
    x = stats_con.execute("SELECT patient_id, code, value FROM features WHERE cohort='tcga_brca' "
                          "AND modality='mri'").df().pivot(index="patient_id", columns="code", values="value")
    y = stats_con.execute("SELECT patient_id, stromal_til_pct FROM til WHERE cohort='tcga_brca'").df()
    y = y.set_index("patient_id")["stromal_til_pct"].loc[x.index]
    a = LassoSignature(folds=5, repeats=2, seed=9).fit(x, y).frequency_
    b = LassoSignature(folds=5, repeats=2, seed=9, n_jobs=2).fit(x, y).frequency_
    pd.testing.assert_series_equal(a, b)


def _write(con: duckdb.DuckDBPyConnection, cohort: str, modality: str, frame: pd.DataFrame) -> None:
    with transaction(con):
        run = start_run(con, "test-edit", {"n": len(frame)})
        write_features(con, run, cohort, modality, frame, params_hash="edit")
        con.execute("UPDATE run_log SET status = 'ok' WHERE run_id = ?", [run.run_id])


def test_constant_feature_dropped_and_missing_values_complete_case(stats_con: duckdb.DuckDBPyConnection) -> None:
    ids = [r[0] for r in stats_con.execute("SELECT patient_id FROM patients WHERE cohort='tcga_brca' "
                                           "AND included ORDER BY 1").fetchall()]
    flat = pd.DataFrame({"patient_id": ids, "code": "FLAT", "value": 3.0})
    gap = pd.DataFrame({"patient_id": ids[:5], "code": "GAPPY", "value": np.nan})
    rest = pd.DataFrame({"patient_id": ids[5:], "code": "GAPPY", "value": 1.0 * np.arange(len(ids) - 5)})
    gap = pd.concat([gap, rest])
    _write(stats_con, "tcga_brca", "mri", pd.concat([flat, gap]))
    out = run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=1, min_frequency=0.5)
    assert any("constant features dropped: FLAT" in n for n in out.notes)
    assert any(f"5 patients with missing values left out (complete cases: {len(ids) - 5})" in n for n in out.notes)
    sel = stats_con.execute("SELECT code FROM signature_selection").df()
    assert "FLAT" not in set(sel["code"]) and "GAPPY" in set(sel["code"])


def test_apply_to_cohort_missing_a_feature_names_it(stats_con: duckdb.DuckDBPyConnection) -> None:
    run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=2, seed=1)
    kept = stats_con.execute("SELECT artifact FROM models").fetchone()
    assert kept is not None
    code = json.loads(kept[0])["features"][0]["code"]
    stats_con.execute("DELETE FROM feature_values WHERE cohort = 'ispy1' AND code = ?", [code])
    with pytest.raises(StatsError, match=f"needs feature {code} \\(mri\\), which cohort ispy1 does not"):
        run_apply(stats_con, "signature", "ispy1")
    with pytest.raises(StatsError, match="no model nosuch in the warehouse; known models: \\['signature'\\]"):
        run_apply(stats_con, "nosuch", "ispy1")


def test_too_few_patients_per_category_is_reported(stats_con: duckdb.DuckDBPyConnection) -> None:
    run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=2, seed=1)
    out = run_evaluate(stats_con, "tcga_brca", "signature", min_per_class=20)
    assert any(n.startswith("intermediate_vs_high skipped on tcga_brca") and "need at least 20" in n
               for n in out.notes)
    with pytest.raises(StatsError, match="no feature was selected in more than 100%"):
        run_fit_signature(stats_con, "tcga_brca", folds=5, repeats=1, min_frequency=1.0)
