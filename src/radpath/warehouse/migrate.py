"""Schema migrations: `sql/NNNN_name.sql` files applied in order, recorded in `schema_version`.

Each file runs in its own transaction together with its `schema_version` row, so a failing
migration leaves the warehouse at the previous version. Numbers must be unique and contiguous
from 1 (checked here and by a test).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

import duckdb

from radpath.errors import SchemaVersionError, WarehouseError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@cache
def migrations() -> tuple[Migration, ...]:
    """All migrations shipped with this radpath, in order (validated: unique, contiguous from 1)."""
    found: list[Migration] = []
    for entry in resources.files("radpath.sql").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    numbers = [m.version for m in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise WarehouseError(f"migration numbers must be unique and contiguous from 0001; found {numbers}")
    return tuple(found)


def _latest() -> int:
    return migrations()[-1].version


def latest_version() -> int:
    """The schema version this radpath writes."""
    return _latest()


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of an open warehouse (0 for an empty database)."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or exists[0] == 0:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def check_version(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """Raise SchemaVersionError when the warehouse is newer than this radpath understands."""
    version = current_version(con)
    if version > _latest():
        from radpath import __version__

        raise SchemaVersionError(
            f"warehouse {path} has schema version {version}, but this radpath ({__version__}) knows "
            f"versions up to {_latest()}: it was written by a newer radpath; upgrade radpath to open it"
        )
    return version


def migrate(con: duckdb.DuckDBPyConnection, path: str = "<memory>") -> list[int]:
    """Apply every pending migration; returns the versions applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    version = check_version(con, path)
    applied: list[int] = []
    for migration in migrations():
        if migration.version <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)", [migration.version, migration.name]
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise WarehouseError(
                f"migration {migration.version:04d}_{migration.name}.sql failed on {path}: {exc}"
            ) from exc
        applied.append(migration.version)
    apply_views(con, path, only_changed=not applied)
    return applied


def view_files() -> list[tuple[str, str]]:
    """Manuscript views shipped in `sql/views/NAME.sql`: (name, SQL), in name order."""
    folder = resources.files("radpath.sql").joinpath("views")
    return sorted((e.name[:-4], e.read_text(encoding="utf-8")) for e in folder.iterdir() if e.name.endswith(".sql"))


def _view_mark(sql: str) -> str:
    """The comment a manuscript view carries: the hash of the file that made it."""
    return "radpath view sha256:" + hashlib.sha256(sql.encode()).hexdigest()


def apply_views(con: duckdb.DuckDBPyConnection, path: str = "<memory>", *, only_changed: bool = False) -> None:
    """(Re)create the manuscript views of `sql/views/` (CREATE OR REPLACE VIEW; no data is touched).

    They are not migrations: views hold no data, so they follow this radpath's code on every write-open. Each view
    carries the hash of its file as its comment; with `only_changed` (no migration was applied) a view whose file
    is unchanged is left alone, so that opening a warehouse for writing and closing it changes none of its bytes.
    A view that uses another is retried after the others, so file order does not matter.
    """
    marks: dict[str, str | None] = {}
    if only_changed:
        marks = dict(con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'"
        ).fetchall())
    pending = [(name, sql) for name, sql in view_files() if marks.get(name) != _view_mark(sql)]
    while pending:
        failed: list[tuple[str, str, duckdb.Error]] = []
        for name, sql in pending:
            try:
                con.execute(sql)
                con.execute(f"COMMENT ON VIEW \"{name}\" IS '{_view_mark(sql)}'")
            except duckdb.Error as exc:
                failed.append((name, sql, exc))
        if len(failed) == len(pending):
            name, _, error = failed[0]
            raise WarehouseError(f"view sql/views/{name}.sql failed on {path}: {error}")
        pending = [(name, sql) for name, sql, _ in failed]
