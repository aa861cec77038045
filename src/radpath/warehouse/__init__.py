"""The DuckDB warehouse: connection, migrations, transactional writes and run provenance.

Typical use from a notebook::

    from radpath.warehouse import open_warehouse
    with open_warehouse("radpath.duckdb") as con:
        con.sql("SELECT * FROM features LIMIT 5").show()
"""

from radpath.warehouse.connect import default_db_path, open_warehouse
from radpath.warehouse.migrate import latest_version, migrate, migrations
from radpath.warehouse.runs import Run, finish_run, hash_inputs, params_hash, start_run
from radpath.warehouse.write import (
    record_failure,
    register_feature_defs,
    replace_rows,
    set_case_status,
    transaction,
    write_features,
)

__all__ = [
    "latest_version",
    "Run",
    "default_db_path",
    "finish_run",
    "hash_inputs",
    "migrate",
    "migrations",
    "open_warehouse",
    "params_hash",
    "record_failure",
    "register_feature_defs",
    "replace_rows",
    "set_case_status",
    "start_run",
    "transaction",
    "write_features",
]
