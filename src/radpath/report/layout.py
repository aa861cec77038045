"""Tables 3 and 4, the survival table and the model comparison in the paper's layout.

Each builder reads the long-form views (`table3_classification`, `table4_multivariable`, `table_survival`) and
the stored evaluation (`latest_evaluation_predictions`, `latest_analysis_flow`), and returns a `Table` of
formatted cells (`radpath.numbers`) with its caption and footnotes. Table 3 and the model comparison show one
evaluation: the newest `evaluate` run, whose metrics were computed from the predictions it stored, so every
number refers to the same patients, and the footnote counts those left out at each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from radpath import numbers as fmt
from radpath.report.formats import Table
from radpath.stats.flow import flow_footnote, read_flow

PAIRS = {"low_vs_intermediate": "Low vs intermediate", "low_vs_high": "Low vs high",
         "intermediate_vs_high": "Intermediate vs high"}
CATEGORY_NOTE = ("TIL categories from the pathologists' stromal TIL reading: low ≤ 10%, intermediate > 10% to 40%, "
                 "high > 40%.")
TERM_LABELS = {"CYT": "Cytolytic activity (CYT)", "TMB": "Tumour mutation burden (TMB)", "stage": "Stage",
               "er": "ER positive", "pr": "PR positive", "her2": "HER2 positive", "tnbc": "Triple negative"}


@dataclass(frozen=True)
class Evaluation:
    """The newest stored evaluation: its run, cohort, primary model and models (name -> version) in order."""

    run_id: str
    cohort: str
    name: str
    models: dict[str, int]
    n: int


def latest_evaluation(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Evaluation | None:
    """The evaluation written last (of `cohort` if given), or None when `evaluate` has not been run."""
    sql = ("SELECT e.run_id, e.cohort, e.evaluation FROM latest_evaluation_predictions e JOIN runs r USING (run_id) "
           + ("WHERE e.cohort = ? " if cohort else "") + "ORDER BY r.started_at DESC LIMIT 1")
    row = con.execute(sql, [cohort] if cohort else []).fetchone()
    if row is None:
        return None
    run_id, cohort_, name = map(str, row)
    models = con.execute("SELECT model, version, count(*) FROM evaluation_predictions WHERE run_id = ? "
                         "GROUP BY model, version ORDER BY model <> ?, model", [run_id, name]).fetchall()
    return Evaluation(run_id, cohort_, name, {str(m): int(v) for m, v, _ in models}, int(models[0][2]))


def evaluation_predictions(con: duckdb.DuckDBPyConnection, evaluation: Evaluation) -> pd.DataFrame:
    """The stored predictions of an evaluation (one row per model x patient)."""
    return con.execute("SELECT * FROM evaluation_predictions WHERE run_id = ? ORDER BY model, patient_id",
                       [evaluation.run_id]).df()


def _evaluation_footnotes(con: duckdb.DuckDBPyConnection, ev: Evaluation) -> list[str]:
    notes = [flow_footnote(read_flow(con, ev.cohort, "evaluate", ev.name))]
    below = con.execute("SELECT model, sum(below_zero::INTEGER), count(*) FROM evaluation_predictions "
                        "WHERE run_id = ? GROUP BY model ORDER BY model", [ev.run_id]).fetchall()
    notes += [f"{int(k)} of {int(n)} predictions of {m} are below 0% (flagged, not clipped; see the model card)."
              for m, k, n in below if k]
    return [n for n in notes if n]


def table3(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """One row per TIL-category comparison; per model AUC (95% CI), sensitivity, specificity and accuracy;
    DeLong P of the primary model against each other model."""
    caption = "Table 3. Classification of TIL categories by predicted TIL"
    ev = latest_evaluation(con, cohort)
    if ev is None:
        return Table("table3_classification", caption, pd.DataFrame(columns=["Comparison"]),
                     ["Not run: `radpath evaluate --cohort C --model M --compare OTHER` writes this table."])
    metrics = con.execute("SELECT * FROM classification_metrics WHERE run_id = ?", [ev.run_id]).df()
    delong = con.execute("SELECT * FROM auc_comparisons WHERE run_id = ?", [ev.run_id]).df()
    rows: list[dict[str, str]] = []
    spanners: dict[str, list[str]] = {m: [] for m in ev.models}
    for pair, label in PAIRS.items():
        part = metrics[metrics["comparison"] == pair].set_index("model")
        if part.empty:
            continue
        first = part.iloc[0]
        row: dict[str, str] = {"Comparison": label,
                               "n": f"{int(first['n_negative'])} / {int(first['n_positive'])}"}
        for m in ev.models:
            r = part.loc[m] if m in part.index else None
            cells = {"AUC (95% CI)": fmt.estimate_ci(*(r[["auc", "auc_ci_low", "auc_ci_high"]] if r is not None
                                                       else (None, None, None))),
                     "Sensitivity": fmt.number(None if r is None else r["sensitivity"]),
                     "Specificity": fmt.number(None if r is None else r["specificity"]),
                     "Accuracy": fmt.number(None if r is None else r["accuracy"])}
            for key, value in cells.items():
                column = f"{m}: {key}"
                row[column] = value
                if column not in spanners[m]:
                    spanners[m].append(column)
        for d in delong[delong["comparison"] == pair].itertuples(index=False):
            row[f"DeLong P, {d.model_a} vs {d.model_b}"] = fmt.p_value(d.p_value)
        rows.append(row)
    sources = set(metrics["threshold_source"])
    where = ("the Youden-optimal threshold on this cohort" if sources == {"youden"} else
             "the model's frozen training threshold" if sources == {"model"} else
             "the Youden threshold (models trained on this cohort) or the frozen training threshold (others)")
    notes = [f"n: patients of the lower / higher category. AUC with DeLong 95% CI; sensitivity, specificity and "
             f"accuracy at {where} (the higher category called when predicted TIL exceeds it).",
             "DeLong P: two-sided paired DeLong test of the two models' AUCs on the same patients."
             if len(delong) else "", CATEGORY_NOTE, *_evaluation_footnotes(con, ev)]
    caption += f" in {ev.cohort} (n = {ev.n})"
    return Table("table3_classification", caption, pd.DataFrame(rows), [n for n in notes if n],
                 {m: c for m, c in spanners.items() if c})


def model_comparison(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """The models of the newest evaluation side by side: inputs, training n, r with TIL and AUC per comparison."""
    import json

    caption = "Model comparison"
    ev = latest_evaluation(con, cohort)
    if ev is None:
        return Table("table_model_comparison", caption, pd.DataFrame(columns=["Model"]),
                     ["Not run: `radpath evaluate --compare` writes this table."])
    corr = con.execute("SELECT * FROM model_correlation WHERE run_id = ?", [ev.run_id]).df().set_index("model")
    auc = con.execute("SELECT model, comparison, auc FROM classification_metrics WHERE run_id = ?",
                      [ev.run_id]).df()
    rows = []
    for m, version in ev.models.items():
        meta = con.execute("SELECT kind, cohort, artifact FROM models WHERE name = ? AND version = ?",
                           [m, version]).fetchone()
        art = json.loads(meta[2]) if meta else {}
        inputs = ", ".join(f["code"] for f in art.get("features", []))
        row = {"Model": f"{m} (v{version})", "Kind": meta[0] if meta else fmt.MISSING,
               "Inputs": inputs or fmt.MISSING,
               "Training": f"{meta[1]} (n = {art['n']})" if meta and "n" in art else (meta[1] if meta else ""),
               "r with TIL (95% CI)": fmt.estimate_ci(*corr.loc[m, ["r", "ci_low", "ci_high"]])
               if m in corr.index else fmt.MISSING}
        for pair, label in PAIRS.items():
            hit = auc[(auc["model"] == m) & (auc["comparison"] == pair)]
            row[f"AUC, {label.lower()}"] = fmt.number(hit["auc"].iloc[0]) if len(hit) else fmt.MISSING
        rows.append(row)
    notes = [f"All models evaluated on the same {ev.n} patients of {ev.cohort}. r: Pearson correlation of "
             f"predicted with observed stromal TIL (Fisher z 95% CI).", CATEGORY_NOTE,
             *_evaluation_footnotes(con, ev)]
    return Table("table_model_comparison", f"{caption} in {ev.cohort} (n = {ev.n})", pd.DataFrame(rows), notes)


def _term_label(term: str, signatures: set[str]) -> str:
    if term in signatures:
        return f"Imaging signature ({term})"
    return TERM_LABELS.get(term, term)


def table4(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """Per term: univariate r (95% CI) and P beside the multivariable coefficient (95% CI), SE and P."""
    caption = "Table 4. Univariate and multivariable analysis of stromal TIL"
    view = con.execute("SELECT * FROM table4_multivariable").df()
    composites = view[(view["kind"] == "composite") & ((view["cohort"] == cohort) if cohort else True)]
    if composites.empty:
        where = f" on {cohort}" if cohort else ""
        return Table("table4_multivariable", caption, pd.DataFrame(columns=["Term"]),
                     [f"Not run{where}: `radpath fit-composite` writes this table."])
    newest = composites.iloc[-1]
    model, version, cohort_ = str(newest["model"]), int(newest["version"]), str(newest["cohort"])
    part = view[(view["model"] == model) & (view["version"] == version)]
    uni = part[part["fit"] == "univariate"].set_index("term")
    multi_fit = "adjusted" if (part["fit"] == "adjusted").any() else "final"
    multi = part[(part["fit"] == multi_fit) & (part["term"] != "intercept")].set_index("term")
    final = part[part["fit"] == "final"]
    signatures = set(con.execute("SELECT name FROM models WHERE kind = 'signature'").df()["name"])
    rows = []
    for term in list(dict.fromkeys([*uni.index, *multi.index])):
        u = uni.loc[term] if term in uni.index else None
        v = multi.loc[term] if term in multi.index else None
        rows.append({
            "Term": _term_label(str(term), signatures),
            "r (95% CI)": fmt.MISSING if u is None else fmt.estimate_ci(u["r"], u["ci_low"], u["ci_high"]),
            "P (univariate)": fmt.MISSING if u is None else fmt.p_value(u["p_value"]),
            "Coefficient (95% CI)": fmt.MISSING if v is None else fmt.estimate_ci(v["coef"], v["ci_low"],
                                                                                   v["ci_high"]),
            "SE": fmt.MISSING if v is None else fmt.number(v["se"]),
            "P (multivariable)": fmt.MISSING if v is None else fmt.p_value(v["p_value"]),
        })
    n_uni = sorted({int(x) for x in uni["n"]}) if len(uni) else []
    n_multi = int(multi["n"].iloc[0]) if len(multi) else 0
    r2 = float(multi["r2"].iloc[0]) if len(multi) else float("nan")
    n_text = fmt.interval(n_uni[0], n_uni[-1], 0) if len(n_uni) > 1 else (str(n_uni[0]) if n_uni else fmt.MISSING)
    notes = [f"Univariate: Pearson r of each term with stromal TIL (%), Fisher z 95% CI, two-sided t test P "
             f"(n = {n_text}).",
             "Multivariable: ordinary least squares of stromal TIL (%) on the model's terms (per SD) "
             + ("and the clinical and molecular covariates (as coded)" if multi_fit == "adjusted" else "")
             + f"; coefficients with 95% CI and SE, t test P (n = {n_multi}, R² = {fmt.number(r2)}).",
             "Molecular scores log2(1 + x) transformed before standardising."]
    if len(final):
        f = final[final["term"] != "intercept"]
        intercept = final.loc[final["term"] == "intercept", "coef"]
        formula = " + ".join(f"{fmt.number(c)} × z({t})" for t, c in zip(f["term"], f["coef"], strict=True))
        if len(intercept):
            formula += f" + {fmt.number(intercept.iloc[0])}"
        notes.append(f"Final model {model} v{version} (n = {int(final['n'].iloc[0])}): predicted TIL = {formula}.")
    flow = read_flow(con, cohort_, "fit-composite", model)
    notes.append(flow_footnote(flow))
    caption += f" in {cohort_} ({model} v{version})"
    return Table("table4_multivariable", caption, pd.DataFrame(rows), [n for n in notes if n])


SUBGROUP_LABELS = {"all": "All patients", "HR+/HER2-": "HR+/HER2−", "HER2+": "HER2+", "TNBC": "TNBC"}


def _cell(row: pd.Series | None, decimals: int = 2, p: bool = False) -> str:
    if row is None:
        return fmt.MISSING
    if not bool(row["estimable"]):
        return str(row["note"]) or "not estimable"
    if p:
        return fmt.p_value(row["p_value"])
    return fmt.estimate_ci(row["estimate"], row["ci_lower"], row["ci_upper"], decimals)


def survival_table(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """Per subgroup: n, events, HR of the TIL groups (95% CI), log-rank P, C-index (95% CI)."""
    caption = "Survival by predicted TIL group"
    view = con.execute("SELECT * FROM table_survival").df()
    if cohort:
        view = view[view["cohort"] == cohort]
    if view.empty:
        where = f" on {cohort}" if cohort else ""
        return Table("table_survival", caption, pd.DataFrame(columns=["Subgroup"]),
                     [f"Not run{where}: `radpath validate-survival` writes this table."])
    analyses = view[["cohort", "model", "version", "endpoint", "grouping"]].drop_duplicates()
    several = len(analyses) > 1
    rows, schoenfeld, references = [], [], set()
    for a in analyses.itertuples(index=False):
        part = view[(view["cohort"] == a.cohort) & (view["model"] == a.model) & (view["version"] == a.version)
                    & (view["endpoint"] == a.endpoint) & (view["grouping"] == a.grouping)]
        references.add(a.grouping.split("|")[-1])
        order = list(SUBGROUP_LABELS)
        present = list(dict.fromkeys(part["subgroup"]))
        for subgroup in sorted(present, key=lambda g: (order.index(g) if g in order else len(order), g)):
            s = part[part["subgroup"] == subgroup]

            def pick(statistic: str, s: pd.DataFrame = s) -> list[pd.Series]:
                return [r for _, r in s[s["statistic"] == statistic].iterrows()]

            n_row = pick("n_patients")
            row: dict[str, str] = {}
            if several:
                row["Analysis"] = f"{a.model} v{a.version}, {a.cohort} {a.endpoint.upper()}"
            row["Subgroup"] = SUBGROUP_LABELS.get(str(subgroup), str(subgroup))
            row["n"] = fmt.integer(n_row[0]["n"]) if n_row else fmt.MISSING
            row["Events"] = fmt.integer(n_row[0]["n_events"]) if n_row else fmt.MISSING
            for r in pick("cox_hr"):
                if r["term"] != "predicted":
                    row[f"HR, {r['term']} (95% CI)"] = _cell(r)
            for r in pick("logrank"):
                row[f"Log-rank P, {r['term']}"] = _cell(r, p=True)
            c = pick("c_index")
            row["C-index (95% CI)"] = _cell(c[0]) if c else fmt.MISSING
            schoenfeld += [f"{row['Subgroup']} ({r['term']}, P = {fmt.p_value(r['p_value'])})"
                           for r in pick("schoenfeld") if bool(r["estimable"]) and r["p_value"] < 0.05]
            rows.append(row)
    frame = pd.DataFrame(rows).fillna(fmt.MISSING)
    first = analyses.iloc[0]
    if not several:
        caption += (f": {first['model']} v{first['version']} on {first['cohort']}, "
                    f"{str(first['endpoint']).upper()}")
    everyone = view[(view["subgroup"] == "all")]
    excluded = []
    for stat, what in (("n_excluded_missing_prediction", "without a prediction"),
                       ("n_excluded_missing_endpoint", "without the endpoint")):
        k = everyone.loc[everyone["statistic"] == stat, "estimate"].sum()
        if k:
            excluded.append(f"{int(k)} {what}")
    notes = [f"HR: Cox proportional hazards regression of the TIL group against the reference group "
             f"({', '.join(sorted(references))}), Wald 95% CI.",
             "Log-rank P: log-rank test (chi-square with k − 1 degrees of freedom for k groups); "
             "'not estimable (k events)' where too few events for a test.",
             "C-index: Harrell's concordance of predicted TIL with survival (higher predicted TIL, longer "
             "survival), bootstrap 95% CI.",
             "TIL groups by the frozen model's training thresholds; subgroups by IHC receptor status."]
    if excluded:
        notes.append("Patients left out: " + "; ".join(excluded) + ".")
    if schoenfeld:
        notes.append("Proportional hazards doubtful (Schoenfeld P < 0.05): " + "; ".join(schoenfeld) + ".")
    return Table("table_survival", caption, frame, notes)
