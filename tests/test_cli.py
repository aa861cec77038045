"""The command line: help lists every command, and the foundation commands work end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
from typer.testing import CliRunner

from radpath import __version__
from radpath.cli.app import COMMAND_MODULES, build_app

runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(build_app(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_help_lists_every_command_with_a_line_of_help() -> None:
    app = build_app()
    output = _invoke("--help")
    names = [c.name for c in app.registered_commands] + [g.name for g in app.registered_groups]
    for name in names:
        assert name in output
    for command in app.registered_commands:
        assert (command.callback.__doc__ or "").strip(), f"command {command.name} has no help"
    assert {"init", "sql", "query", "status", "ingest", "synth", "cohort"} <= set(names)
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


def test_version() -> None:
    assert _invoke("--version").strip() == f"radpath {__version__}"


def test_synth_ingest_query_status(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    _invoke("synth", "--out", str(tmp_path / "study"), "--seed", "3", "--n-train", "20", "--n-valid", "15",
            "--modality", "tables")
    _invoke("init", "--db", str(db))
    manifests = [str(tmp_path / "study" / c / "manifest.yaml") for c in ("tcga_brca", "ispy1")]
    _invoke("ingest", *manifests, "--db", str(db))
    out = _invoke("cohort", "show", "ispy1", "--db", str(db))
    assert "recurrence-free survival available" in out
    _invoke("sql", "SELECT cohort, count(*) AS n FROM patients GROUP BY 1 ORDER BY 1", "--db", str(db),
            "--csv", str(tmp_path / "n.csv"))
    counts = pd.read_csv(tmp_path / "n.csv")
    truth = pd.read_csv(tmp_path / "study" / "truth.csv")
    assert dict(zip(counts["cohort"], counts["n"], strict=True)) == truth["cohort"].value_counts().to_dict()
    _invoke("query", "inclusion_flow", "--db", str(db), "--parquet", str(tmp_path / "flow.parquet"))
    flow = duckdb.sql(f"SELECT * FROM read_parquet('{tmp_path / 'flow.parquet'}')").df()
    assert list(flow["cohort"]).count("ispy1") == 2 and len(flow) == 4
    assert "tcga_brca" in _invoke("status", "--db", str(db))


def test_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "missing.duckdb"
    result = subprocess.run([sys.executable, "-m", "radpath.cli.app", "query", "nope", "--db", str(db)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no query named 'nope'; known:")
    result = subprocess.run([sys.executable, "-m", "radpath.cli.app", "sql", "SELECT 1", "--db", str(db)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no warehouse at" in result.stderr
