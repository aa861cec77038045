"""Cohorts in the warehouse: the known names, a check that names an unknown cohort as unknown, and removal.

Every table that holds per-cohort rows has a `cohort` column, so removal needs no list of tables: it deletes
the cohort's rows from each base table with that column, in one transaction. Fitted models are artifacts
and stay (their `models.cohort` names the cohort they were trained on); `remove_cohort` reports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from radpath.errors import UnknownCohortError
from radpath.warehouse.write import transaction

# Tables whose rows are kept when their cohort is removed (artifacts that outlive the data they came from).
KEPT_TABLES = frozenset({"models"})


def known_cohorts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Names of the ingested cohorts, sorted."""
    return [row[0] for row in con.execute("SELECT cohort FROM cohort_registry ORDER BY cohort").fetchall()]


def require_cohort(con: duckdb.DuckDBPyConnection, cohort: str) -> str:
    """The cohort name, or UnknownCohortError naming the cohorts the warehouse holds."""
    known = known_cohorts(con)
    if cohort not in known:
        listed = ", ".join(known) if known else "none (ingest a cohort manifest first: radpath ingest MANIFEST)"
        raise UnknownCohortError(f"unknown cohort {cohort!r}; cohorts in the warehouse: {listed}")
    return cohort


def cohort_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Base tables with a `cohort` column, in a stable order."""
    rows = con.execute(
        "SELECT c.table_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE c.column_name = 'cohort' AND t.table_type = 'BASE TABLE' AND t.table_schema = 'main' "
        "ORDER BY c.table_name"
    ).fetchall()
    return [row[0] for row in rows]


@dataclass
class Removal:
    cohort: str
    rows: dict[str, int] = field(default_factory=dict)   # table -> rows deleted (tables with none left out)
    kept_models: list[str] = field(default_factory=list)  # "name vN" of models trained on the cohort

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def cohort_rows(con: duckdb.DuckDBPyConnection, cohort: str) -> dict[str, int]:
    """Rows per table that removing the cohort would delete (tables with none left out)."""
    counts: dict[str, int] = {}
    for table in cohort_tables(con):
        if table in KEPT_TABLES:
            continue
        row = con.execute(f'SELECT count(*) FROM "{table}" WHERE cohort = ?', [cohort]).fetchone()
        if row and row[0]:
            counts[table] = int(row[0])
    return counts


def remove_cohort(con: duckdb.DuckDBPyConnection, cohort: str) -> Removal:
    """Delete every row of the cohort from every per-cohort table in one transaction (all or nothing)."""
    require_cohort(con, cohort)
    removal = Removal(cohort)
    with transaction(con):
        removal.rows = cohort_rows(con, cohort)
        for table in removal.rows:
            con.execute(f'DELETE FROM "{table}" WHERE cohort = ?', [cohort])
        if "models" in cohort_tables(con):
            removal.kept_models = [
                f"{name} v{version}" for name, version in con.execute(
                    "SELECT name, version FROM models WHERE cohort = ? ORDER BY name, version", [cohort]
                ).fetchall()
            ]
    return removal
