"""A run whose process is gone is marked interrupted on the next write-open, and only then (issue 23 §5).

The process is recognised by pid, host and start time: a live process that got the same pid later (a reused
pid) does not keep a dead run 'running', and a run of another host is not judged from here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from radpath.processes import process_started
from radpath.warehouse import open_warehouse, start_run
from radpath.warehouse.runs import INTERRUPTED, host_name, process_gone


def _status(db: Path) -> dict[str, tuple[str, str | None]]:
    with open_warehouse(db, read_only=True) as con:
        return {run_id: (status, error) for run_id, status, error in
                con.execute("SELECT command, status, error FROM runs").fetchall()}


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def test_runs_of_ended_processes_are_marked_on_the_next_write_open(db_path: Path) -> None:
    dead = _dead_pid()
    me = os.getpid()
    with open_warehouse(db_path) as con:
        for command in ("alive", "dead", "reused", "other-host", "unrecorded"):
            start_run(con, command, {})
        con.execute("UPDATE run_log SET pid = ?, process_started = NULL WHERE command = 'dead'", [dead])
        con.execute("UPDATE run_log SET process_started = 'another-boot:1' WHERE command = 'reused'")
        con.execute("UPDATE run_log SET host = 'elsewhere', pid = ? WHERE command = 'other-host'", [dead])
        con.execute("UPDATE run_log SET pid = NULL, host = NULL, process_started = NULL WHERE command = 'unrecorded'")
        assert con.execute("SELECT DISTINCT pid FROM run_log WHERE command = 'alive'").fetchall() == [(me,)]
    assert {s for s, _ in _status(db_path).values()} == {"running"}
    with open_warehouse(db_path):
        pass
    runs = _status(db_path)
    assert runs["dead"] == ("interrupted", INTERRUPTED)
    assert runs["reused"] == ("interrupted", INTERRUPTED)  # the pid is alive (ours), but started at another time
    assert runs["alive"] == ("running", None)
    assert runs["other-host"] == ("running", None)
    assert runs["unrecorded"] == ("running", None)


def test_process_identity() -> None:
    me = os.getpid()
    mine = process_started(me)
    assert mine is not None and mine.count(":") >= 1
    assert not process_gone(me, host_name(), mine)
    assert process_gone(me, host_name(), mine + "0")          # same pid, other start: reused
    assert process_gone(_dead_pid(), host_name(), None)
    assert not process_gone(_dead_pid(), "another-host", None)
    assert not process_gone(None, host_name(), None)
