"""The manuscript tables, built from the warehouse's SQL views (`sql/views/`).

`TABLES` is the explicit registry: each entry names the view it reads (so `radpath sql` reaches the
same data) and a builder that turns the view into the printed table. Table 2 adds to its view's counts
the row percentages, Fisher's exact P (exact for 2 x 2; for larger tables a seeded Monte Carlo
estimate with 100,000 tables, as R's `fisher.test(simulate.p.value = TRUE)`) and Kruskal-Wallis P
for ordinal attributes (and age).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from radpath import numbers
from radpath.errors import ReportError
from radpath.report import layout
from radpath.report.formats import Table

CATEGORIES = ("low", "intermediate", "high")
ORDINAL = {
    "t_stage": ["T0", "Tis", "T1", "T2", "T3", "T4"],
    "n_stage": ["N0", "N1", "N2", "N3"],
    "m_stage": ["M0", "M1"],
    "stage": ["0", "I", "II", "III", "IV"],
}
NOMINAL = {
    "histology": ["IDC", "ILC", "other"],
    "er": ["positive", "negative", "equivocal", "indeterminate"],
    "pr": ["positive", "negative", "equivocal", "indeterminate"],
    "her2": ["positive", "negative", "equivocal", "indeterminate"],
    "subtype": ["HR+/HER2-", "HER2+", "TNBC"],
    "pam50": ["LumA", "LumB", "Her2", "Basal", "Normal"],
}
LABELS = {"t_stage": "T stage", "n_stage": "N stage", "m_stage": "M stage", "stage": "Stage", "histology": "Histology",
          "er": "ER", "pr": "PR", "her2": "HER2", "subtype": "IHC subtype", "pam50": "PAM50"}
MONTE_CARLO_TABLES = 100_000


def fisher_p(table: np.ndarray, seed: int = 20260101) -> float:
    """Fisher's exact test of independence: exact for 2 x 2, seeded Monte Carlo for larger tables.

    Rows or columns without patients are dropped first; fewer than two of either gives NaN.
    """
    table = np.asarray(table, dtype=int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return float("nan")
    if table.shape == (2, 2):
        return float(stats.fisher_exact(table).pvalue)
    method = stats.MonteCarloMethod(n_resamples=MONTE_CARLO_TABLES, rng=np.random.default_rng(seed))
    # scipy returns a one-element array (not a scalar) for some small r x c tables
    return float(np.ravel(stats.fisher_exact(table, method=method).pvalue)[0])


def kruskal_p(groups: list[np.ndarray]) -> float:
    """Kruskal-Wallis P across the TIL categories (NaN when fewer than two non-empty groups or no spread)."""
    groups = [g for g in groups if len(g)]
    if len(groups) < 2 or len(np.unique(np.concatenate(groups))) < 2:
        return float("nan")
    return float(stats.kruskal(*groups).pvalue)


def default_cohort(con: duckdb.DuckDBPyConnection) -> str:
    """The one documented default of `--cohort` for tables, figures and the report: the cohort whose manifest
    role is `training`. None or several such cohorts is an error that asks for `--cohort`."""
    rows = con.execute("SELECT cohort, role FROM cohorts ORDER BY cohort").fetchall()
    if not rows:
        raise ReportError("the warehouse holds no cohort: run `radpath ingest` first")
    training = [cohort for cohort, role in rows if role == "training"]
    if len(training) == 1:
        return str(training[0])
    known = ", ".join(f"{cohort} ({role})" for cohort, role in rows)
    if not training:
        raise ReportError(f"no cohort has role training; choose one with --cohort (cohorts: {known})")
    raise ReportError(f"several training cohorts ({', '.join(training)}); choose one with --cohort")


def report_cohort(con: duckdb.DuckDBPyConnection, cohort: str | None) -> str:
    """The cohort a report describes: the one given (checked to exist), else `default_cohort`."""
    from radpath.warehouse.cohorts import require_cohort

    return require_cohort(con, cohort) if cohort else default_cohort(con)


# Kept for callers written before `report_cohort`: the default cohort.
_training_cohort = default_cohort


def table2(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> pd.DataFrame:
    """Cohort characteristics by TIL category (paper Table 2), from view `table2_patients`."""
    cohort = report_cohort(con, cohort)
    frame = con.execute("SELECT * FROM table2_patients WHERE cohort = ?", [cohort]).df()
    if frame.empty:
        raise ReportError(f"cohort {cohort}: no included patient has a TIL reading (view table2_patients is empty)")
    counts = frame["til_category"].value_counts()
    header = {c: f"{c} (n={int(counts.get(c, 0))})" for c in CATEGORIES}
    total = f"all (n={len(frame)})"
    rows: list[dict[str, object]] = []

    age = {c: frame.loc[frame["til_category"] == c, "age"].dropna().to_numpy() for c in CATEGORIES}
    every = frame["age"].dropna().to_numpy()

    def median_range(x: np.ndarray) -> str:
        return f"{np.median(x):.0f} ({numbers.interval(x.min(), x.max(), 0)})" if len(x) else ""

    def mean_sd(x: np.ndarray) -> str:
        return f"{numbers.number(x.mean(), 1)} ± {numbers.number(x.std(ddof=1), 1)}" if len(x) > 1 else ""

    p_age = kruskal_p(list(age.values()))
    rows.append({"characteristic": "Age, years", "level": "median (range)",
                 **{header[c]: median_range(age[c]) for c in CATEGORIES}, total: median_range(every),
                 "p_fisher": np.nan, "p_kruskal": p_age})
    rows.append({"characteristic": "Age, years", "level": "mean ± SD",
                 **{header[c]: mean_sd(age[c]) for c in CATEGORIES}, total: mean_sd(every),
                 "p_fisher": np.nan, "p_kruskal": np.nan})
    for attribute, order in {**ORDINAL, **NOMINAL}.items():
        values = frame[attribute].fillna("unknown")
        levels = [v for v in order if (values == v).any()] + sorted(set(values) - set(order) - {"unknown"})
        if (values == "unknown").any():
            levels.append("unknown")
        known = [v for v in levels if v != "unknown"]
        table = np.array([[int(((values == v) & (frame["til_category"] == c)).sum()) for c in CATEGORIES]
                          for v in known]).reshape(len(known), len(CATEGORIES))
        p_fisher = fisher_p(table)
        p_kruskal = np.nan
        if attribute in ORDINAL:
            rank = {v: i for i, v in enumerate(order)}
            p_kruskal = kruskal_p([values[(frame["til_category"] == c) & values.isin(rank)].map(rank).to_numpy()
                                   for c in CATEGORIES])
        for k, level in enumerate(levels):
            in_level = values == level
            n_level = int(in_level.sum())
            row: dict[str, object] = {"characteristic": LABELS[attribute], "level": numbers.receptor(level)}
            for c in CATEGORIES:
                n = int((in_level & (frame["til_category"] == c)).sum())
                row[header[c]] = f"{n} ({100 * n / n_level:.0f}%)"
            row[total] = str(n_level)
            row["p_fisher"] = p_fisher if k == 0 else np.nan
            row["p_kruskal"] = p_kruskal if k == 0 else np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _mask_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One footnote per cohort with MRI cases: how many tumour masks were drawn and how many automatic."""
    rows = con.execute("SELECT cohort, coalesce(mask_source, 'given') AS source, count(*) FROM mri_cases "
                       "GROUP BY ALL ORDER BY 1, 2").fetchall()
    counts: dict[str, dict[str, int]] = {}
    for cohort, source, n in rows:
        counts.setdefault(cohort, {})[source] = int(n)
    notes = []
    for cohort, by in counts.items():
        auto = {k: v for k, v in by.items() if k != "given"}
        detail = f" ({', '.join(f'{k}: {v}' for k, v in auto.items())})" if auto else ""
        notes.append(f"MRI tumour masks, cohort {cohort}: {by.get('given', 0)} given, {sum(auto.values())} "
                     f"automatic{detail}.")
    return notes


def _slide_qc_notes(con: duckdb.DuckDBPyConnection) -> list[str]:
    """One footnote per cohort with flagged slides (radpath.pathology.qc): how many patients, by flag."""
    rows = con.execute("SELECT cohort, code, n_patients FROM slide_qc_summary ORDER BY 1, 2").fetchall()
    totals = dict(con.execute("SELECT cohort, count(DISTINCT patient_id) FROM slide_qc GROUP BY 1").fetchall())
    by: dict[str, list[str]] = {}
    for cohort, code, n in rows:
        by.setdefault(cohort, []).append(f"{code} {n}")
    return [f"Slide QC, cohort {cohort}: {totals[cohort]} patients' slides flagged ({', '.join(codes)}); their "
            "features are kept and included (reasons: radpath sql \"SELECT * FROM slide_qc\")."
            for cohort, codes in by.items()]


def _table1(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    frame = con.execute("SELECT modality, family, code, name, formula, unit FROM table1_features").df()
    frame.columns = ["Modality", "Family", "Code", "Feature", "Formula", "Unit"]
    notes = ["Formulas as computed by radpath (the feature registry's docstrings)."] if len(frame) else []
    return Table("table1_features", "Table 1. Feature definitions", frame,
                 notes + _mask_notes(con) + _slide_qc_notes(con))


def _table2(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    cohort = cohort or _training_cohort(con)
    frame = table2(con, cohort).rename(columns={"characteristic": "Characteristic", "level": "Level",
                                                "p_fisher": "P (Fisher)", "p_kruskal": "P (Kruskal–Wallis)"})
    for column in ("P (Fisher)", "P (Kruskal–Wallis)"):
        frame[column] = [numbers.p_value(v) if pd.notna(v) else "" for v in frame[column]]
    notes = ["n (row %): of the patients with the level, the number and share in each TIL category, as the "
             "paper's Table 2 prints them (each row's three categories add up to 100%; the all column gives the "
             "level's n). P (Fisher): Fisher's exact test of the attribute against the TIL "
             f"category (exact for 2 × 2, Monte Carlo with {MONTE_CARLO_TABLES:,} tables otherwise); P "
             "(Kruskal–Wallis) for ordinal attributes and age. Unknown levels are not tested.",
             "TIL categories: low ≤ 10%, intermediate > 10% to 40%, high > 40% stromal TILs."]
    return Table("table2_characteristics",
                 f"Table 2. Patient characteristics by stromal TIL category ({cohort}), n (row %)", frame, notes)


def _associations(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    view = con.execute("SELECT * FROM table_associations" + (" WHERE cohort = ?" if cohort else ""),
                       [cohort] if cohort else []).df()
    frame = pd.DataFrame({
        "Cohort": view["cohort"], "Target": view["target"], "Code": view["code"],
        "Feature": view["name"].fillna(""), "n": view["n"].astype("Int64").astype(str),
        "r (95% CI)": [numbers.estimate_ci(r, lo, hi) for r, lo, hi in zip(view["r"], view["ci_low"],
                                                                           view["ci_high"], strict=True)],
        "P": [numbers.p_value(p) for p in view["p_value"]], "FDR q": [numbers.p_value(q) for q in view["fdr"]],
        "Significant": ["yes" if bool(x) else "" for x in view["significant"]]})
    notes = ["r: Pearson correlation, Fisher z 95% CI, two-sided t test P; FDR: Benjamini–Hochberg q over the "
             "features of each modality and target; significant: P and q below the run's thresholds."]
    return Table("table_associations", "Univariate associations of features with TIL, TMB and CYT", frame,
                 notes + _slide_qc_notes(con))


@dataclass(frozen=True)
class ManuscriptTable:
    name: str
    title: str
    view: str      # the long-form view behind the table (what `radpath sql` reaches)
    build: Callable[[duckdb.DuckDBPyConnection, str | None], Table]
    per_cohort: bool = False   # `--cohort` filters it (Table 2 describes one cohort, the training one by default)


TABLES: tuple[ManuscriptTable, ...] = (
    ManuscriptTable("table1_features", "Table 1. Feature definitions", "table1_features", _table1),
    ManuscriptTable("table2_characteristics", "Table 2. Patient characteristics by stromal TIL category",
                    "table2_patients", _table2, per_cohort=True),
    ManuscriptTable("table_associations", "Univariate associations of features with TIL, TMB and CYT",
                    "table_associations", _associations),
    ManuscriptTable("table3_classification", "Table 3. Classification of TIL categories by predicted TIL",
                    "table3_classification", layout.table3, per_cohort=True),
    ManuscriptTable("table4_multivariable", "Table 4. Univariate and multivariable analysis of TIL",
                    "table4_multivariable", layout.table4),
    ManuscriptTable("table_model_comparison", "Model comparison", "model_correlation", layout.model_comparison,
                    per_cohort=True),
    ManuscriptTable("table_survival", "Survival by predicted TIL group", "table_survival", layout.survival_table),
)


def build_tables(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> dict[str, Table]:
    """Every registered table, in order (a table whose analysis has not been run comes out empty, with a
    footnote naming the command that writes it)."""
    return {t.name: t.build(con, cohort if t.per_cohort else None) for t in TABLES}
