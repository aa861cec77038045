"""`radpath sql` only reads: every kind of writing statement is refused, the warehouse file stays byte-identical
and no file appears; the locked read-only connection blocks writes even when the statement check is bypassed."""

from __future__ import annotations

import hashlib
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
