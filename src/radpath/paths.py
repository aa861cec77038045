"""One checked opener for every path a user gives: what it must be, checked before anything uses it.

A path is one of a few kinds (`PathKind`): an input file, an input text file (YAML, CSV, SQL), an input
folder, either, an output file, an output folder, or the warehouse file. `check_path` raises `PathError`
with one line naming the option, the path and what was expected ("is a folder, expected a file",
"is a binary file, expected a text file", "cannot create folder ...: ... is a file"), so no command ever
shows an IsADirectoryError or UnicodeDecodeError traceback. Output helpers create missing parent folders.

The command line attaches these checks to every `Path` option by its metavar (see `KIND_BY_METAVAR` and
`radpath.cli.checks`); library code calls `input_file`, `read_text`, `output_file`, ...

No output path ever resolves to a file the command must not write: an output file or folder is refused when
it is (after `..`, symlinks and hard links: `same_file`) the warehouse, its DuckDB companions (`<db>.wal`,
`<db>.tmp`) or an input of the same command (`protected_files`, `check_not_protected`), and an output file
is refused when it is an existing DuckDB database of any name. The command line checks every output option
against the warehouse and the command's inputs before the command runs and keeps them protected while it
runs (`protecting`), so `output_file`/`output_dir` calls in library code refuse them too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from radpath.errors import PathError

_SNIFF_BYTES = 8192
# A DuckDB database file holds its magic bytes after an 8-byte checksum (storage format, all versions >= 0.2).
_DUCKDB_MAGIC = b"DUCK"
_DUCKDB_MAGIC_AT = 8
# The files DuckDB keeps beside a database: its write-ahead log and its spill folder.
WAREHOUSE_COMPANIONS = {".wal": "write-ahead log", ".tmp": "temporary folder"}


class PathKind(StrEnum):
    FILE = "file"
    TEXT = "text file"
    FOLDER = "folder"
    FILE_OR_FOLDER = "file or folder"
    OUT_FILE = "output file"
    OUT_FOLDER = "output folder"
    WAREHOUSE = "warehouse file"


# The metavar a command-line option shows is the kind of path it takes.
KIND_BY_METAVAR: dict[str, PathKind] = {
    "FILE": PathKind.FILE,
    "YAML": PathKind.TEXT,
    "TEXT": PathKind.TEXT,
    "FOLDER": PathKind.FOLDER,
    "FILE|FOLDER": PathKind.FILE_OR_FOLDER,
    "OUT_FILE": PathKind.OUT_FILE,
    "OUT_FOLDER": PathKind.OUT_FOLDER,
    "DB": PathKind.WAREHOUSE,
}


def _label(path: str | os.PathLike[str] | None, what: str) -> str:
    return f"{what} {str(path)!r}" if what else repr(str(path))


def given(path: str | os.PathLike[str] | None, what: str = "path") -> Path:
    """The path as a Path; PathError for None or an empty or blank string (which Path() would turn into '.')."""
    if path is None or not str(path).strip():
        raise PathError(f"{what}: empty path; give a file or folder name")
    return Path(path)


def not_text(path: Path) -> str | None:
    """Why the file is not a text file we can read (a NUL byte: binary; bad bytes: not UTF-8), else None."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if b"\x00" in head:
        return "is a binary file, expected a text file (UTF-8 YAML, CSV or SQL)"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the sample is still text
        if exc.start < len(head) - 3:
            return f"is not UTF-8 text (byte {exc.start}); save it as UTF-8"
    return None


def is_binary(path: Path) -> bool:
    """True when the start of the file is not UTF-8 text."""
    return not_text(path) is not None


@dataclass(frozen=True)
class Protected:
    """A file or folder no output of the running command may resolve to, and what it is (for the message)."""

    path: Path
    what: str


_PROTECTED: ContextVar[tuple[Protected, ...]] = ContextVar("radpath_protected_paths", default=())


def warehouse_files(db: str | os.PathLike[str]) -> list[Protected]:
    """The warehouse and the companions DuckDB keeps beside it (`<db>.wal`, `<db>.tmp`)."""
    path = Path(db)
    return [Protected(path, "the warehouse")] + [
        Protected(path.with_name(path.name + suffix), f"the warehouse's {name}")
        for suffix, name in WAREHOUSE_COMPANIONS.items()
    ]


@contextmanager
def protecting(items: Iterable[Protected]) -> Iterator[None]:
    """While the block runs, `output_file`/`output_dir` (and every output check) refuse these paths too."""
    token = _PROTECTED.set(_PROTECTED.get() + tuple(items))
    try:
        yield
    finally:
        _PROTECTED.reset(token)


def same_file(a: Path, b: Path) -> bool:
    """True when two paths name one file or folder: equal after resolving `..` and symlinks, or one inode
    (a hard link) when both exist."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except (OSError, RuntimeError):  # a symlink loop or an unreadable folder: not provably the same
        return False


def is_duckdb_file(path: Path) -> bool:
    """True when `path` is a regular file that starts like a DuckDB database."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_DUCKDB_MAGIC_AT + len(_DUCKDB_MAGIC))
    except OSError:
        return False
    return head[_DUCKDB_MAGIC_AT:] == _DUCKDB_MAGIC


def check_not_protected(path: Path, what: str, protected: Iterable[Protected] = ()) -> None:
    """PathError when an output path resolves to a protected file (given, or protected by the running
    command), or when an existing file there is a DuckDB database."""
    for item in (*protected, *_PROTECTED.get()):
        if same_file(path, item.path):
            shown = "" if str(item.path) == str(path) else f" ({item.path})"
            raise PathError(f"{_label(path, what)}: is {item.what}{shown}; radpath never writes over it, "
                            "choose another name")
    if path.is_file() and is_duckdb_file(path):
        raise PathError(f"{_label(path, what)}: is a DuckDB database (a warehouse?); radpath never writes over "
                        "one, choose another name")


def _first_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _check_creatable(path: Path, what: str) -> None:
    """The folders up to `path` exist or can be made: the nearest existing one is a writable folder."""
    anchor = _first_existing(path.parent)
    if not anchor.is_dir():
        raise PathError(f"{_label(path, what)}: cannot create its folder: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise PathError(f"{_label(path, what)}: cannot write in folder {anchor} (permission denied)")


def check_path(path: str | os.PathLike[str] | None, kind: PathKind, what: str = "") -> Path:
    """Check a path of the given kind without creating or changing anything; returns it as a Path."""
    what = what or kind.value
    p = given(path, what)
    if kind in (PathKind.FILE, PathKind.TEXT, PathKind.FOLDER, PathKind.FILE_OR_FOLDER):
        if not p.exists():
            missing = "folder" if kind is PathKind.FOLDER else "file"
            parent = _first_existing(p.parent)
            hint = "" if parent == p.parent.absolute() else f" (folder {p.parent} does not exist either)"
            raise PathError(f"{_label(p, what)}: no such {missing}{hint}")
        if kind in (PathKind.FILE, PathKind.TEXT) and p.is_dir():
            raise PathError(f"{_label(p, what)}: is a folder, expected a {kind.value}")
        if kind is PathKind.FOLDER and not p.is_dir():
            raise PathError(f"{_label(p, what)}: is a file, expected a folder")
        if not os.access(p, os.R_OK):
            raise PathError(f"{_label(p, what)}: cannot be read (permission denied)")
        reason = not_text(p) if kind is PathKind.TEXT else None
        if reason:
            raise PathError(f"{_label(p, what)}: {reason}")
        return p
    if kind in (PathKind.OUT_FILE, PathKind.WAREHOUSE):
        if p.is_dir():
            raise PathError(f"{_label(p, what)}: is a folder, expected a file name")
        if p.exists() and not p.is_file():
            raise PathError(f"{_label(p, what)}: is not a regular file")
        if kind is PathKind.OUT_FILE:
            check_not_protected(p, what)
        _check_creatable(p, what)
        return p
    # OUT_FOLDER
    if p.exists() and not p.is_dir():
        raise PathError(f"{_label(p, what)}: is a file, expected a folder")
    check_not_protected(p, what)
    _check_creatable(p, what)
    return p


def input_file(path: str | os.PathLike[str] | None, what: str = "file") -> Path:
    """An existing, readable file (not a folder)."""
    return check_path(path, PathKind.FILE, what)


def input_dir(path: str | os.PathLike[str] | None, what: str = "folder") -> Path:
    """An existing, readable folder."""
    return check_path(path, PathKind.FOLDER, what)


def read_text(path: str | os.PathLike[str] | None, what: str = "text file") -> str:
    """The UTF-8 text of an existing text file; PathError for folders, binary files and bad encodings."""
    p = check_path(path, PathKind.TEXT, what)
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PathError(f"{_label(p, what)}: is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise PathError(f"{_label(p, what)}: cannot be read ({exc.strerror or exc})") from exc


def output_file(path: str | os.PathLike[str] | None, what: str = "output file") -> Path:
    """A file name to write: checked, its missing parent folders created."""
    p = check_path(path, PathKind.OUT_FILE, what)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(f"{_label(p, what)}: cannot create folder {p.parent} ({exc.strerror or exc})") from exc
    return p


def output_dir(path: str | os.PathLike[str] | None, what: str = "output folder") -> Path:
    """A folder to write into: checked and created with its parents."""
    p = check_path(path, PathKind.OUT_FOLDER, what)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PathError(f"{_label(p, what)}: cannot create folder ({exc.strerror or exc})") from exc
    return p
