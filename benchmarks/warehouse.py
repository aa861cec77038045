"""Warehouse benchmark: ingest and query a synthetic cohort of 100,000 patients x 120 features.

Prints timings and rows/s for: ingest of the cohort's clinical tables (GDC layout), the bulk feature
write (one transaction, 12 M rows), and typical queries through the public views; and, as the
baseline measured in the same run, a row-by-row `executemany` insert of the same feature rows
(extrapolated from a sample) and the same queries on the raw table instead of the `features` view.

    .venv/bin/python benchmarks/warehouse.py [--patients 100000] [--features 120]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from radpath.ingest import ingest_manifest
from radpath.synth.study import generate_study
from radpath.warehouse import open_warehouse, start_run, transaction, write_features


def timed(label: str, fn, rows: int | None = None):
    start = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - start
    rate = f"  {rows / seconds:,.0f} rows/s" if rows else ""
    print(f"{label:<58} {seconds:8.2f} s{rate}")
    return value, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=120)
    parser.add_argument("--sample", type=int, default=20_000, help="rows for the executemany baseline")
    args = parser.parse_args()
    n, k = args.patients, args.features
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        study, _ = timed(
            f"synthesise tables for {n:,} + {n // 10:,} patients",
            lambda: generate_study(out / "study", seed=1, n_train=n, n_valid=n // 10, modalities=["tables"]),
        )
        db = out / "w.duckdb"
        with open_warehouse(db) as con:
            _, t_ingest = timed(f"ingest training cohort ({int(n * 1.15):,} patients, 3 tables)",
                                lambda: ingest_manifest(con, study.manifests["tcga_brca"]), int(n * 1.15))
            patients = [
                r[0] for r in con.execute("SELECT patient_id FROM patients WHERE cohort = 'tcga_brca'").fetchall()
            ]
            rng = np.random.default_rng(0)
            codes = [f"F{j:03d}" for j in range(k)]
            frame = pd.DataFrame({
                "patient_id": np.repeat(patients, k),
                "code": np.tile(codes, len(patients)),
                "value": rng.standard_normal(len(patients) * k),
            })
            rows = len(frame)

            def bulk() -> None:
                with transaction(con):
                    run = start_run(con, "benchmark", {"k": k})
                    write_features(con, run, "tcga_brca", "mri", frame)

            _, t_bulk = timed(f"write_features, {rows:,} rows, one transaction", bulk, rows)
            _, t_rewrite = timed("re-write the same rows (replace, no duplicates)", bulk, rows)
            assert con.execute("SELECT count(*) FROM feature_values").fetchone()[0] == rows

            sample = frame.head(args.sample)
            run_id = con.execute("SELECT run_id FROM runs WHERE command = 'benchmark' LIMIT 1").fetchone()[0]

            def row_by_row() -> None:
                con.executemany(
                    "INSERT INTO feature_values VALUES ('bench', ?, 'mri', ?, ?, 'x', ?, true)",
                    [(p, c, float(v), run_id) for p, c, v in sample.itertuples(index=False)],
                )

            _, t_rows = timed(f"baseline: executemany insert of {len(sample):,} rows", row_by_row, len(sample))
            con.execute("DELETE FROM feature_values WHERE cohort = 'bench'")

            queries = {
                "one feature, all patients": (
                    "SELECT patient_id, value FROM features WHERE code = 'F007'",
                    "SELECT patient_id, value FROM feature_values WHERE code = 'F007'"),
                "wide matrix (PIVOT) of included patients": (
                    "PIVOT (SELECT f.patient_id, f.code, f.value FROM features f JOIN patients p "
                    "USING (cohort, patient_id) WHERE p.included) ON code USING first(value)",
                    "PIVOT (SELECT f.patient_id, f.code, f.value FROM feature_values f JOIN patient_registry p "
                    "USING (cohort, patient_id) WHERE p.included) ON code USING first(value)"),
                "mean of every feature by TIL category": (
                    "SELECT t.til_category, f.code, avg(f.value) FROM features f JOIN til t USING (cohort, patient_id) "
                    "GROUP BY ALL",
                    "SELECT t.til_category, f.code, avg(f.value) FROM feature_values f JOIN til t "
                    "USING (cohort, patient_id) GROUP BY ALL"),
            }
            ratios = []
            for label, (view_sql, raw_sql) in queries.items():
                _, t_view = timed(f"query via views: {label}", lambda q=view_sql: con.execute(q).fetchall())
                _, t_raw = timed(f"baseline, raw table: {label}", lambda q=raw_sql: con.execute(q).fetchall())
                ratios.append((label, t_view / t_raw))
        size = db.stat().st_size / 2**20
    print()
    print(f"warehouse file: {size:,.0f} MiB for {rows:,} feature rows")
    print(f"bulk write vs executemany baseline: {(rows / t_bulk) / (len(sample) / t_rows):,.0f}x the rows/s")
    print(f"re-write (replace) vs first write: {t_rewrite / t_bulk:.2f}x the time")
    for label, ratio in ratios:
        print(f"features view vs raw table, {label}: {ratio:.2f}x the time")
    print(f"ingest: {int(n * 1.15) / t_ingest:,.0f} patients/s")


if __name__ == "__main__":
    main()
