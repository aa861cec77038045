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
   Results are exported with pyarrow, never by SQL.

Running (`ReadOnlySession`): each query runs on a worker thread while the calling thread waits, so that Ctrl-C
(a SIGINT handler installed for the query's time) or `timeout` interrupts it within a second through DuckDB's
`interrupt()`; the terminal gets the first rows only (`head`, DuckDB stops there), and `export` streams the
result as Arrow record batches into CSV / Parquet writers in bounded memory. Every failure is one
`QueryError` line: interrupted, timed out, out of memory, a query too deep to check, text that is not UTF-8.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from radpath.errors import QueryError, WarehouseError
from radpath.paths import PathKind, check_path
from radpath.warehouse.connect import missing_warehouse_message, open_duckdb, resolve_db
from radpath.warehouse.migrate import check_version

EXPORT_HINT = "radpath sql only reads; use --csv FILE or --parquet FILE to save a result"
BATCH_ROWS = 65_536          # rows per Arrow record batch when exporting
JSON_DEPTH_LIMIT = 100_000   # parse trees deeper than this are refused (DuckDB's own expression limit is 1000)
T = TypeVar("T")

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


def connect_read_only(db: str | Path | None, *, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-only, without file access beyond it, with settings locked (`memory_limit`, e.g.
    '2GB', fixed before the lock; default DuckDB's). The caller closes it."""
    path = check_path(resolve_db(db), PathKind.WAREHOUSE, "warehouse")
    if not path.exists():
        raise WarehouseError(missing_warehouse_message(path))
    config: dict[str, str | bool | int | float | list[str]] = {
        "enable_external_access": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "lock_configuration": True,
    }
    if memory_limit:
        check_memory_limit(memory_limit)
        config["memory_limit"] = memory_limit
    try:
        con = open_duckdb(path, read_only=True, config=config)
    except WarehouseError as exc:
        if memory_limit and isinstance(exc.__cause__, duckdb.OutOfMemoryException):
            raise QueryError(f"--memory-limit {memory_limit} is too small to open the warehouse "
                             f"({_first_line(exc.__cause__)}); give e.g. 1GB") from None
        raise
    try:
        check_version(con, str(path))
    except Exception:
        con.close()
        raise
    return con


def check_memory_limit(value: str) -> None:
    """QueryError when DuckDB cannot read `value` as a memory size (e.g. '4GB', '512MiB')."""
    try:
        duckdb.connect(":memory:", config={"memory_limit": value}).close()
    except duckdb.Error as exc:
        raise QueryError(f"--memory-limit {value}: not a memory size ({_first_line(exc)}); give e.g. 4GB or "
                         "512MB") from None


def _split(con: duckdb.DuckDBPyConnection, text: str) -> list[Any]:
    try:
        return list(con.extract_statements(text))
    except duckdb.Error as exc:
        raise QueryError(f"cannot parse the query: {_first_line(exc)}") from exc


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    """Every object of a parse tree, walked with a stack (a query of 1000 terms nests far deeper than Python's
    recursion limit)."""
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


_JSON_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_depth(text: str) -> int:
    """How deeply a JSON text nests (strings skipped), counted without recursion."""
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth -= 1
    return deepest


def _parse_tree(text: str, query: str) -> Any:
    """json.loads of a parse tree however deep DuckDB let it be: Python's decoder recurses once per level, so the
    recursion limit is raised for the decode alone."""
    depth = _json_depth(text)
    if depth > JSON_DEPTH_LIMIT:
        raise QueryError(f"refused: the query nests {depth} levels deep, too deep to check: {_short(query)}")
    limit = sys.getrecursionlimit()
    if depth + 200 > limit:
        sys.setrecursionlimit(depth + 200)
    try:
        return json.loads(text)
    finally:
        sys.setrecursionlimit(limit)


def _check_select(con: duckdb.DuckDBPyConnection, query: str) -> None:
    """Walk a SELECT statement's parse tree for writes hidden in CTEs or side-effect table functions."""
    rows = con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()
    tree = _parse_tree(rows[0][0], query) if rows else {"error": True, "error_message": "no parse tree"}
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if "max expression depth" in text.lower():  # DuckDB's hint (SET max_expression_depth) is refused here
        return "the query nests more than 1000 expressions deep, DuckDB's limit; split it (e.g. into a CTE)"
    return text.splitlines()[0] if text else type(exc).__name__


def _short(query: str, width: int = 80) -> str:
    flat = " ".join(query.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def check_query_text(text: str) -> None:
    """QueryError when the query text is empty or not UTF-8 (checked before the warehouse is opened)."""
    if not text or not text.strip():
        raise QueryError("empty query: give a SELECT statement, e.g. radpath sql \"SELECT * FROM patients\"")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)
        bad = text[exc.start]
        byte = f"byte 0x{ord(bad) - 0xDC00:02x}" if 0xDC80 <= ord(bad) <= 0xDCFF else f"character U+{ord(bad):04X}"
        raise QueryError(f"the query is not valid UTF-8 text: {byte} at character {exc.start + 1}; "
                         "write it in UTF-8 (e.g. check the shell's or the file's encoding)") from None


# Keywords that only statements which write, load or change settings use; a PIVOT without an IN list (parsed
# by DuckDB into several statements, which json_serialize_sql cannot show) is refused when it holds one.
_WRITING_KEYWORDS = frozenset({
    "insert", "update", "delete", "copy", "attach", "detach", "create", "drop", "alter", "set", "reset", "pragma",
    "call", "export", "import", "install", "load", "checkpoint", "vacuum", "begin", "commit", "rollback", "abort",
    "prepare", "execute", "deallocate", "truncate", "merge", "use", "comment", "analyze", "transaction",
})


def _tokens(query: str) -> list[tuple[str, str]]:
    """(kind, text) of each token DuckDB's tokenizer finds, comments included."""
    try:
        found = duckdb.tokenize(query)
    except (duckdb.Error, RuntimeError) as exc:
        raise QueryError(f"cannot parse the query: {_first_line(exc)}") from exc
    ends = [pos for pos, _ in found[1:]] + [len(query)]
    return [(kind.name, query[pos:end].strip()) for (pos, kind), end in zip(found, ends, strict=True)]


def _without_comments(query: str) -> str:
    return " ".join(text for kind, text in _tokens(query) if kind != "comment")


def _check_pivot(query: str) -> None:
    """A PIVOT without an IN list is checked token by token: no writing keyword, no side-effect function."""
    tokens = [(kind, text.lower()) for kind, text in _tokens(query) if kind != "comment"]
    if not any(kind == "keyword" and text in {"pivot", "unpivot", "pivot_wider", "pivot_longer"}
               for kind, text in tokens):
        raise QueryError(f"refused: a statement DuckDB runs as several statements: {_short(query)}; {EXPORT_HINT}")
    for i, (kind, text) in enumerate(tokens):
        name = text.strip('"')
        if kind == "keyword" and text in _WRITING_KEYWORDS:
            raise QueryError(f"refused: {text.upper()} inside a PIVOT: {_short(query)}; {EXPORT_HINT}")
        calls = i + 1 < len(tokens) and tokens[i + 1][1].startswith("(")
        if calls and (name in _WRITING_FUNCTIONS or name.startswith(_WRITING_PREFIXES)):
            raise QueryError(f"refused: function {name}() has side effects: {_short(query)}; {EXPORT_HINT}")


def check_read_only(con: duckdb.DuckDBPyConnection, text: str) -> list[str]:
    """The statements of `text`, each checked to only read; QueryError names the first one that does not."""
    check_query_text(text)
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
        elif kind == "MULTI":  # PIVOT without an IN list: DuckDB first reads the distinct values, then pivots
            _check_pivot(query)
        elif kind == "EXPLAIN":
            inner = _EXPLAIN.sub("", query, count=1)
            inner_statements = _split(con, inner) if inner.strip() else []
            if len(inner_statements) != 1 or inner_statements[0].type.name != "SELECT":
                raise QueryError(f"refused: EXPLAIN of a statement that is not a query: {_short(query)}; {EXPORT_HINT}")
            _check_select(con, inner_statements[0].query)
        elif kind == "PRAGMA":
            match = _PRAGMA.match(_without_comments(query))
            if not match or match.group(1).lower() not in _READING_PRAGMAS:
                raise QueryError(f"refused: PRAGMA that changes settings or state: {_short(query)} (reading PRAGMAs: "
                                 f"{', '.join(sorted(_READING_PRAGMAS))})")
        else:
            raise QueryError(f"refused: {kind} statement {_short(query)}; {EXPORT_HINT}")
        queries.append(query)
    return queries


def run_read_only(db: str | Path | None, text: str, *, timeout: float | None = None) -> Any:
    """Check every statement of `text` and run them on a locked read-only connection; the last result as a frame."""
    check_query_text(text)  # before opening anything: the input is the problem
    with ReadOnlySession(db, timeout=timeout) as session:
        return session.frame(text)


class ReadOnlySession:
    """A locked read-only connection whose queries can be stopped (Ctrl-C, `timeout` seconds) and streamed.

    Use as a context manager; `head`, `frame` and `export` each check `text` (`check_read_only`), run its
    statements in order on a worker thread and return what the last one gives.
    """

    def __init__(self, db: str | Path | None, *, timeout: float | None = None, memory_limit: str | None = None):
        if timeout is not None and timeout <= 0:
            raise QueryError(f"--timeout must be a positive number of seconds, got {timeout:g}")
        self.db, self.timeout, self.memory_limit = db, timeout, memory_limit
        self._con: duckdb.DuckDBPyConnection | None = None
        self._cur: duckdb.DuckDBPyConnection | None = None
        self._busy = False

    def __enter__(self) -> ReadOnlySession:
        self._con = connect_read_only(self.db, memory_limit=self.memory_limit)
        self._cur = self._con.cursor()   # a fresh connection to the same database: no result left open on it
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._busy:  # a query that would not stop is left to the end of the process
            for con in (self._cur, self._con):
                if con is not None:
                    con.close()
        self._con = self._cur = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None or self._cur is None:
            raise RuntimeError("ReadOnlySession used outside its with-block")
        return self._con

    # ------------------------------------------------------------------ what the callers ask for
    def head(self, text: str, rows: int) -> tuple[Any, bool]:
        """The first `rows` rows of the last statement's result as a frame, and whether it has more (DuckDB stops
        after rows + 1: a query of millions of rows is never fetched whole to be printed)."""
        def work(cur: duckdb.DuckDBPyConnection, query: str) -> tuple[Any, bool]:
            frame = cur.sql(query).limit(rows + 1).df()
            return frame.head(rows), len(frame) > rows

        return self._run(text, work)

    def frame(self, text: str) -> Any:
        """The whole result of the last statement as a pandas frame."""
        return self._run(text, lambda cur, query: cur.sql(query).df())

    def export(self, text: str, *, csv: Path | None = None, parquet: Path | None = None) -> int:
        """Stream the last statement's result into a CSV and/or a Parquet file, Arrow batch by batch (bounded
        memory); returns the rows written. Each file is written beside its name and moved there when complete,
        so an interrupted or failed query leaves no half-written file."""
        targets = [(path, fmt) for path, fmt in ((csv, "csv"), (parquet, "parquet")) if path is not None]
        if not targets:
            raise ValueError("export needs csv or parquet")
        temps = [path.with_name(f".{path.name}.radpath-{os.getpid()}.part") for path, _ in targets]

        def work(cur: duckdb.DuckDBPyConnection, query: str) -> int:
            reader = cur.sql(query).to_arrow_reader(BATCH_ROWS)
            writers: list[Any] = []
            try:
                for temp, (_, fmt) in zip(temps, targets, strict=True):
                    writers.append(_BatchFile(temp, fmt, reader.schema))
                total = 0
                for batch in reader:
                    for writer in writers:
                        writer.write_batch(batch)
                    total += batch.num_rows
            finally:
                for writer in writers:
                    writer.close()
                reader.close()
            return total

        try:
            total = self._run(text, work)
            for temp, (path, _) in zip(temps, targets, strict=True):
                os.replace(temp, path)
            return total
        except OSError as exc:  # named by the file the user gave, not the temporary one beside it
            names = {str(temp): path for temp, (path, _) in zip(temps, targets, strict=True)}
            if str(exc.filename) in names:
                raise OSError(exc.errno, exc.strerror, str(names[str(exc.filename)])) from exc
            raise
        finally:
            for temp in temps:
                temp.unlink(missing_ok=True)

    # ------------------------------------------------------------------ running and stopping
    def _run(self, text: str, last: Callable[[duckdb.DuckDBPyConnection, str], T]) -> T:
        check_query_text(text)
        queries = check_read_only(self.con, text)
        cur = self._cur
        assert cur is not None

        def work() -> T:
            for query in queries[:-1]:  # earlier statements are bound (errors show), their rows never read
                cur.sql(query)
            return last(cur, queries[-1])

        return self._supervised(work, queries[-1])

    def _supervised(self, work: Callable[[], T], query: str) -> T:
        """Run `work` on a worker thread while this thread waits: Ctrl-C (a SIGINT handler of ours, on the main
        thread) or the timeout interrupts DuckDB, again every 0.1 s until the query has stopped (an interrupt
        that comes between two steps of a query is forgotten)."""
        cur = self._cur
        assert cur is not None
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = work()
            except BaseException as exc:  # handed to the calling thread below
                box["error"] = exc

        ctrl_c, expired = threading.Event(), threading.Event()

        def on_sigint(signum: int, frame: Any) -> None:
            ctrl_c.set()
            cur.interrupt()

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, on_sigint)
        thread = threading.Thread(target=target, name="radpath-query", daemon=True)
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        give_up = None
        try:
            thread.start()
            while thread.is_alive():
                thread.join(0.1)
                if not thread.is_alive():  # finished: a deadline passed meanwhile does not discard its result
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    expired.set()
                if ctrl_c.is_set() or expired.is_set():
                    cur.interrupt()
                    give_up = give_up or time.monotonic() + 30
                    if time.monotonic() > give_up:  # DuckDB did not stop: leave it to the end of the process
                        self._busy = True
                        break
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        if (ctrl_c.is_set() or expired.is_set()) and "value" not in box:
            reason = "interrupted (Ctrl-C)" if ctrl_c.is_set() else f"stopped after --timeout {self.timeout:g} s"
            raise QueryError(f"query {reason}: {_short(query)}")
        if "error" in box:
            raise _query_error(box["error"], query) from box["error"]
        return box["value"]  # type: ignore[no-any-return]


class _BatchFile:
    """A CSV or Parquet file written batch by batch, opened by Python (so that an error names the file). CSV: the
    header as pandas and Python's csv module write it (names quoted only when they need it; pyarrow quotes every
    name), then pyarrow's rows (strings quoted only when needed)."""

    def __init__(self, path: Path, fmt: str, schema: Any):
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        try:
            if fmt == "csv":
                import csv
                import io

                import pyarrow.csv as pa_csv

                header = io.StringIO()
                csv.writer(header, lineterminator="\n").writerow(schema.names)
                self._file.write(header.getvalue().encode("utf-8"))
                options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
                self._writer: Any = pa_csv.CSVWriter(self._file, schema, write_options=options)
            else:
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self._file, schema)
        except BaseException:
            self._file.close()
            raise

    def write_batch(self, batch: Any) -> None:
        self._writer.write_batch(batch)

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.close()


def _query_error(exc: BaseException, query: str) -> BaseException:
    """One line for what went wrong while a query ran (other exceptions are bugs and keep their traceback)."""
    if isinstance(exc, QueryError):
        return exc
    if isinstance(exc, (KeyboardInterrupt, duckdb.InterruptException)):
        return QueryError(f"query interrupted: {_short(query)}")
    if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)):
        detail = _first_line(exc) if isinstance(exc, duckdb.Error) else "the result does not fit in memory"
        return QueryError(f"query ran out of memory ({detail}) in {_short(query)}; add a LIMIT or a WHERE, "
                          "aggregate, or save the result with --csv/--parquet (streamed)")
    if isinstance(exc, duckdb.Error):
        return QueryError(f"query failed: {_first_line(exc)} in {_short(query)}")
    if isinstance(exc, OSError) and exc.filename is None:
        return QueryError(f"cannot write the result: {exc.strerror or exc}")
    return exc
