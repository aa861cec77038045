"""Open the warehouse: resolve its path, translate DuckDB's lock error, migrate on write."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from radpath.errors import WarehouseError, WarehouseLockedError
from radpath.paths import PathKind, check_path
from radpath.warehouse.migrate import check_version, migrate
from radpath.warehouse.runs import mark_interrupted
from radpath.warehouse.snapshot import holds_snapshot_lock

DEFAULT_DB = "radpath.duckdb"
_PID = re.compile(r"PID (-?\d+)")
SNAPSHOT_WAIT_S = 30.0     # how long a writer waits for a viewer's snapshot copy (radpath.warehouse.snapshot)


def default_db_path() -> Path:
    """`$RADPATH_DB` when set, else `./radpath.duckdb`."""
    return Path(os.environ.get("RADPATH_DB") or DEFAULT_DB)


def resolve_db(db: str | Path | None) -> Path:
    return Path(db) if db is not None else default_db_path()


def open_duckdb(
    path: Path, *, read_only: bool, config: dict[str, str | bool | int | float | list[str]] | None = None
) -> duckdb.DuckDBPyConnection:
    """duckdb.connect with its errors turned into one-line WarehouseErrors (lock holder named). A lock held
    while a viewer copies a snapshot (`radpath.warehouse.snapshot`) is waited for, up to SNAPSHOT_WAIT_S."""
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                found = _PID.search(text)
                pid = int(found.group(1)) if found else None
                if holds_snapshot_lock(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                raise WarehouseLockedError(locked_message(path, pid)) from exc
            raise WarehouseError(f"cannot open warehouse {path}: {_first_line(text)}") from exc
        except duckdb.Error as exc:
            raise WarehouseError(
                f"cannot open warehouse {path}: not a DuckDB database ({_first_line(str(exc))})") from exc


def _command_line(pid: int) -> list[str]:
    """The argv of process `pid` (Linux /proc), or [] where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def locked_message(path: Path, pid: int | None) -> str:
    """Who holds the warehouse and what to do: a viewer (`radpath serve`) is named as such."""
    if holds_snapshot_lock(pid):
        return (f"warehouse {path} is in use: a reader has held DuckDB's shared lock (a lock without a process id, "
                f"as `radpath serve` takes while it copies a snapshot) for more than {SNAPSHOT_WAIT_S:.0f} s; "
                "try again")
    argv = _command_line(pid) if pid is not None and pid > 0 else []
    names = [Path(a).name for a in argv[:3]]
    if "serve" in argv and any(n == "radpath" or n.startswith("radpath.") for n in names):
        return (f"warehouse {path} is in use: `radpath serve` (PID {pid}) has it open, and DuckDB lets no other "
                "process write while it does; stop the viewer, run this command, then start the viewer again")
    who = f" (PID {pid}: {' '.join(argv)[:120]})" if argv else (f" (PID {pid})" if pid is not None else "")
    return (f"warehouse {path} is in use: another process{who} has it open for writing; "
            "wait for it to finish (DuckDB allows one writer at a time)")


def missing_warehouse_message(path: Path) -> str:
    """Where to point instead (--db / RADPATH_DB, the demo's warehouse) or how to create one."""
    demo = Path("demo") / DEFAULT_DB
    hint = f"; after make demo use --db {demo} or export RADPATH_DB={demo}" if demo.is_file() else ""
    return (f"no warehouse at {path}: give --db FILE or set RADPATH_DB{hint}; "
            f"to start a new one run `radpath init --db {path}` or ingest a cohort")


def connect(db: str | Path | None = None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (and, unless read_only, create and migrate) the warehouse. The caller closes it."""
    path = check_path(resolve_db(db), PathKind.WAREHOUSE, "warehouse")
    if read_only and not path.exists():
        raise WarehouseError(missing_warehouse_message(path))
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = open_duckdb(path, read_only=read_only)
    try:
        if read_only:
            check_version(con, str(path))
        else:
            migrate(con, str(path))
            mark_interrupted(con)  # runs whose process was killed stay 'running' no longer
    except Exception:
        con.close()
        raise
    return con


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "unknown error"


@contextmanager
def open_warehouse(
    db: str | Path | None = None, *, read_only: bool = False
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Context manager around `connect` that always closes the connection."""
    con = connect(db, read_only=read_only)
    try:
        yield con
    finally:
        con.close()
