"""A second writer while another process holds the warehouse gets a message, not a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from radpath.errors import WarehouseLockedError
from radpath.warehouse import open_warehouse

HOLDER = "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"


@pytest.fixture
def held(db_path):
    with open_warehouse(db_path):
        pass
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield proc
    proc.communicate("", timeout=30)


def test_second_writer_is_told_another_process_is_writing(db_path, held) -> None:
    with pytest.raises(WarehouseLockedError, match=rf"another radpath process \(PID {held.pid}\) is writing"):
        open_warehouse(db_path).__enter__()


def test_cli_reports_the_lock_and_exits_2(db_path, held) -> None:
    result = subprocess.run([sys.executable, "-m", "radpath.cli.app", "init", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "another radpath process" in result.stderr
    assert "Traceback" not in result.stderr
