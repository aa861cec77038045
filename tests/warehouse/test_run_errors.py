"""A failed run keeps its reason (migration 0007, runs.error) and `radpath status` shows the last ones (#17.4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radpath.cli.app import main
from radpath.stage import run_case_stage
from radpath.warehouse import finish_run, open_warehouse, start_run, write_features


def _runs(db: Path) -> list[tuple[str, str, str | None]]:
    with open_warehouse(db, read_only=True) as con:
        return con.execute("SELECT command, status, error FROM runs ORDER BY started_at, run_id").fetchall()


def test_a_failed_run_records_the_exception_being_handled(db_path: Path) -> None:
    with open_warehouse(db_path) as con:
        run = start_run(con, "fit-signature", {"cohort": "c"})
        with pytest.raises(ValueError):
            try:
                raise ValueError("no included patient has a TIL reading\n(cohort c)")
            except BaseException:
                finish_run(con, run, "failed")
                raise
        ok = start_run(con, "apply", {})
        finish_run(con, ok, "ok")
        interrupted = start_run(con, "extract-mri", {})
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            finish_run(con, interrupted, "failed")
    assert _runs(db_path) == [
        ("fit-signature", "failed", "ValueError: no included patient has a TIL reading (cohort c)"),
        ("apply", "ok", None),
        ("extract-mri", "failed", "interrupted (KeyboardInterrupt)"),
    ]


def _worker(case: str) -> float:
    if case.endswith("3") or case.endswith("7"):
        raise RuntimeError(f"no phases found for {case}")
    return 1.0


def _write(con, run, case_id, value) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    write_features(con, run, "c1", "mri", pd.DataFrame({"patient_id": [case_id], "code": ["a"], "value": [value]}))


def test_a_partial_stage_run_says_how_many_cases_failed_and_status_shows_it(
    db_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_warehouse(db_path) as con:
        summary = run_case_stage(con, command="extract-mri", stage="mri", cohort="c1", params={}, inputs=None,
                                 cases=[(f"P{i}", f"P{i}") for i in range(10)], worker=_worker, write=_write)
    assert summary.status == "partial"
    (command, status, error), = _runs(db_path)
    assert (command, status) == ("extract-mri", "partial")
    assert error is not None and error.startswith("2 of 10 cases failed; first: ") and "no phases found" in error
    with pytest.raises(SystemExit) as exit_info:
        main(["status", "--db", str(db_path)])
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "last failed runs" in out and "extract-mri (partial): 2 of 10 cases failed" in out


def test_status_without_a_warehouse_says_how_to_point_at_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADPATH_DB", raising=False)
    with open_warehouse(tmp_path / "demo" / "radpath.duckdb"):
        pass
    with pytest.raises(SystemExit) as exit_info:
        main(["status"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert "no warehouse at radpath.duckdb: give --db FILE or set RADPATH_DB" in err
    assert "--db demo/radpath.duckdb or export RADPATH_DB=demo/radpath.duckdb" in err
    assert not (tmp_path / "radpath.duckdb").exists()


def test_a_warehouse_from_before_0007_keeps_its_runs(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import duckdb

    from radpath.warehouse import migrations

    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
                "applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
    for migration in migrations():
        if migration.version >= 7:
            break
        con.execute(migration.sql)
        con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [migration.version, migration.name])
    con.execute("INSERT INTO run_log VALUES ('r1', 'ingest', 'h', '{}', '{}', '{}', now(), NULL, 'failed')")
    con.close()
    with pytest.raises(SystemExit):  # status reads a version-6 warehouse (no runs.error) read-only
        main(["status", "--db", str(db_path)])
    assert "r1 ingest (failed): no reason recorded" in capsys.readouterr().out
    with open_warehouse(db_path) as con:  # opening for writing applies 0007
        assert con.execute("SELECT run_id, status, error FROM runs").fetchall() == [("r1", "failed", None)]
