"""The warehouse as the viewer reads it: a private snapshot, refreshed when the warehouse changes and is free.

The viewer never keeps the warehouse open, so every stage writes while it runs. It reads a copy taken under
DuckDB's own shared lock (`radpath.warehouse.snapshot.copy_snapshot`: never torn, never taken while a writer
has the file open) and opened read-only (`Study`). At most once a second (`check_every`), a request compares
the warehouse's `FileState` with its snapshot's; when it changed and no writer holds it, a new copy is taken,
opened and checked in a worker thread, and only then swapped in, so a page shows either the state before a
stage or the state after its last commit, never a half-written one. A stage's results appear on the first
request after the stage closes the warehouse (a running stage holds it open: until it ends the viewer shows
the state before it). A writer that tries to open the warehouse during a copy waits for it
(`radpath.warehouse.connect.open_duckdb`).

Each request holds a lease on the snapshot it started with (`lease`); a replaced snapshot is closed, and its
file deleted, when its last request ends. Things drawn from a snapshot (cohort tables, figures) are kept
per snapshot (`Snapshot.tables`, `Snapshot.key`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radpath.errors import RadpathError, WarehouseError
from radpath.viewer.store import Study
from radpath.warehouse.connect import missing_warehouse_message
from radpath.warehouse.snapshot import FileState, copy_snapshot, file_state, wal_path

log = logging.getLogger(__name__)


class WarehouseBusy(WarehouseError):
    """A writer has the warehouse open, so no first snapshot can be taken yet."""


@dataclass(eq=False)
class Snapshot:
    """One consistent state of the warehouse, open read-only, with what was built from it."""

    study: Study
    state: FileState
    path: Path
    users: int = 0
    retired: bool = False
    tables: dict[str, Any] = field(default_factory=dict)      # cohort -> its manuscript tables

    @property
    def key(self) -> str:
        return self.state.key


class Snapshots:
    """The current snapshot of the warehouse `db`, kept in `folder` (which the caller owns)."""

    def __init__(self, db: Path, folder: Path, check_every: float = 1.0):
        self.db = Path(db)
        self.folder = Path(folder)
        self.check_every = check_every
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count = itertools.count()
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        self._checked = 0.0
        if not self.db.is_file():
            raise WarehouseError(missing_warehouse_message(self.db))
        first = self._take()
        if first is None:
            raise WarehouseBusy(f"warehouse {self.db} is being written by another process; the viewer opens it "
                                "when that command finishes")
        self._current = first
        self.refreshes = 0

    # ------------------------------------------------------------------ taking snapshots
    def _take(self) -> Snapshot | None:
        """A new snapshot of the warehouse, or None while a writer has it open."""
        path = self.folder / f"warehouse-{next(self._count)}.duckdb"
        try:
            state = copy_snapshot(self.db, path)
            if state is None:
                return None
            return Snapshot(Study(path), state, path)
        except BaseException:
            _remove(path)
            raise

    def due(self) -> bool:
        """Whether the warehouse changed since the current snapshot (looked at once per `check_every`)."""
        now = time.monotonic()
        if now - self._checked < self.check_every:
            return False
        self._checked = now
        return file_state(self.db) != self._current.state

    def refresh(self) -> bool:
        """Take and swap in a new snapshot if the warehouse changed and is free; whether one was swapped in.
        One thread refreshes at a time; the others go on with the current snapshot meanwhile."""
        if not self._refreshing.acquire(blocking=False):
            return False
        try:
            if file_state(self.db) == self._current.state:
                return False
            try:
                new = self._take()
            except (RadpathError, OSError) as exc:   # e.g. a newer radpath migrated it: keep showing the last
                log.warning("the viewer keeps its last snapshot of %s: %s", self.db, exc)
                return False
            if new is None:     # a writer has it open: try again on a later request
                return False
            with self._lock:
                old, self._current = self._current, new
                old.retired = True
                idle = old.users == 0
            if idle:
                _close(old)
            self.refreshes += 1
            return True
        finally:
            self._refreshing.release()

    # ------------------------------------------------------------------ leases
    def acquire(self, snapshot: Snapshot | None = None) -> Snapshot:
        """Hold `snapshot` (the current one by default) open until `release`."""
        with self._lock:
            held = snapshot or self._current
            held.users += 1
            return held

    def release(self, snapshot: Snapshot) -> None:
        with self._lock:
            snapshot.users -= 1
            close = snapshot.retired and snapshot.users == 0
        if close:
            _close(snapshot)

    @contextmanager
    def lease(self) -> Iterator[Snapshot]:
        snapshot = self.acquire()
        try:
            yield snapshot
        finally:
            self.release(snapshot)

    @property
    def current(self) -> Snapshot:
        return self._current

    def close(self) -> None:
        with self._lock:
            current = self._current
            current.retired = True
            idle = current.users == 0
        if idle:
            _close(current)


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    wal_path(path).unlink(missing_ok=True)


def _close(snapshot: Snapshot) -> None:
    snapshot.study.close()
    _remove(snapshot.path)
