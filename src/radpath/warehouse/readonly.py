"""Read-only queries over the warehouse: statements checked by DuckDB's own parser, run on a locked connection.

`radpath sql` and `radpath query` are query tools: nothing they run may write a file, change the database
or change a setting that would let a later statement do so. Two independent guards make that hold:

1. `check_read_only` parses the input with DuckDB (`extract_statements`) and accepts only statements that
   read: SELECT (with WITH, VALUES, FROM-first, PIVOT/UNPIVOT), DESCRIBE, SHOW, SUMMARIZE, EXPLAIN of one of
   those, and PRAGMAs that only report. For SELECT-like statements the parse tree (`json_serialize_sql`) is
   walked as well, so a data-modifying CTE (`WITH x AS (INSERT ...)`) or a table function with side effects
   (`checkpoint()`, `copy_database()`, `enable_profiling()`, ...) is refused too. Everything else (COPY,
   EXPORT, ATTACH, INSTALL/LOAD, SET/RESET, CREATE/INSERT/UPDATE/DELETE/DROP/ALTER, CALL, CHECKPOINT,
   VACUUM, transactions, PREPARE/EXECUTE, ...) is refused with a message that points to `--csv`/`--parquet`.
2. `connect_read_only` opens the file read-only with `enable_external_access=false` (no statement can read
   or write a file other than the warehouse) and `lock_configuration=true` (no statement can turn that off).
   Results are exported by the caller (pandas/pyarrow), never by SQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from radpath.errors import QueryError, WarehouseError
from radpath.paths import PathKind, check_path
from radpath.warehouse.connect import missing_warehouse_message, open_duckdb, resolve_db
from radpath.warehouse.migrate import check_version

EXPORT_HINT = "radpath sql only reads; use --csv FILE or --parquet FILE to save a result"

# Query-node types of a SELECT statement's parse tree that only read.
_READING_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})

# Table functions with side effects (writes, checkpoints, settings, extensions, running other SQL).
_WRITING_FUNCTIONS = frozenset({
    "checkpoint", "force_checkpoint", "copy_database", "import_database", "json_execute_serialized_sql",
    "query", "query_table", "truncate_duckdb_logs", "add_parquet_key",
})
_WRITING_PREFIXES = (
    "enable_", "disable_", "add_", "remove_", "register_", "deregister_", "destroy_", "create_", "set_",
)

# PRAGMAs that only report (DuckDB's pragma_* table functions).
_READING_PRAGMAS = frozenset({
    "table_info", "show", "show_tables", "show_tables_expanded", "show_databases", "database_list",
    "database_size", "storage_info", "metadata_info", "version", "platform", "user_agent", "functions",
    "collations",
})
_PRAGMA = re.compile(r"^\s*PRAGMA\s+([A-Za-z_][A-Za-z0-9_]*)\s*(\(.*\))?\s*;?\s*$", re.IGNORECASE | re.DOTALL)
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(?:ANALY[SZ]E\s+)?(?:\([^)]*\)\s*)?", re.IGNORECASE)


def connect_read_only(db: str | Path | None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only, without file access beyond it, with settings locked. The caller closes it."""
    path = check_path(resolve_db(db), PathKind.WAREHOUSE, "warehouse")
    if not path.exists():
        raise WarehouseError(missing_warehouse_message(path))
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "lock_configuration": True,
    }
    con = open_duckdb(path, read_only=True, config=config)
    try:
        check_version(con, str(path))
    except Exception:
        con.close()
        raise
    return con


def _split(con: duckdb.DuckDBPyConnection, text: str) -> list[Any]:
    try:
        return list(con.extract_statements(text))
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {_first_line(exc)}") from exc


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    if isinstance(tree, dict):
        yield tree
        for value in tree.values():
            yield from _nodes(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _nodes(value)


def _check_select(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Walk a SELECT statement's parse tree for writes hidden in CTEs or side-effect table functions."""
    row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    tree = json.loads(row[0]) if row else {"error": True, "error_message": "no parse tree"}
    if tree.get("error"):
        raise QueryError(f"refused: cannot verify that this statement only reads ({tree.get('error_message')}): "
                         f"{_short(query)}; {EXPORT_HINT}")
    for node in _nodes(tree):
        kind = node.get("type")
        if isinstance(kind, str) and kind.endswith("_NODE") and kind not in _READING_NODES:
            raise QueryError(f"refused: {kind.removesuffix('_QUERY_NODE').removesuffix('_NODE')} inside a query "
                             f"writes to the database: {_short(query)}; {EXPORT_HINT}")
        if kind == "TABLE_FUNCTION" and isinstance(node.get("function"), dict):
            name = str(node["function"].get("function_name", "")).lower()
            if name in _WRITING_FUNCTIONS or name.startswith(_WRITING_PREFIXES):
                raise QueryError(f"refused: table function {name}() has side effects: {_short(query)}; {EXPORT_HINT}")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _short(query: str, width: int = 80) -> str:
    flat = " ".join(query.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def _require_text(text: str) -> None:
    if not text or not text.strip():
        raise QueryError("empty query: give a SELECT statement, e.g. radpath sql \"SELECT * FROM patients\"")


def check_read_only(con: duckdb.DuckDBPyConnection, text: str) -> list[str]:
    """The statements of `text`, each checked to only read; QueryError names the first one that does not."""
    _require_text(text)
    statements = _split(con, text)
    if not statements:
        raise QueryError("empty query: the input holds only comments or semicolons")
    queries: list[str] = []
    for statement in statements:
        query = statement.query.strip()
        try:
            kind = statement.type.name
        except ValueError:  # a statement type this duckdb's Python binding has no name for: not a known read
            kind = "UNKNOWN"
        if kind == "SELECT":
            _check_select(con, query)
        elif kind == "EXPLAIN":
            inner = _EXPLAIN.sub("", query, count=1)
            inner_statements = _split(con, inner) if inner.strip() else []
            if len(inner_statements) != 1 or inner_statements[0].type.name != "SELECT":
                raise QueryError(f"refused: EXPLAIN of a statement that is not a query: {_short(query)}; {EXPORT_HINT}")
            _check_select(con, inner_statements[0].query)
        elif kind == "PRAGMA":
            match = _PRAGMA.match(query)
            if not match or match.group(1).lower() not in _READING_PRAGMAS:
                raise QueryError(f"refused: PRAGMA that changes settings or state: {_short(query)} (reading PRAGMAs: "
                                 f"{', '.join(sorted(_READING_PRAGMAS))})")
        else:
            raise QueryError(f"refused: {kind} statement {_short(query)}; {EXPORT_HINT}")
        queries.append(query)
    return queries


def run_read_only(db: str | Path | None, text: str) -> Any:
    """Check every statement of `text` and run them on a locked read-only connection; the last result as a frame."""
    _require_text(text)  # before opening anything: the input is the problem
    con = connect_read_only(db)
    try:
        queries = check_read_only(con, text)
        frame = None
        for query in queries:
            try:
                frame = con.execute(query).df()
            except duckdb.Error as exc:
                raise QueryError(f"query failed: {_first_line(exc)} in {_short(query)}") from exc
        return frame
    finally:
        con.close()
