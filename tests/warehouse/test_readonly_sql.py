"""`radpath sql` only reads: every kind of writing statement is refused, the warehouse file stays byte-identical
and no file appears; the locked read-only connection blocks writes even when the statement check is bypassed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from radpath.cli.app import main
from radpath.errors import QueryError
from radpath.warehouse import open_warehouse
from radpath.warehouse.readonly import check_read_only, connect_read_only, run_read_only

REFUSED = [
    # the reproducer: a COPY that overwrote the warehouse with a 4-byte CSV
    "COPY (SELECT 1 AS x) TO 'w.duckdb' (FORMAT csv)",
    "COPY (SELECT * FROM patients) TO 'out.csv'",
    "COPY patients TO 'out.parquet' (FORMAT parquet)",
    "COPY patient_registry FROM 'in.csv'",
    # a write hidden after reads in the same input
    "SELECT 1; COPY (SELECT 1) TO 'hidden.csv'",
    "SELECT count(*) FROM patients; SELECT 2; COPY patients TO 'hidden2.csv'",
    "SELECT 1; DROP VIEW patients",
    "EXPORT DATABASE 'dump'",
    "IMPORT DATABASE 'dump'",
    "ATTACH 'other.duckdb' AS other",
    "ATTACH ':memory:' AS scratch",
    "DETACH other",
    "USE memory",
    "INSTALL httpfs",
    "FORCE INSTALL httpfs",
    "LOAD httpfs",
    "UPDATE EXTENSIONS",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SET threads = 1",
    "SET GLOBAL memory_limit = '1GB'",
    "RESET threads",
    "PRAGMA enable_profiling",
    "PRAGMA profiling_output = 'profile.json'",
    "PRAGMA threads = 1",
    "PRAGMA force_checkpoint",
    "PRAGMA enable_checkpoint_on_shutdown",
    "CREATE TABLE t AS SELECT 1 AS x",
    "CREATE TEMP TABLE t (x INTEGER)",
    "CREATE VIEW v AS SELECT 1 AS x",
    "CREATE MACRO m() AS 1",
    "CREATE SEQUENCE s",
    "CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "INSERT INTO patient_registry SELECT * FROM patient_registry",
    "UPDATE patient_registry SET included = false",
    "DELETE FROM patient_registry",
    "TRUNCATE patient_registry",
    "MERGE INTO patient_registry USING patient_registry AS s ON false WHEN NOT MATCHED THEN INSERT",
    "DROP VIEW patients",
    "DROP TABLE patient_registry",
    "ALTER TABLE patient_registry RENAME TO p2",
    "COMMENT ON TABLE patient_registry IS 'x'",
    "CHECKPOINT",
    "FORCE CHECKPOINT",
    "VACUUM",
    "ANALYZE",
    "CALL checkpoint()",
    "CALL enable_profiling()",
    "BEGIN TRANSACTION",
    "COMMIT",
    "PREPARE p AS SELECT 1",
    "EXECUTE p",
    "DEALLOCATE p",
    # writes hidden inside a SELECT's parse tree
    "WITH gone AS (DELETE FROM patient_registry RETURNING *) SELECT * FROM gone",
    "WITH added AS (INSERT INTO patient_registry SELECT * FROM patient_registry RETURNING *) "
    "SELECT count(*) FROM added",
    "SELECT * FROM checkpoint()",
    "SELECT * FROM force_checkpoint()",
    "SELECT * FROM copy_database('memory', 'other')",
    "SELECT * FROM query('SELECT 1')",
    "SELECT * FROM enable_profiling()",
    "EXPLAIN ANALYZE COPY patients TO 'explained.csv'",
    "EXPLAIN CREATE TABLE t AS SELECT 1",
    # a PIVOT without an IN list (DuckDB runs it as several statements) is checked token by token
    "PIVOT (SELECT * FROM checkpoint()) ON success USING count(*)",
    "PIVOT (SELECT * FROM query('SELECT 1')) ON x USING count(*)",
]

ACCEPTED = {
    "SELECT count(*) AS n FROM patients": 3,
    "WITH p AS (SELECT * FROM patients WHERE included) SELECT count(*) AS n FROM p": 2,
    "VALUES (1), (2), (3)": 3,
    "FROM patients": 3,
    "SELECT 1 AS a; SELECT * FROM range(4)": 4,
    "DESCRIBE patients": 4,
    "SHOW TABLES": None,
    "SUMMARIZE patient_registry": 6,
    "EXPLAIN SELECT * FROM patients": None,
    "PRAGMA table_info('patient_registry')": 6,
    "PRAGMA database_size": 1,
    "-- a comment\nSELECT patient_id FROM patients ORDER BY 1;": 3,
    # false refusals of issue 23 §6: a PIVOT without an IN list, a PRAGMA followed by a comment
    "PIVOT patient_registry ON included USING count(*)": None,
    "PIVOT patients ON included USING count(*) GROUP BY cohort": None,
    "PRAGMA table_info('patient_registry') -- note": 6,
    "PRAGMA /* which columns */ table_info('patient_registry')": 6,
    # scalar functions whose names look like setters are reads
    "SELECT set_bit('0110010'::BITSTRING, 1, 0) AS b, create_sort_key('x', 'ASC NULLS LAST') AS k": 1,
}


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A migrated warehouse with three patients; the working directory is an empty folder beside it."""
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        con.execute("INSERT INTO cohort_registry VALUES ('c', 'training', NULL, 'm.yaml', 'h', 'r1')")
        con.execute("INSERT INTO patient_registry VALUES ('c', 'p1', true, NULL, NULL, 'r1'), "
                    "('c', 'p2', true, NULL, NULL, 'r1'), ('c', 'p3', false, 1, 'no MRI', 'r1')")
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    code = exit_info.value.code
    return 0 if code is None else int(code)


@pytest.mark.parametrize("statement", REFUSED)
def test_writing_statements_are_refused_and_nothing_changes(
    statement: str, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(warehouse)
    files_before = sorted(p.name for p in warehouse.parent.rglob("*"))
    assert _cli(["sql", statement, "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: refused:") and "\n" not in err, err
    assert _digest(warehouse) == before
    assert sorted(p.name for p in warehouse.parent.rglob("*")) == files_before


@pytest.mark.parametrize("statement", REFUSED)
def test_refused_before_anything_runs(statement: str, warehouse: Path) -> None:
    con = connect_read_only(warehouse)
    try:
        with pytest.raises(QueryError, match="^refused: "):
            check_read_only(con, statement)
    finally:
        con.close()


@pytest.mark.parametrize(("statement", "rows"), list(ACCEPTED.items()))
def test_reading_statements_run(statement: str, rows: int | None, warehouse: Path) -> None:
    before = _digest(warehouse)
    frame = run_read_only(warehouse, statement)
    assert isinstance(frame, pd.DataFrame)
    if rows is not None:
        assert len(frame) == rows if "count" not in statement else int(frame["n"].iloc[0]) == rows
    else:
        assert len(frame) > 0
    assert _digest(warehouse) == before


def test_export_options_write_only_the_named_files(warehouse: Path) -> None:
    out = warehouse.parent / "cwd"
    assert _cli(["sql", "SELECT patient_id, included FROM patients ORDER BY 1", "--db", str(warehouse),
                 "--csv", str(out / "p.csv"), "--parquet", str(out / "p.parquet")]) == 0
    csv = pd.read_csv(out / "p.csv")
    parquet = pd.read_parquet(out / "p.parquet")
    assert list(csv["patient_id"]) == ["p1", "p2", "p3"] == list(parquet["patient_id"])
    assert list(parquet["included"]) == [True, True, False]


def test_locked_connection_blocks_writes_even_without_the_check(warehouse: Path) -> None:
    """Second guard: on the read-only connection COPY cannot reach a file and no setting can be changed."""
    con = connect_read_only(warehouse)
    try:
        with pytest.raises(duckdb.PermissionException):
            con.execute("COPY (SELECT 1) TO 'x.csv'")
        with pytest.raises(duckdb.PermissionException):
            con.execute("SELECT * FROM read_csv('/etc/hostname')")
        with pytest.raises(duckdb.Error, match="locked"):
            con.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error):
            con.execute("DELETE FROM patient_registry")
    finally:
        con.close()
    assert not (warehouse.parent / "cwd" / "x.csv").exists()


@pytest.mark.parametrize("text", ["", "   ", ";", "/* only a comment */"])
def test_empty_query_is_a_one_line_error(text: str, warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", text, "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: empty query") and "\n" not in err


def test_syntax_error_is_a_one_line_error(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", "SELEC 1", "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot parse the query") and "\n" not in err


# ---- issue 23 §6: big results, Ctrl-C and --timeout, one-line errors


@pytest.mark.parametrize("terms", [330, 900])
def test_a_long_sum_is_checked_without_recursion_error(terms: int, warehouse: Path) -> None:
    """330 terms raised RecursionError in the statement check; DuckDB itself allows up to 1000 deep."""
    frame = run_read_only(warehouse, "SELECT " + " + ".join(["1"] * terms) + " AS s")
    assert int(frame["s"].iloc[0]) == terms


def test_deeper_than_duckdb_allows_is_one_line(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", "SELECT " + "+".join(["1"] * 1200), "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert "nests more than 1000 expressions deep" in err and "\n" not in err


def test_text_that_is_not_utf8_is_one_line(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = b"SELECT '\xff'".decode("utf-8", "surrogateescape")  # how Python hands a non-UTF-8 argv over
    assert _cli(["sql", text, "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: the query is not valid UTF-8 text: byte 0xff at character 9; write it in UTF-8 " \
                  "(e.g. check the shell's or the file's encoding)"


def test_values_and_names_are_not_markup(warehouse: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from radpath.cli import common

    monkeypatch.setattr(common.console, "_force_terminal", True)   # the crash happened in a terminal
    assert _cli(["sql", "SELECT '[/bold]' AS \"[/i]\", 'T2[a]' AS stage", "--db", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "[/bold]" in out and "T2[a]" in out and "[/i]" in out


def test_the_terminal_gets_the_first_rows_of_a_huge_result(warehouse: Path) -> None:
    """Printing fetched the whole result first (30 M rows took 1.2 GB); ten billion rows now print at once."""
    result = subprocess.run([sys.executable, "-m", "radpath.cli.app", "sql", "SELECT * FROM range(10000000000) t(x)",
                             "--db", str(warehouse)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("... more rows not shown, the first 200 are")
    assert [int(v) for v in lines[1:-1]] == list(range(200))


def test_export_streams_every_batch_and_a_stopped_query_leaves_no_file(warehouse: Path) -> None:
    from radpath.warehouse.readonly import BATCH_ROWS, ReadOnlySession

    out = warehouse.parent / "cwd"
    n = 2 * BATCH_ROWS + 17  # three record batches
    with ReadOnlySession(warehouse) as session:
        rows = session.export(f"SELECT x, x * 0.5 AS half, 'p' || x AS id FROM range({n}) t(x)",
                              csv=out / "big.csv", parquet=out / "big.parquet")
    assert rows == n
    csv, parquet = pd.read_csv(out / "big.csv"), pd.read_parquet(out / "big.parquet")
    assert len(csv) == len(parquet) == n
    assert csv["x"].sum() == parquet["x"].sum() == n * (n - 1) // 2
    assert list(csv.columns) == ["x", "half", "id"] and parquet["id"].iloc[-1] == f"p{n - 1}"
    with ReadOnlySession(warehouse, timeout=0.5) as session, pytest.raises(QueryError, match="--timeout 0.5 s"):
        session.export("SELECT count(*) AS n FROM range(1000000000000)", csv=out / "never.csv")
    assert sorted(p.name for p in out.iterdir()) == ["big.csv", "big.parquet"]


def test_timeout_ends_a_query_cleanly(warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["sql", "SELECT count(*) FROM range(1000000000000)", "--timeout", "0.5", "--db", str(warehouse)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: query stopped after --timeout 0.5 s: 'SELECT count(*) FROM range(1000000000000)'"


def test_ctrl_c_interrupts_a_running_query(warehouse: Path) -> None:
    """Ctrl-C was ignored until the query ended (a trillion-row count: hours); now it stops it."""
    proc = subprocess.Popen([sys.executable, "-m", "radpath.cli.app", "sql",
                             "SELECT count(*) FROM range(1000000000000)", "--db", str(warehouse)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _has_open(proc.pid, warehouse):  # the warehouse is open ...
        time.sleep(0.05)
    start = _cpu_seconds(proc.pid)
    while time.monotonic() < deadline and _cpu_seconds(proc.pid) < start + 1.0:  # ... and the query is counting
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()  # a query that would not stop is not left running
    assert proc.returncode == 2, err
    assert err.strip() == "error: query interrupted (Ctrl-C): 'SELECT count(*) FROM range(1000000000000)'"


def _has_open(pid: int, path: Path) -> bool:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if Path(os.readlink(fd)) == path.resolve():
                return True
        except OSError:
            continue
    return False


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_out_of_memory_is_one_line(warehouse: Path) -> None:
    from radpath.warehouse.readonly import ReadOnlySession

    with ReadOnlySession(warehouse, memory_limit="20MB") as session, \
            pytest.raises(QueryError, match=r"^query ran out of memory \(Out of Memory Error"):
        session.frame("SELECT list(x) FROM range(50000000) t(x)")


@pytest.mark.parametrize("option", ["--csv", "--parquet"])
def test_an_unwritable_export_names_the_file_given(option: str, warehouse: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The streamed export writes beside the file first; an error names the file the user gave, not that one."""
    assert _cli(["sql", "SELECT 1 AS x", "--db", str(warehouse), option, "/proc/radpath-x.out"]) == 2
    assert capsys.readouterr().err.strip() == "error: /proc/radpath-x.out: No such file or directory"


def test_csv_header_is_quoted_only_where_needed(warehouse: Path) -> None:
    out = warehouse.parent / "header.csv"
    assert _cli(["sql", "SELECT 1 AS plain, 'a,b' AS \"with,comma\"", "--db", str(warehouse), "--csv", str(out)]) == 0
    assert out.read_text() == 'plain,"with,comma"\n1,"a,b"\n'
