"""One checked opener for every path a user gives: what it must be, checked before anything uses it.

A path is one of a few kinds (`PathKind`): an input file, an input text file (YAML, CSV, SQL), an input
folder, either, an output file, an output folder, or the warehouse file. `check_path` raises `PathError`
with one line naming the option, the path and what was expected ("is a folder, expected a file",
"is a binary file, expected a text file", "cannot create folder ...: ... is a file"), so no command ever
shows an IsADirectoryError or UnicodeDecodeError traceback. Output helpers create missing parent folders.

The command line attaches these checks to every `Path` option by its metavar (see `KIND_BY_METAVAR` and
`radpath.cli.common.install_path_checks`); library code calls `input_file`, `read_text`, `output_file`, ...
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from radpath.errors import PathError

_SNIFF_BYTES = 8192


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
        _check_creatable(p, what)
        return p
    # OUT_FOLDER
    if p.exists() and not p.is_dir():
        raise PathError(f"{_label(p, what)}: is a file, expected a folder")
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
