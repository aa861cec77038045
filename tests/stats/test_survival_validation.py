"""`radpath validate-survival` on a real warehouse built from the synthetic study.

The synthetic truth (radpath.synth.truth) plants the effect: recurrence hazard x 5 for low-TIL TNBC and no
TIL effect in other subtypes. Model rows and predictions are written directly into the `models` /
`model_predictions` tables of the model contract (predicted TIL = truth TIL + N(0, 3) noise), with the
paper's TIL cut-offs (10 %, 40 %) as the frozen training thresholds.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from radpath.cli.app import main
from radpath.errors import StatsError
from radpath.ingest import ingest_manifest
from radpath.stats.survival_validation import ValidationOptions, assign_groups, validate_survival
from radpath.synth.study import Study, generate_study
from radpath.warehouse import finish_run, open_warehouse, start_run, transaction

THRESHOLDS = {"low_vs_intermediate": 10.0, "low_vs_high": 20.0, "intermediate_vs_high": 40.0}


def _build(db: Path, study: Study, seed: int = 3) -> None:
    truth = pd.read_csv(study.truth_path)
    valid = truth[(truth["cohort"] == "ispy1") & truth["included"]]
    predicted = np.clip(valid["til_pct"].to_numpy() + np.random.default_rng(seed).normal(0, 3, len(valid)), 0, None)
    with open_warehouse(db) as con:
        for manifest in study.manifests.values():
            ingest_manifest(con, manifest)
        run = start_run(con, "test: model rows", {"seed": seed})
        artifact = {"features": [{"modality": "model", "code": "x"}], "coefficients": {"x": 1.0}, "intercept": 0.0,
                    "means": {"x": 0.0}, "sds": {"x": 1.0}, "thresholds": THRESHOLDS}
        with transaction(con):
            con.execute("INSERT INTO models VALUES ('composite', 1, 'composite', 'tcga_brca', 'til', ?, 'h', now(), ?)",
                        [json.dumps(artifact), run.run_id])
            rows = pd.DataFrame({"model": "composite", "version": 1, "cohort": "ispy1",
                                 "patient_id": valid["patient_id"].to_numpy(), "predicted": predicted,
                                 "til_group": assign_groups(predicted, THRESHOLDS), "run_id": run.run_id})
            con.register("_rows", rows)
            con.execute("INSERT INTO model_predictions SELECT * FROM _rows")
            con.unregister("_rows")
        finish_run(con, run, "ok")


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 validation patients (about 130 TNBC) so the planted TNBC effect is detectable with a margin."""
    out = tmp_path_factory.mktemp("survival_big")
    study = generate_study(out / "study", seed=11, n_train=40, n_valid=400, modalities=["tables"])
    _build(out / "w.duckdb", study)
    return out / "w.duckdb"


@pytest.fixture
def warehouse(big_db: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private copy of the big warehouse (tests may change it)."""
    path = tmp_path / "w.duckdb"
    shutil.copy(big_db, path)
    with open_warehouse(path) as con:
        yield con


def _options(**kwargs: object) -> ValidationOptions:
    base: dict[str, object] = {"cohort": "ispy1", "model": "composite", "n_boot": 50}
    base.update(kwargs)
    return ValidationOptions(**base)  # type: ignore[arg-type]


def _stat(results: pd.DataFrame, subgroup: str, statistic: str, term: str | None = None) -> pd.Series:
    rows = results[(results["subgroup"] == subgroup) & (results["statistic"] == statistic)]
    if term is not None:
        rows = rows[rows["term"] == term]
    assert len(rows) == 1, (subgroup, statistic, term, rows)
    return rows.iloc[0]


def test_planted_tnbc_effect_is_detected_and_absent_in_hr_positive(warehouse: duckdb.DuckDBPyConnection) -> None:
    report = validate_survival(warehouse, _options())
    res = warehouse.execute("SELECT * FROM survival_results WHERE run_id = ?", [report.run_id]).df()
    tnbc_lr = _stat(res, "TNBC", "logrank", "low vs high+intermediate")
    hr_lr = _stat(res, "HR+/HER2-", "logrank", "low vs high+intermediate")
    assert tnbc_lr["n"] > 100 and tnbc_lr["n_events"] > 40
    assert tnbc_lr["p_value"] < 1e-4 and tnbc_lr["df"] == 1  # observed ~3e-9
    assert hr_lr["p_value"] > 0.1  # no TIL effect outside TNBC in truth; observed ~0.7
    tnbc_hr = _stat(res, "TNBC", "cox_hr", "low vs high+intermediate")
    assert tnbc_hr["estimate"] > 2.5 and tnbc_hr["ci_lower"] > 1.5  # truth x 5
    hrpos_hr = _stat(res, "HR+/HER2-", "cox_hr", "low vs high+intermediate")
    assert hrpos_hr["ci_lower"] < 1.0 < hrpos_hr["ci_upper"]
    assert _stat(res, "TNBC", "cox_hr", "predicted")["estimate"] < 0.99  # more TIL, lower hazard
    assert _stat(res, "TNBC", "schoenfeld", "low vs high+intermediate")["p_value"] > 0.05  # PH holds in truth
    c = _stat(res, "TNBC", "c_index", "predicted")
    assert c["estimate"] > 0.6 and c["ci_lower"] > 0.5
    mw = _stat(res, "TNBC", "mann_whitney_recurrence")
    assert mw["p_value"] < 1e-3
    box = warehouse.execute("SELECT level, median FROM survival_boxplot WHERE subgroup = 'TNBC' AND split = "
                            "'recurrence'").df().set_index("level")["median"]
    assert box["no recurrence"] > box["recurrence"]
    assert _stat(res, "all", "mann_whitney_subtype", "TNBC vs HR+/HER2-")["p_value"] < 0.05
    medians = _stat(res, "TNBC", "km_median", "low")
    assert medians["estimate"] < 1500 and medians["ci_lower"] < medians["estimate"] < medians["ci_upper"]
    # the KM figures' annotation in the journal format (it printed P = 3e-09 with .2g before)
    assert report.analysis.annotations["TNBC"] == "log-rank P < 0.001"
    hr_p = hr_lr["p_value"]
    expected = f"log-rank P = {hr_p:.3f}" if hr_p <= 0.99 else "log-rank P > 0.99"
    assert report.analysis.annotations["HR+/HER2-"] == expected


def test_results_one_row_per_statistic_with_provenance_and_rerun_replaces(
    warehouse: duckdb.DuckDBPyConnection,
) -> None:
    first = validate_survival(warehouse, _options(by=None))
    counts = warehouse.execute("SELECT count(*) FROM survival_results").fetchone()
    dupes = warehouse.execute("SELECT count(*) FROM (SELECT cohort, model, version, endpoint, grouping, subgroup, "
                              "statistic, term FROM survival_results GROUP BY ALL HAVING count(*) > 1)").fetchone()
    assert dupes == (0,)
    status = warehouse.execute("SELECT command, status FROM runs WHERE run_id = ?", [first.run_id]).fetchone()
    assert status == ("validate-survival", "ok")
    second = validate_survival(warehouse, _options(by=None))
    assert warehouse.execute("SELECT count(*) FROM survival_results").fetchone() == counts
    assert warehouse.execute("SELECT DISTINCT run_id FROM survival_km").fetchall() == [(second.run_id,)]
    three = validate_survival(warehouse, _options(by=None, groups=3))
    res = three.analysis.results
    k = _stat(res, "all", "logrank", "k groups")
    assert k["df"] == 2 and k["estimable"]
    assert _stat(res, "all", "logrank", "low vs high+intermediate")["df"] == 1
    assert set(res.loc[res["statistic"] == "cox_hr", "term"]) == {"predicted", "low vs high", "intermediate vs high"}
    groupings = warehouse.execute("SELECT DISTINCT grouping FROM survival_results ORDER BY 1").fetchall()
    assert groupings == [("low|high+intermediate",), ("low|intermediate|high",)]
    # KM rows reproduce the number of events of each group
    km = warehouse.execute("SELECT til_group, sum(n_events) FROM survival_km WHERE grouping = 'low|intermediate|high' "
                           "AND subgroup = 'all' GROUP BY 1").fetchall()
    groups = warehouse.execute("SELECT til_group, sum(event) FROM survival_groups WHERE grouping = "
                               "'low|intermediate|high' GROUP BY 1").fetchall()
    assert dict(km) == {g: int(d) for g, d in groups}


def test_groups_come_from_the_frozen_model_thresholds(warehouse: duckdb.DuckDBPyConnection) -> None:
    report = validate_survival(warehouse, _options(by=None, groups=3))
    groups = report.analysis.groups
    assert groups["til_group"].tolist() == assign_groups(groups["predicted"].to_numpy(), THRESHOLDS).tolist()
    # a model whose thresholds put everyone in "low": one group, nothing to compare
    artifact = json.loads(warehouse.execute("SELECT artifact FROM models").fetchone()[0])
    artifact["thresholds"] = {"low_vs_intermediate": 1000.0, "low_vs_high": 1000.0, "intermediate_vs_high": 1000.0}
    warehouse.execute("UPDATE models SET artifact = ?", [json.dumps(artifact)])
    res = validate_survival(warehouse, _options(by=None)).analysis.results
    lr = _stat(res, "all", "logrank")
    assert not lr["estimable"] and lr["note"] == "not estimable (1 group)" and pd.isna(lr["p_value"])
    del artifact["thresholds"]
    warehouse.execute("UPDATE models SET artifact = ?", [json.dumps(artifact)])
    with pytest.raises(StatsError, match=r"model 'composite' v1 has no training-cohort thresholds"):
        validate_survival(warehouse, _options())


def test_missing_endpoints_are_excluded_and_counted(warehouse: duckdb.DuckDBPyConnection) -> None:
    ids = [r[0] for r in warehouse.execute("SELECT patient_id FROM model_predictions ORDER BY 1 LIMIT 7").fetchall()]
    warehouse.execute(f"DELETE FROM outcome_values WHERE endpoint = 'rfs' AND patient_id IN {tuple(ids)}")
    res = validate_survival(warehouse, _options(n_boot=0)).analysis.results
    assert _stat(res, "all", "n_excluded_missing_endpoint")["estimate"] == 7
    total = warehouse.execute("SELECT count(*) FROM model_predictions").fetchone()[0]
    assert _stat(res, "all", "n_patients")["estimate"] == total - 7
    by_subtype = res[(res["statistic"] == "n_excluded_missing_endpoint") & (res["subgroup"] != "all")]
    assert by_subtype["estimate"].sum() == 7


def test_negative_time_is_an_error_naming_the_patient(warehouse: duckdb.DuckDBPyConnection) -> None:
    patient = warehouse.execute("SELECT min(patient_id) FROM model_predictions").fetchone()[0]
    warehouse.execute("UPDATE outcome_values SET time_days = -12 WHERE endpoint = 'rfs' AND patient_id = ?", [patient])
    with pytest.raises(StatsError, match=rf"patient {patient}: negative survival time -12 days"):
        validate_survival(warehouse, _options())
    # nothing half-written, the run is marked failed
    assert warehouse.execute("SELECT count(*) FROM survival_results").fetchone() == (0,)
    assert warehouse.execute("SELECT status FROM runs WHERE command = 'validate-survival'").fetchall() == [("failed",)]


def test_thin_subgroups_are_not_estimable(tmp_path: Path, table_study: Study) -> None:
    """The 30-patient fixture study: HER2+ has no recurrence, HR+/HER2- two (seed 7)."""
    _build(tmp_path / "small.duckdb", table_study)
    with open_warehouse(tmp_path / "small.duckdb") as con:
        res = validate_survival(con, _options()).analysis.results
    tests = res[res["statistic"].isin(["logrank", "cox_hr", "c_index"])]
    thin = tests[tests["n_events"] < 5]
    assert {"HER2+", "HR+/HER2-"} <= set(thin["subgroup"])
    assert (~thin["estimable"]).all() and thin["p_value"].isna().all()
    for row in thin.itertuples():
        assert row.note.startswith(f"not estimable ({row.n_events} events")
    assert _stat(res, "HER2+", "logrank")["note"] == "not estimable (0 events)"


def test_cli_prints_stores_and_draws(big_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "w.duckdb"
    shutil.copy(big_db, db)
    figures = tmp_path / "fig"
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-survival", "--cohort", "ispy1", "--model", "composite", "--n-boot", "20",
              "--figures", str(figures), "--db", str(db)])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "TNBC" in out and "logrank" in out and "excluded, missing endpoint: 0" in out
    pngs, svgs = sorted(figures.glob("*.png")), sorted(figures.glob("*.svg"))
    assert len(pngs) == len(svgs) == 4  # all + 3 subtypes
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert all("Number at risk" in s.read_text() for s in svgs)
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("SELECT subgroup, format FROM survival_figures ORDER BY 1, 2").fetchall()
    assert ("TNBC", "png") in stored and ("HR+/HER2-", "svg") in stored and len(stored) == 8
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-survival", "--cohort", "ispy1", "--model", "nope", "--db", str(db)])
    assert exit_info.value.code == 2
    assert "no model named 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["validate-survival", "--cohort", "tcga_brca", "--model", "composite", "--db", str(db)])
    assert exit_info.value.code == 2
    assert "run `radpath apply --model composite --cohort tcga_brca` first" in capsys.readouterr().err
