"""`associate` and `apply` print a summary (counts, the top rows) and say where every row is; --csv writes them
all (#25 §4: they printed all 1,242 associations and every patient)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.warehouse import open_warehouse


def _run(*args: str) -> str:
    result = CliRunner().invoke(build_app(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_associate_and_apply_print_summaries(stats_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    db.write_bytes(stats_db.read_bytes())
    out = _run("associate", "--cohort", "tcga_brca", "--db", str(db), "--csv", str(tmp_path / "assoc.csv"))
    every = pd.read_csv(tmp_path / "assoc.csv")
    with open_warehouse(db, read_only=True) as con:
        stored = con.execute("SELECT target, count(*) AS n, sum(significant::INT) AS k FROM table_associations "
                             "GROUP BY target").df().set_index("target")
    assert len(every) == stored["n"].sum() == 90   # 30 features x til, TMB, CYT
    for target, row in stored.iterrows():
        counts = f"{int(row['n'])} features, {int(row['k'])} significant"
        assert f"note: {target}: {counts} (P < 0.05 and FDR q < 0.2)" in out
    assert "shown: the 10 smallest P per target of 90 rows; all of them: --csv FILE, or radpath sql" in out
    printed = [line for line in out.splitlines() if "NOISE_" in line or "SIGNAL_" in line]
    assert len(printed) == 30   # ten per target, not ninety
    assert f"wrote all 90 rows of associations to {tmp_path / 'assoc.csv'}" in out

    out = _run("fit-signature", "--cohort", "tcga_brca", "--folds", "5", "--repeats", "1", "--min-frequency",
               "0.5", "--db", str(db))
    out = _run("apply", "--model", "signature", "--cohort", "ispy1", "--db", str(db), "--csv",
               str(tmp_path / "pred.csv"))
    predictions = pd.read_csv(tmp_path / "pred.csv")
    assert len(predictions) > 40 and set(predictions.columns) >= {"patient_id", "predicted", "til_group"}
    assert f"shown: the first 10 of {len(predictions)} patients" in out
    assert sum(pid in out for pid in predictions["patient_id"]) == 10
