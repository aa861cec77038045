"""Consistent copies of the warehouse for a long-lived reader (the viewer) that must never block a writer.

DuckDB locks the database file with fcntl record locks: a connection that writes holds an exclusive lock on the
whole file for as long as it is open, a read-only connection a shared one, and neither waits for the other. A
reader that kept the file open (as `radpath serve` once did) therefore made every stage fail.

`copy_snapshot` instead takes the same shared lock only while it copies the file (and the `.wal` a killed
writer may have left) to a private file, so

* the copy is never torn: no writer can open the warehouse while the lock is held, and none is writing when
  it is taken (the lock is refused while a writer holds the file: the copy is skipped, never waited for);
* writers are never refused for long: the lock is an open-file-description lock (Linux `F_OFD_SETLK`),
  which DuckDB reports as held by "PID -1", and `connect.open_duckdb` waits for such a lock to go
  (`SNAPSHOT_WAIT_S`) instead of failing. Being bound to this file description, it also conflicts with a
  DuckDB connection of the same process, and closing it releases nothing else. Where OFD locks do not
  exist, a POSIX lock (`lockf`) stands in: copies stay consistent, but a writer is told who holds it.

`FileState` (inode, size and modification time of the file and its `.wal`) says when the warehouse has
changed since a copy was taken.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

WAL_SUFFIX = ".wal"
# Linux struct flock: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid (l_pid 0 for OFD)
_FLOCK = "hhqqi"


@dataclass(frozen=True)
class FileState:
    """What identifies one state of the warehouse file and its write-ahead log (None where absent)."""

    db: tuple[int, int, int] | None
    wal: tuple[int, int, int] | None

    @property
    def key(self) -> str:
        """A short text id of this state (for caches of things drawn from it)."""
        import hashlib

        return hashlib.sha256(repr((self.db, self.wal)).encode()).hexdigest()[:12]


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def wal_path(db: Path) -> Path:
    return db.with_name(db.name + WAL_SUFFIX)


def file_state(db: Path) -> FileState:
    return FileState(_stat(db), _stat(wal_path(db)))


def _lock_shared(fd: int) -> bool:
    """Take a shared lock on the whole file without waiting; False when a writer holds it."""
    try:
        if hasattr(fcntl, "F_OFD_SETLK"):
            fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(_FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 0, 0, 0))
        else:   # pragma: no cover - platforms without open-file-description locks
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def copy_snapshot(db: Path, dest: Path) -> FileState | None:
    """Copy the warehouse `db` (and its `.wal`, if a killed writer left one) to `dest` while holding DuckDB's
    shared lock; the state copied, or None when a writer has the warehouse open (nothing is copied)."""
    fd = os.open(db, os.O_RDONLY)
    try:
        if not _lock_shared(fd):
            return None
        state = file_state(db)
        shutil.copyfile(db, dest)
        wal = wal_path(db)
        if state.wal is not None:
            shutil.copyfile(wal, wal_path(dest))
        else:
            wal_path(dest).unlink(missing_ok=True)
        return state
    finally:
        os.close(fd)    # releases the lock


def holds_snapshot_lock(pid: int | None) -> bool:
    """Whether DuckDB's "Conflicting lock is held in PID <pid>" names a snapshot's lock (OFD locks have no PID)."""
    return pid == -1
