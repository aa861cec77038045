"""Survival validation of a frozen TIL model on an independent cohort (paper Figs. 7-8).

`validate_survival(con, options)` reads the model's predictions on the cohort (`model_predictions`),
assigns TIL groups with the thresholds the model learned on the training cohort (never re-tuned),
joins the endpoint (`outcomes`) and receptor subtype (`clinical`), and for the whole cohort and each
subtype computes Kaplan–Meier curves and medians, log-rank tests, Cox hazard ratios (predicted TIL
continuous and by group) with the Schoenfeld check, Harrell's C with a seeded bootstrap CI, and
Mann–Whitney tests of predicted TIL by recurrence and between subtypes. `analyse(frame, options)`
is the same analysis on a data frame, without the warehouse. Results are written to the tables of
`sql/0006_survival.sql`, replacing the previous rows of the same (cohort, model, version, endpoint,
grouping).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import StatsError
from radpath.numbers import p_text
from radpath.paths import output_dir
from radpath.stats import survival as sv
from radpath.warehouse import finish_run, replace_rows, start_run, transaction
from radpath.warehouse.cohorts import require_cohort

LEVELS = ("low", "intermediate", "high")
SUBTYPE_ORDER = ("TNBC", "HR+/HER2-", "HER2+")
MERGES = ("high+intermediate", "low+intermediate")
THRESHOLD_KEYS = ("low_vs_intermediate", "intermediate_vs_high")


@dataclass(frozen=True)
class ValidationOptions:
    cohort: str
    model: str
    version: int | None = None          # None: the newest version of the model
    endpoint: str = "rfs"
    groups: int = 2                      # 3: low / intermediate / high; 2: two levels merged (see merge)
    merge: str = "high+intermediate"     # with groups = 2: which two levels form one group
    by: str | None = "subtype"           # None: the whole cohort only
    n_boot: int = 200
    seed: int = 0
    min_events: int = sv.MIN_EVENTS
    figures: Path | None = None          # folder for KM plots (PNG + SVG); None: no figures

    def grouping(self) -> str:
        if self.groups == 3:
            return "|".join(LEVELS)
        return "low|high+intermediate" if self.merge == "high+intermediate" else "low+intermediate|high"

    def group_order(self) -> list[str]:
        return self.grouping().split("|")


@dataclass
class Analysis:
    """Everything one run produces (frames with the columns of the 0006 tables, without the key columns)."""

    results: pd.DataFrame
    km: pd.DataFrame
    at_risk: pd.DataFrame
    boxplot: pd.DataFrame
    groups: pd.DataFrame
    km_results: dict[str, sv.KMResult] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ groups
def check_options(options: ValidationOptions) -> None:
    if options.groups not in (2, 3):
        raise StatsError(f"--groups must be 2 or 3; got {options.groups}")
    if options.groups == 2 and options.merge not in MERGES:
        raise StatsError(f"--merge must be one of {list(MERGES)} (adjacent TIL groups); got {options.merge!r}")
    if options.by not in (None, "subtype"):
        raise StatsError(f"--by must be 'subtype' (receptor subgroups) or omitted; got {options.by!r}")


def assign_groups(predicted: np.ndarray, thresholds: dict[str, float], groups: int = 3,
                  merge: str = "high+intermediate") -> np.ndarray:
    """low if pred <= t[low_vs_intermediate], high if pred > t[intermediate_vs_high], else intermediate;
    then merge two adjacent levels when `groups` is 2."""
    t_low, t_high = (float(thresholds[k]) for k in THRESHOLD_KEYS)
    if t_low > t_high:
        raise StatsError(f"model thresholds out of order: low_vs_intermediate {t_low:g} > "
                         f"intermediate_vs_high {t_high:g}")
    p = np.asarray(predicted, dtype=float)
    labels = np.where(p <= t_low, "low", np.where(p > t_high, "high", "intermediate")).astype(object)
    if groups == 2:
        a, b = merge.split("+")
        labels[np.isin(labels, [a, b])] = merge
    return labels


# ------------------------------------------------------------------------------------------ warehouse reads
def load_model(con: duckdb.DuckDBPyConnection, name: str, version: int | None) -> tuple[int, dict[str, float]]:
    if version is None:
        row = con.execute("SELECT max(version) FROM models WHERE name = ?", [name]).fetchone()
        if row is None or row[0] is None:
            known = [r[0] for r in con.execute("SELECT DISTINCT name FROM models ORDER BY 1").fetchall()]
            raise StatsError(f"no model named {name!r} in the warehouse (models: {known or 'none'}); "
                             "fit one with `radpath fit-composite` / `fit-signature` first")
        version = int(row[0])
    found = con.execute("SELECT artifact FROM models WHERE name = ? AND version = ?", [name, version]).fetchone()
    if found is None:
        raise StatsError(f"model {name!r} has no version {version}")
    artifact = json.loads(found[0])
    thresholds = artifact.get("thresholds") or {}
    missing = [k for k in THRESHOLD_KEYS if thresholds.get(k) is None]
    if missing:
        raise StatsError(f"model {name!r} v{version} has no training-cohort thresholds {missing}; "
                         "run `radpath evaluate` on the training cohort first")
    return version, {k: float(v) for k, v in thresholds.items() if v is not None}


def load_cohort(con: duckdb.DuckDBPyConnection, cohort: str, model: str, version: int,
                endpoint: str) -> pd.DataFrame:
    """patient_id, predicted, subtype, time_days, event (NaN where the endpoint is missing)."""
    frame = con.execute(
        """
        WITH pred AS (
            SELECT patient_id, predicted FROM model_predictions
            WHERE model = ? AND version = ? AND cohort = ?
            QUALIFY row_number() OVER (PARTITION BY patient_id ORDER BY run_id DESC) = 1)
        SELECT p.patient_id, p.predicted, c.subtype, o.time_days, o.event
        FROM pred p
        LEFT JOIN clinical c ON c.cohort = ? AND c.patient_id = p.patient_id
        LEFT JOIN outcomes o ON o.cohort = ? AND o.patient_id = p.patient_id AND o.endpoint = ?
        ORDER BY p.patient_id
        """,
        [model, version, cohort, cohort, cohort, endpoint],
    ).df()
    if frame.empty:
        raise StatsError(f"no predictions of model {model!r} v{version} on cohort {cohort!r}; "
                         f"run `radpath apply --model {model} --cohort {cohort}` first")
    endpoints = [r[0] for r in con.execute(
        "SELECT DISTINCT endpoint FROM outcomes WHERE cohort = ? ORDER BY 1", [cohort]).fetchall()]
    if not endpoints:
        raise StatsError(f"cohort {cohort!r} has no outcomes in the warehouse: survival needs a manifest with an "
                         "outcomes section (time and event per patient), ingested")
    if endpoint not in endpoints:
        raise StatsError(f"cohort {cohort!r} has no endpoint {endpoint!r}; its endpoints: {', '.join(endpoints)} "
                         "(--endpoint)")
    if frame["time_days"].notna().sum() == 0:
        raise StatsError(f"none of the {len(frame)} patients of {cohort!r} predicted by {model!r} v{version} has a "
                         f"{endpoint!r} outcome")
    return frame


# ------------------------------------------------------------------------------------------ analysis
def _row(subgroup: str, statistic: str, term: str = "", *, estimate: float = math.nan, ci: tuple[float, float] = (
        math.nan, math.nan), df: float = math.nan, p: float = math.nan, n: int | None = None,
         n_events: int | None = None, estimable: bool = True, note: str = "") -> dict[str, Any]:
    return {"subgroup": subgroup, "statistic": statistic, "term": term,
            "estimate": None if not estimable else estimate, "ci_lower": ci[0], "ci_upper": ci[1], "df": df,
            "p_value": p if estimable else math.nan, "n": n, "n_events": n_events, "estimable": estimable,
            "note": note}


def _subgroups(frame: pd.DataFrame, by: str | None) -> list[tuple[str, pd.DataFrame]]:
    out = [("all", frame)]
    if by == "subtype":
        present = [s for s in SUBTYPE_ORDER if (frame["subtype"] == s).any()]
        present += sorted(set(frame["subtype"].dropna()) - set(SUBTYPE_ORDER))
        out += [(s, frame[frame["subtype"] == s]) for s in present]
    return out


def analyse(frame: pd.DataFrame, thresholds: dict[str, float], options: ValidationOptions) -> Analysis:
    """The whole validation on `frame` (patient_id, predicted, subtype, time_days, event)."""
    check_options(options)
    data = frame.copy()
    missing_pred = data["predicted"].isna()
    missing_end = ~missing_pred & (data["time_days"].isna() | data["event"].isna())
    # negative times and bad event codes: an error naming the patient (before anything is computed)
    sv.clean(data["time_days"], data["event"], ids=data["patient_id"])
    data["til_group"] = None
    ok = ~missing_pred
    data.loc[ok, "til_group"] = assign_groups(data.loc[ok, "predicted"].to_numpy(), thresholds, options.groups,
                                              options.merge)
    data["_missing_pred"], data["_missing_end"] = missing_pred, missing_end
    order = options.group_order()
    rows: list[dict[str, Any]] = []
    km_parts, risk_parts, box_parts = [], [], []
    analysis = Analysis(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    for name, part in _subgroups(data, options.by):
        rows.append(_row(name, "n_excluded_missing_endpoint", estimate=float(part["_missing_end"].sum())))
        rows.append(_row(name, "n_excluded_missing_prediction", estimate=float(part["_missing_pred"].sum())))
        part = part[~part["_missing_pred"] & ~part["_missing_end"]]
        n, d = len(part), int(part["event"].sum())
        rows.append(_row(name, "n_patients", estimate=float(n), n=n, n_events=d))
        t, e, g, ids = part["time_days"], part["event"], part["til_group"], part["patient_id"]
        pred = part["predicted"].to_numpy(dtype=float)

        fit = sv.km(t, e, g, ids)
        analysis.km_results[name] = fit
        for m in fit.medians.itertuples(index=False):
            rows.append(_row(name, "km_median", str(m.group), estimate=m.median, ci=(m.median_lower, m.median_upper),
                             n=m.n, n_events=m.n_events,
                             note="" if not math.isnan(m.median) else "median not reached"))
        km_parts.append(fit.table.assign(subgroup=name))
        from radpath.stats.survival_plot import default_ticks

        ticks = default_ticks(float(t.max()) if n else 0.0)
        risk = fit.at_risk(ticks).stack().rename("n_at_risk").reset_index()
        risk.columns = ["til_group", "time_days", "n_at_risk"]
        risk_parts.append(risk.assign(subgroup=name))

        tests: list[tuple[str, str | None]] = [(" vs ".join(order), None)]
        if options.groups == 3:  # the k-group test and the paper's two-group contrast
            tests = [("k groups", None), ("low vs high+intermediate", "high+intermediate")]
        annotation = []
        for term, merged in tests:
            labels = g.to_numpy(dtype=object).copy()
            if merged:
                labels[np.isin(labels, ["high", "intermediate"])] = merged
            lr = sv.logrank(t, e, labels, ids, min_events=options.min_events)
            rows.append(_row(name, "logrank", term, estimate=lr.statistic, df=lr.df, p=lr.p, n=lr.n,
                             n_events=lr.n_events, estimable=lr.estimable, note=lr.note))
            annotation.append(f"log-rank {p_text(lr.p)}" if lr.estimable else lr.note)
        analysis.annotations[name] = "; ".join(annotation[:1])

        cox_frame = pd.DataFrame({"time": t.to_numpy(), "event": e.to_numpy(), "predicted": pred,
                                  "patient_id": ids.to_numpy()})
        reference = order[-1]
        dummies = []
        for level in order[:-1]:
            column = f"{level} vs {reference}"
            cox_frame[column] = (g.to_numpy() == level).astype(float)
            if cox_frame[column].sum() > 0:
                dummies.append(column)
        for covariates in (["predicted"], dummies):
            if not covariates:
                rows.append(_row(name, "cox_hr", f"{order[0]} vs {reference}", n=n, n_events=d, estimable=False,
                                 note="not estimable (one TIL group)"))
                continue
            res = sv.cox(cox_frame, "time", "event", covariates, id_col="patient_id", min_events=options.min_events)
            for c in covariates:
                r = res.row(c)
                rows.append(_row(name, "cox_hr", c, estimate=r["hr"], ci=(r["hr_lower"], r["hr_upper"]), p=r["p"],
                                 n=res.n, n_events=res.n_events, estimable=res.estimable, note=res.note))
                rows.append(_row(name, "schoenfeld", c, estimate=r["ph_statistic"], df=1.0, p=r["ph_p"], n=res.n,
                                 n_events=res.n_events, estimable=res.estimable, note=res.note))

        c_idx = sv.concordance(t, e, pred, ids, n_boot=options.n_boot, seed=options.seed,
                               min_events=options.min_events)
        rows.append(_row(name, "c_index", "predicted", estimate=c_idx.c, ci=(c_idx.ci_lower, c_idx.ci_upper), n=c_idx.n,
                         n_events=c_idx.n_events, estimable=c_idx.estimable, note=c_idx.note))

        mw = sv.mann_whitney(pred[e.to_numpy() == 0], pred[e.to_numpy() == 1], "no recurrence", "recurrence")
        rows.append(_row(name, "mann_whitney_recurrence", "no recurrence vs recurrence", estimate=mw.u, p=mw.p, n=n,
                         n_events=d, estimable=mw.estimable, note=mw.note))
        for box in (mw.box_a, mw.box_b):
            box_parts.append(_box_row(name, "recurrence", box))

    all_ok = data[~data["_missing_pred"]]
    subtypes = [s for s in SUBTYPE_ORDER if (all_ok["subtype"] == s).any()]
    for s in subtypes:
        box_parts.append(_box_row("all", "subtype", sv.box_stats(all_ok.loc[all_ok["subtype"] == s, "predicted"], s)))
    for a, b in (("TNBC", "HR+/HER2-"), ("TNBC", "HER2+"), ("HER2+", "HR+/HER2-")):
        if a in subtypes and b in subtypes:
            mw = sv.mann_whitney(all_ok.loc[all_ok["subtype"] == a, "predicted"],
                                 all_ok.loc[all_ok["subtype"] == b, "predicted"], a, b)
            rows.append(_row("all", "mann_whitney_subtype", f"{a} vs {b}", estimate=mw.u, p=mw.p, n=mw.n_a + mw.n_b,
                             estimable=mw.estimable, note=mw.note))
    if len(subtypes) >= 2:
        from scipy.stats import kruskal

        h = kruskal(*[all_ok.loc[all_ok["subtype"] == s, "predicted"] for s in subtypes])
        rows.append(_row("all", "kruskal_subtype", "subtypes", estimate=float(h.statistic), df=len(subtypes) - 1,
                         p=float(h.pvalue), n=int(all_ok["subtype"].isin(subtypes).sum())))

    results = pd.DataFrame(rows)
    for column in ("n", "n_events"):
        results[column] = pd.array([None if v is None or pd.isna(v) else int(v) for v in results[column]],
                                   dtype="Int64")
    results["estimate"] = results["estimate"].astype(float)
    analysis.results = results
    km_all = pd.concat(km_parts, ignore_index=True)
    analysis.km = km_all.rename(columns={"group": "til_group", "time": "time_days"})[
        ["subgroup", "til_group", "time_days", "n_at_risk", "n_events", "n_censored", "survival", "ci_lower",
         "ci_upper"]]
    analysis.at_risk = pd.concat(risk_parts, ignore_index=True)[["subgroup", "til_group", "time_days", "n_at_risk"]]
    analysis.boxplot = pd.DataFrame(box_parts)
    kept = data[~data["_missing_pred"] & ~data["_missing_end"]]
    analysis.groups = kept[["patient_id", "subtype", "predicted", "til_group", "time_days", "event"]].copy()
    return analysis


def _box_row(subgroup: str, split: str, box: sv.BoxStats) -> dict[str, Any]:
    return {"subgroup": subgroup, "split": split, "level": box.group, "n": box.n, "minimum": box.minimum,
            "q1": box.q1, "median": box.median, "q3": box.q3, "maximum": box.maximum,
            "whisker_low": box.whisker_low, "whisker_high": box.whisker_high}


# ------------------------------------------------------------------------------------------ the command
@dataclass(frozen=True)
class ValidationReport:
    run_id: str
    version: int
    analysis: Analysis
    figures: list[Path]


TABLES = ("survival_results", "survival_km", "survival_at_risk", "survival_boxplot", "survival_groups",
          "survival_figures")


def validate_survival(con: duckdb.DuckDBPyConnection, options: ValidationOptions) -> ValidationReport:
    """Run the validation, write every result table in one transaction, draw the KM figures."""
    check_options(options)
    require_cohort(con, options.cohort)
    version, thresholds = load_model(con, options.model, options.version)
    frame = load_cohort(con, options.cohort, options.model, version, options.endpoint)
    params = {**{k: (str(v) if isinstance(v, Path) else v) for k, v in options.__dict__.items()}, "version": version,
              "thresholds": thresholds}
    if options.figures is not None:  # a folder that cannot be made fails before a run is recorded
        output_dir(options.figures, "--figures")
    run = start_run(con, "validate-survival", params)
    try:
        analysis = analyse(frame, thresholds, options)
        figures = _draw(analysis, options, version) if options.figures is not None else []
        key = {"cohort": options.cohort, "model": options.model, "version": version, "endpoint": options.endpoint,
               "grouping": options.grouping()}
        figure_rows = pd.DataFrame({"subgroup": [p.stem.rsplit("__", 1)[-1] for p in figures],
                                    "format": [p.suffix.lstrip(".") for p in figures],
                                    "path": [str(p.resolve()) for p in figures]})
        if figures:
            names = {_slug(s): s for s in analysis.km_results}
            figure_rows["subgroup"] = figure_rows["subgroup"].map(names)
        frames = dict(zip(TABLES, (analysis.results, analysis.km, analysis.at_risk, analysis.boxplot,
                                   analysis.groups, figure_rows), strict=True))
        with transaction(con):
            for table, part in frames.items():
                out = part.copy()
                for column, value in reversed(list(key.items())):
                    out.insert(0, column, value)
                out["run_id"] = run.run_id
                replace_rows(con, table, out, key)
    except BaseException:
        finish_run(con, run, "failed")
        raise
    finish_run(con, run, "ok")
    return ValidationReport(run.run_id, version, analysis, figures)


def _slug(subgroup: str) -> str:
    return subgroup.replace("/", "_").replace("+", "pos").replace("-", "neg")


def _draw(analysis: Analysis, options: ValidationOptions, version: int) -> list[Path]:
    from radpath.stats.survival_plot import plot_km

    assert options.figures is not None
    paths: list[Path] = []
    for name, fit in analysis.km_results.items():
        stem = options.figures / (f"km_{options.cohort}_{options.model}_v{version}_{options.endpoint}_"
                                  f"{options.groups}g__{_slug(name)}")
        title = f"{options.model} v{version} on {options.cohort}: {options.endpoint.upper()}, {name}"
        paths += plot_km(fit, stem, title=title, order=options.group_order(),
                         annotation=analysis.annotations.get(name, ""))
    return paths
