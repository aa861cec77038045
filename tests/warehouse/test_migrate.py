"""Schema migrations: numbering, fresh warehouses, and warehouses from a newer radpath."""

from __future__ import annotations

import re
from importlib import resources

import duckdb
import pytest

from radpath.errors import SchemaVersionError
from radpath.warehouse import latest_version, migrations, open_warehouse
from radpath.warehouse.migrate import current_version

PUBLIC_VIEWS = {
    "patients": ["patient_id", "cohort", "included", "exclusion_reason"],
    "outcomes": ["patient_id", "endpoint", "time_days", "event"],
    "features": ["patient_id", "cohort", "modality", "code", "value", "run_id"],
    "runs": ["run_id", "command", "params_hash", "params", "versions", "input_hashes", "started_at",
             "finished_at", "status"],
}


def test_migration_files_are_numbered_uniquely_and_contiguously() -> None:
    names = [e.name for e in resources.files("radpath.sql").iterdir() if e.name.endswith(".sql")]
    numbers = sorted(int(re.match(r"(\d{4})_", name).group(1)) for name in names)  # type: ignore[union-attr]
    assert numbers == list(range(1, len(numbers) + 1)), names
    assert len(set(numbers)) == len(numbers)
    assert [m.version for m in migrations()] == numbers
    assert latest_version() == len(numbers)


def test_fresh_warehouse_is_migrated_and_reopening_applies_nothing(db_path) -> None:
    with open_warehouse(db_path) as con:
        assert current_version(con) == latest_version()
        rows = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert [r[0] for r in rows] == list(range(1, latest_version() + 1))
    with open_warehouse(db_path) as con:
        assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == latest_version()


@pytest.mark.parametrize("view", sorted(PUBLIC_VIEWS))
def test_public_views_keep_their_columns(con, view: str) -> None:
    columns = [row[0] for row in con.execute(f"DESCRIBE {view}").fetchall()]
    assert columns[: len(PUBLIC_VIEWS[view])] == PUBLIC_VIEWS[view]


def test_warehouse_from_a_newer_radpath_is_refused(db_path) -> None:
    with open_warehouse(db_path) as con:
        con.execute("INSERT INTO schema_version (version, name) VALUES (?, 'from_the_future')", [latest_version() + 1])
    with pytest.raises(SchemaVersionError, match=rf"schema version {latest_version() + 1}.*newer radpath"):
        open_warehouse(db_path).__enter__()
    with pytest.raises(SchemaVersionError, match="upgrade radpath"):
        open_warehouse(db_path, read_only=True).__enter__()


def test_a_file_that_is_not_a_warehouse_gets_a_clear_error(tmp_path) -> None:
    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("this is not a database")
    with pytest.raises(Exception, match="notes.duckdb"):
        open_warehouse(bogus).__enter__()


def test_failed_migration_leaves_the_previous_version(db_path) -> None:
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE cohort_registry (x INTEGER)")  # collides with 0001
    con.close()
    with pytest.raises(Exception, match="0001_core.sql failed"):
        open_warehouse(db_path).__enter__()
    con = duckdb.connect(str(db_path))
    assert con.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0
    con.close()
