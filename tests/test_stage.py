"""The per-case stage driver: failures recorded per case, retries, and a run killed mid-way (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from radpath.errors import MRIError
from radpath.stage import run_case_stage
from radpath.warehouse import open_warehouse, write_features

SCRIPT = textwrap.dedent(
    """
    import pathlib, sys, time
    import pandas as pd
    from radpath.stage import run_case_stage
    from radpath.warehouse import open_warehouse, write_features

    db, marks, n = sys.argv[1], pathlib.Path(sys.argv[2]), int(sys.argv[3])

    def worker(case):
        time.sleep(0.02)
        return case

    def write(con, run, case_id, value):
        frame = pd.DataFrame({"patient_id": case_id, "code": ["a", "b", "c"], "value": [value, 2.0, 3.0]})
        write_features(con, run, "c1", "mri", frame.iloc[:1])
        (marks / case_id).touch()          # inside the transaction: a kill here must leave nothing
        time.sleep(0.03)
        write_features(con, run, "c1", "mri", frame)

    with open_warehouse(db) as con:
        run_case_stage(con, command="test-stage", stage="test", cohort="c1", params={"k": 1}, inputs=None,
                       cases=[(f"P{i:03d}", float(i)) for i in range(n)], worker=worker, write=write)
    """
)
N_CASES = 60


def _per_case_rows(db: Path) -> pd.Series:
    with open_warehouse(db, read_only=True) as con:
        return con.execute("SELECT patient_id, count(*) AS n FROM feature_values GROUP BY 1").df().set_index(
            "patient_id")["n"]


def test_run_killed_mid_way_then_rerun_writes_every_case_exactly_once(tmp_path: Path) -> None:
    db, marks, script = tmp_path / "w.duckdb", tmp_path / "marks", tmp_path / "stage.py"
    marks.mkdir()
    script.write_text(SCRIPT)
    with open_warehouse(db):
        pass
    proc = subprocess.Popen([sys.executable, str(script), str(db), str(marks), str(N_CASES)])
    deadline = time.monotonic() + 120
    while len(list(marks.iterdir())) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, "the stage finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    counts = _per_case_rows(db)
    assert 1 <= len(counts) < N_CASES
    assert set(counts) == {3}, "a case is half-written"
    with open_warehouse(db, read_only=True) as con:
        runs = con.execute("SELECT status, finished_at, pid FROM runs").fetchall()
    assert runs == [("running", None, proc.pid)]  # a read-only open writes nothing ...
    status = subprocess.run([sys.executable, "-m", "radpath.cli.app", "status", "--db", str(db)],
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert "test-stage (interrupted): interrupted: the process ended without finishing" in status.stdout  # ... but says

    subprocess.run([sys.executable, str(script), str(db), str(marks), str(N_CASES)], check=True, timeout=300)
    counts = _per_case_rows(db)
    assert len(counts) == N_CASES and set(counts) == {3}
    with open_warehouse(db, read_only=True) as con:
        statuses = sorted(r[0] for r in con.execute("SELECT status FROM runs").fetchall())
        in_view = con.execute("SELECT count(*), count(DISTINCT patient_id) FROM features").fetchone()
    assert statuses == ["interrupted", "ok"]  # the re-run's write-open marked the killed run
    assert in_view == (3 * N_CASES, N_CASES)


def _flaky_worker(value: float) -> float:
    if value < 0:
        raise MRIError(f"P{int(-value)}", "no early post-contrast phase", file="/data/P1/phase2.nii.gz")
    if value == 99:
        raise ZeroDivisionError("boom")
    return value


def _write(con, run, case_id, value) -> None:
    write_features(con, run, "c1", "mri", pd.DataFrame({"patient_id": [case_id], "code": ["x"], "value": [value]}))


def test_failures_are_recorded_per_case_and_the_run_carries_on(con) -> None:
    cases = [("P0", 1.0), ("P1", -1.0), ("P2", 99.0), ("P3", 3.0)]
    summary = run_case_stage(con, command="t", stage="test", cohort="c1", params={}, inputs=None,
                             cases=cases, worker=_flaky_worker, write=_write)
    assert summary.status == "partial"
    assert sorted(summary.done) == ["P0", "P3"]
    failures = con.execute("SELECT case_id, error, file FROM case_failures ORDER BY case_id").fetchall()
    assert failures[0] == ("P1", "case P1, file /data/P1/phase2.nii.gz: no early post-contrast phase",
                           "/data/P1/phase2.nii.gz")
    assert failures[1][0] == "P2" and "ZeroDivisionError: boom" in failures[1][1]
    assert con.execute("SELECT status FROM runs").fetchone()[0] == "partial"

    fixed = [("P0", 1.0), ("P1", 1.5), ("P2", 2.5), ("P3", 3.0)]
    retry = run_case_stage(con, command="t", stage="test", cohort="c1", params={}, inputs=None,
                           cases=fixed, worker=_flaky_worker, write=_write, retry_failed=True)
    assert sorted(retry.done) == ["P1", "P2"] and retry.status == "ok"
    values = dict(con.execute("SELECT patient_id, value FROM features ORDER BY 1").fetchall())
    assert values == {"P0": 1.0, "P1": 1.5, "P2": 2.5, "P3": 3.0}


def test_a_failing_write_is_a_case_failure_not_a_crash(con) -> None:
    def bad_write(con, run, case_id, value) -> None:
        _write(con, run, case_id, value)
        if case_id == "P1":
            raise ValueError("disk full")

    summary = run_case_stage(con, command="t", stage="test", cohort="c1", params={}, inputs=None,
                             cases=[("P0", 1.0), ("P1", 2.0)], worker=_flaky_worker, write=bad_write)
    assert summary.failed == {"P1": "case P1: writing results failed: disk full"}
    assert con.execute("SELECT patient_id FROM features").fetchall() == [("P0",)]


@pytest.mark.parametrize("status", ["bogus"])
def test_unknown_run_status_is_rejected(con, status: str) -> None:
    from radpath.warehouse import finish_run, start_run

    run = start_run(con, "t", {})
    with pytest.raises(ValueError, match="unknown run status"):
        finish_run(con, run, status)


def test_features_view_shows_the_latest_write_and_keeps_other_parameters_as_history(con) -> None:
    from radpath.warehouse import start_run, transaction

    frame = pd.DataFrame({"patient_id": ["P1", "P1", "P2"], "code": ["a", "b", "a"], "value": [1.0, 2.0, 3.0]})
    for params, scale in (({"bins": 32}, 1.0), ({"bins": 64}, 10.0), ({"bins": 32}, 100.0)):
        with transaction(con):
            run = start_run(con, "extract", params)
            write_features(con, run, "c1", "mri", frame.assign(value=frame["value"] * scale))
        view = con.execute("SELECT patient_id, code, value FROM features ORDER BY 1, 2").fetchall()
        assert view == [("P1", "a", scale), ("P1", "b", 2 * scale), ("P2", "a", 3 * scale)]
    # two parameter sets, each written once: 6 rows, 3 of them current
    assert con.execute("SELECT count(*), count(*) FILTER (WHERE current) FROM feature_values").fetchone() == (6, 3)
