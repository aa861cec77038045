"""Run provenance: every command that writes records itself in `run_log`.

A run row is inserted (and committed) when the run starts with status 'running', and updated when
it ends. A process killed mid-way (SIGKILL, out of memory, power cut) cannot update it, so the row records
which process ran it (pid, host, and the process's start time, so that a later process given the same pid is
not taken for it): every write-open of the warehouse marks the runs whose process is gone 'interrupted'
(`mark_interrupted`), and `radpath status` shows them so even on a read-only open (`gone_runs`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import socket
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import duckdb

from radpath.processes import alive, process_started

# Packages whose versions a run records when they are importable; heavy ones only when already loaded.
_ALWAYS = ("radpath", "numpy", "pandas", "scipy", "duckdb")
_IF_LOADED = {
    "SimpleITK": "SimpleITK",
    "radiomics": "pyradiomics-bhklab",
    "torch": "torch",
    "openslide": "openslide-python",
    "sklearn": "scikit-learn",
    "lifelines": "lifelines",
    "statsmodels": "statsmodels",
}
# Files larger than this are hashed by size + first and last MiB (documented in the README).
FULL_HASH_LIMIT = 64 * 1024 * 1024


INTERRUPTED = "interrupted: the process ended without finishing the run (killed, or the machine stopped)"


@dataclass(frozen=True)
class Run:
    run_id: str
    command: str
    params_hash: str
    started_at: datetime


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))


def params_hash(params: Mapping[str, Any]) -> str:
    """A short, stable hash of a parameter mapping (key order does not matter)."""
    return hashlib.sha256(canonical_json(dict(params)).encode()).hexdigest()[:16]


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    names = list(_ALWAYS) + [dist for module, dist in _IF_LOADED.items() if module in sys.modules]
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def hash_file(path: Path) -> str:
    """sha256 of a file; for files over FULL_HASH_LIMIT, of its size and first and last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with path.open("rb") as handle:
        if size <= FULL_HASH_LIMIT:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            return digest.hexdigest()
        digest.update(str(size).encode())
        digest.update(handle.read(1 << 20))
        handle.seek(-(1 << 20), 2)
        digest.update(handle.read(1 << 20))
    return "partial:" + digest.hexdigest()


def hash_inputs(paths: Iterable[Path]) -> dict[str, str]:
    """Map each input file (directories: every file below them) to its hash."""
    hashes: dict[str, str] = {}
    for path in paths:
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.exists():
                hashes[str(file)] = hash_file(file)
    return hashes


def start_run(
    con: duckdb.DuckDBPyConnection,
    command: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str] | None = None,
) -> Run:
    """Insert a 'running' row for a new run (inside the caller's transaction, if one is open)."""
    run = Run(
        run_id=f"{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        command=command,
        params_hash=params_hash(params),
        started_at=now(),
    )
    pid = os.getpid()
    con.execute(
        "INSERT INTO run_log (run_id, command, params_hash, params, versions, input_hashes, started_at, finished_at, "
        "status, pid, host, process_started) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'running', ?, ?, ?)",
        [
            run.run_id,
            command,
            run.params_hash,
            canonical_json(dict(params)),
            canonical_json(_package_versions()),
            canonical_json(dict(inputs or {})),
            run.started_at,
            pid,
            host_name(),
            process_started(pid),
        ],
    )
    return run


def host_name() -> str:
    return socket.gethostname()


def process_gone(pid: int | None, host: str | None, started: str | None) -> bool:
    """True when the process that ran a run has certainly ended: it ran on this host and no process has its pid,
    or the process with its pid now started at another time (the pid was reused). A run from another host, or
    one that recorded no process, is not judged."""
    if pid is None or host != host_name():
        return False
    return not alive(pid, started)


def _has_process_columns(con: duckdb.DuckDBPyConnection) -> bool:
    columns = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'run_log'"
    ).fetchall()
    return "pid" in {row[0] for row in columns}


def gone_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Run ids still 'running' whose process has ended (see `process_gone`); works on a read-only connection."""
    if not _has_process_columns(con):
        return []
    rows = con.execute(
        "SELECT run_id, pid, host, process_started FROM run_log WHERE status = 'running' ORDER BY started_at"
    ).fetchall()
    return [run_id for run_id, pid, host, started in rows if process_gone(pid, host, started)]


def mark_interrupted(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Mark the runs whose process has ended 'interrupted' (their rows written so far stay); returns their ids.
    Writes only when there is one, so that opening a warehouse changes nothing in it otherwise."""
    gone = gone_runs(con)
    for run_id in gone:
        con.execute(
            "UPDATE run_log SET status = 'interrupted', error = ? WHERE run_id = ? AND status = 'running'",
            [INTERRUPTED, run_id],
        )
    return gone


def describe_error(error: BaseException | str) -> str:
    """One line for runs.error: the message, or the exception's type when it has none (KeyboardInterrupt)."""
    if isinstance(error, str):
        text = error
    else:
        message = " ".join(str(error).split())
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
        if isinstance(error, KeyboardInterrupt):
            text = "interrupted (KeyboardInterrupt)"
    text = " ".join(text.split())
    return text if len(text) <= 2000 else text[:1999] + "…"


def finish_run(
    con: duckdb.DuckDBPyConnection, run: Run, status: str, error: BaseException | str | None = None
) -> None:
    """Mark a run finished with status ok | partial | failed, keeping the reason of a failure in runs.error.

    Called with status 'failed' from an `except` block and no `error`, the exception being handled is the
    reason, so every stage's `except BaseException: finish_run(con, run, "failed")` records it.
    """
    if status not in {"ok", "partial", "failed"}:
        raise ValueError(f"unknown run status {status!r}")
    if error is None and status == "failed":
        error = sys.exc_info()[1]
    text = describe_error(error) if error is not None and status != "ok" else None
    con.execute(
        "UPDATE run_log SET finished_at = ?, status = ?, error = ? WHERE run_id = ?",
        [now(), status, text, run.run_id],
    )
