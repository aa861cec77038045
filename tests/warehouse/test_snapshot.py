"""Snapshots under DuckDB's lock protocol: never taken while a writer has the warehouse open, and a writer that
meets a snapshot's lock waits for it instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import duckdb
import pytest

from radpath.errors import WarehouseLockedError
from radpath.warehouse import connect, open_warehouse
from radpath.warehouse.snapshot import _lock_shared, copy_snapshot, file_state

HOLDER = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


def _count(db) -> int:   # type: ignore[no-untyped-def]
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM cohort_registry").fetchone()[0])


def test_a_snapshot_is_a_copy_of_the_state_it_names(db_path, tmp_path) -> None:   # type: ignore[no-untyped-def]
    with open_warehouse(db_path) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('a', 'training', NULL, 'm', 'h', 'r')")
    state = copy_snapshot(db_path, tmp_path / "copy.duckdb")
    assert state == file_state(db_path) and _count(tmp_path / "copy.duckdb") == 1
    with open_warehouse(db_path) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('b', 'training', NULL, 'm', 'h', 'r')")
    assert file_state(db_path) != state and _count(tmp_path / "copy.duckdb") == 1


def test_no_snapshot_while_a_writer_has_the_warehouse_open(db_path, tmp_path) -> None:   # type: ignore[no-untyped-def]
    with open_warehouse(db_path):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert copy_snapshot(db_path, tmp_path / "copy.duckdb") is None
        assert not (tmp_path / "copy.duckdb").exists()
    finally:
        holder.communicate("", timeout=30)
    assert copy_snapshot(db_path, tmp_path / "copy.duckdb") is not None


def test_no_snapshot_while_this_process_writes(db_path, tmp_path) -> None:   # type: ignore[no-untyped-def]
    """The lock belongs to the open file, not the process: it conflicts with this process's own writer."""
    with open_warehouse(db_path):
        assert copy_snapshot(db_path, tmp_path / "copy.duckdb") is None


def test_a_writer_waits_for_a_snapshot_copy(db_path) -> None:   # type: ignore[no-untyped-def]
    with open_warehouse(db_path):
        pass
    fd = os.open(db_path, os.O_RDONLY)
    assert _lock_shared(fd)                      # a snapshot copy in progress
    with pytest.raises(duckdb.IOException, match="PID -1"):
        duckdb.connect(str(db_path)).close()      # DuckDB alone refuses at once
    released = threading.Event()

    def let_go() -> None:
        time.sleep(0.5)
        released.set()
        os.close(fd)

    threading.Thread(target=let_go).start()
    with open_warehouse(db_path) as con:          # radpath's writer waits for the copy, then opens
        assert released.is_set()
        con.execute("INSERT INTO cohort_registry VALUES ('a', 'training', NULL, 'm', 'h', 'r')")
    assert _count(db_path) == 1


def test_a_lock_that_outlasts_the_wait_is_reported(db_path, monkeypatch) -> None:   # type: ignore[no-untyped-def]
    with open_warehouse(db_path):
        pass
    monkeypatch.setattr(connect, "SNAPSHOT_WAIT_S", 0.2)
    fd = os.open(db_path, os.O_RDONLY)
    try:
        assert _lock_shared(fd)
        with pytest.raises(WarehouseLockedError, match=r"in use: a reader has held DuckDB's shared lock .*snapshot"):
            open_warehouse(db_path).__enter__()
    finally:
        os.close(fd)
