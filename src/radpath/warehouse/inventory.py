"""What a warehouse's runs used: the model files and folders, with their hashes (`radpath models list`).

A run that used models records them in its parameters under "models": {role: {path, hash, format,
arch, positive_class, ...}} (score-wsi does). Runs written before that key existed recorded only
"model_hashes" {role: sha256} beside "tumor_model" / "til_model"; those are read too.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pandas as pd

COLUMNS = ["role", "path", "hash", "format", "arch", "positive_class", "runs", "commands", "first_used",
           "last_used", "last_run"]
_LEGACY_PATHS = {"tumor": "tumor_model", "lymphocyte": "til_model"}


def _models_of(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    models = params.get("models")
    if isinstance(models, dict):
        return {str(role): dict(used) for role, used in models.items() if isinstance(used, dict)}
    hashes = params.get("model_hashes")
    if isinstance(hashes, dict):
        return {str(role): {"path": params.get(_LEGACY_PATHS.get(str(role), "")), "hash": digest}
                for role, digest in hashes.items()}
    return {}


def models_used(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per (role, path, hash) any run used: how many runs, by which commands, first and last use."""
    rows = []
    for run_id, command, text, started in con.execute(
        "SELECT run_id, command, params, started_at FROM runs ORDER BY started_at, run_id"
    ).fetchall():
        try:
            params = json.loads(text)
        except (TypeError, json.JSONDecodeError):
            continue
        if not isinstance(params, dict):
            continue
        for role, used in _models_of(params).items():
            rows.append({"role": role, "path": used.get("path"), "hash": used.get("hash"),
                         "format": used.get("format"), "arch": used.get("arch"),
                         "positive_class": used.get("positive_class"), "command": command,
                         "run_id": run_id, "started_at": started})
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(rows)
    key = ["role", "path", "hash"]
    grouped = frame.groupby(key, dropna=False, sort=True)
    out = grouped.agg(
        format=("format", "last"), arch=("arch", "last"), positive_class=("positive_class", "last"),
        runs=("run_id", "nunique"), commands=("command", lambda c: ",".join(sorted(set(c)))),
        first_used=("started_at", "min"), last_used=("started_at", "max"), last_run=("run_id", "last"),
    ).reset_index()
    return out[COLUMNS].sort_values(["role", "last_used", "path"], ignore_index=True)
