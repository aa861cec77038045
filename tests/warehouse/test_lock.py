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
    with pytest.raises(WarehouseLockedError, match=rf"another process \(PID {held.pid}: .*python.* -c import duckdb"):
        open_warehouse(db_path).__enter__()


SERVE = ("import duckdb, sys\ncon = duckdb.connect(sys.argv[3], read_only=True)\n"
         "print('ready', flush=True)\nsys.stdin.read()\n")


def test_a_running_viewer_is_named_with_what_to_do(db_path, tmp_path) -> None:
    """A `radpath serve` holding the file read-only was reported as "another radpath process is writing"."""
    with open_warehouse(db_path):
        pass
    script = tmp_path / "radpath"          # a process whose command line reads `python .../radpath serve --db X`
    script.write_text(SERVE, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), "serve", "--db", str(db_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        expected = rf"`radpath serve` \(PID {proc.pid}\) has it open.*stop the viewer"
        with pytest.raises(WarehouseLockedError, match=expected):
            open_warehouse(db_path).__enter__()
    finally:
        proc.communicate("", timeout=30)


def test_cli_reports_the_lock_and_exits_2(db_path, held) -> None:
    result = subprocess.run([sys.executable, "-m", "radpath.cli.app", "init", "--db", str(db_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "another process" in result.stderr
    assert "Traceback" not in result.stderr
