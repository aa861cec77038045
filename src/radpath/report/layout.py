"""Tables 3 and 4, the survival table and the model comparison in the paper's layout.

Each builder reads the long-form views (`table3_classification`, `table4_multivariable`, `table_survival`) and
the stored evaluation (`latest_evaluation_predictions`, `latest_analysis_flow`), and returns a `Table` of
formatted cells (`radpath.numbers`) with its caption and footnotes. Table 3 and the model comparison show one
evaluation: the newest `evaluate` run, whose metrics were computed from the predictions it stored, so every
number refers to the same patients, and the footnote counts those left out at each step.
"""

from __future__ import annotations

import json
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
    # in the order the command named them (the evaluated model first, then --compare), as its run recorded
    params = con.execute("SELECT params FROM runs WHERE run_id = ?", [run_id]).fetchone()
    named = [str(m).rsplit(":v", 1)[0] for m in json.loads(params[0]).get("models", [])] if params else []
    models.sort(key=lambda row: named.index(row[0]) if row[0] in named else len(named))
    return Evaluation(run_id, cohort_, name, {str(m): int(v) for m, v, _ in models}, int(models[0][2]))


def evaluation_predictions(con: duckdb.DuckDBPyConnection, evaluation: Evaluation) -> pd.DataFrame:
    """The stored predictions of an evaluation (one row per model x patient)."""
    return con.execute("SELECT * FROM evaluation_predictions WHERE run_id = ? ORDER BY model, patient_id",
                       [evaluation.run_id]).df()


def _evaluation_footnotes(con: duckdb.DuckDBPyConnection, ev: Evaluation) -> list[str]:
    notes = [flow_footnote(read_flow(con, ev.cohort, "evaluate", ev.name))]
    labels = model_labels(con, ev.models)
    below = con.execute("SELECT model, sum(below_zero::INTEGER), count(*) FROM evaluation_predictions "
                        "WHERE run_id = ? GROUP BY model ORDER BY model", [ev.run_id]).fetchall()
    notes += [f"{int(k)} of {int(n)} predictions of {labels.get(m, (m,))[0]} are below 0% (flagged, not clipped; "
              "see the model card)." for m, k, n in below if k]
    return [n for n in notes if n]


APPARENT, PUBLISHED = "ᵃ", "ᵇ"   # markers after a model's label (footnotes a and b of Table 3)


def model_labels(con: duckdb.DuckDBPyConnection, models: dict[str, int]) -> dict[str, tuple[str, str, str]]:
    """name -> (label, kind, training cohort) of each model version of an evaluation."""
    from radpath.stats.models import model_label

    out = {}
    for m, version in models.items():
        row = con.execute("SELECT kind, cohort, artifact FROM models WHERE name = ? AND version = ?",
                          [m, version]).fetchone()
        out[m] = (model_label(m, json.loads(row[2])), str(row[0]), str(row[1])) if row else (m, "", "")
    return out


def _threshold_note(metrics: pd.DataFrame, labels: dict[str, tuple[str, str, str]]) -> str:
    by_source = {src: sorted({labels[m][0] for m in part["model"]})
                 for src, part in metrics.groupby("threshold_source")}
    texts = {"youden": "the Youden-optimal threshold on this cohort's patients (an apparent estimate)",
             "model": "the model's Youden threshold frozen on its training cohort",
             "fixed": "the published model's fixed TIL category boundaries applied to predicted TIL (low ≤ 10%, "
                      "high > 40%; not a threshold learned from data)"}
    parts = [f"{texts.get(src, src)} for {', '.join(names)}" if len(by_source) > 1 else texts.get(src, src)
             for src, names in by_source.items()]
    return ("Sensitivity and specificity at " + "; at ".join(parts)
            + " (the higher category called when predicted TIL exceeds the threshold).")


def table3(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """The paper's layout: rows grouped by TIL-category comparison, one row per model (by its label) with n, AUC
    (95% CI), the cross-validated AUC of models fitted on this cohort, sensitivity, specificity and the DeLong P
    of each model against the evaluated one. Estimates of models fitted on the cohort are marked apparent."""
    caption = "Table 3. Classification of TIL categories by predicted TIL"
    ev = latest_evaluation(con, cohort)
    if ev is None:
        return Table("table3_classification", caption, pd.DataFrame(columns=["Model"]),
                     ["Not run: `radpath evaluate --cohort C --model M --compare OTHER` writes this table."])
    metrics = con.execute("SELECT * FROM classification_metrics WHERE run_id = ?", [ev.run_id]).df()
    delong = con.execute("SELECT * FROM auc_comparisons WHERE run_id = ?", [ev.run_id]).df()
    labels = model_labels(con, ev.models)
    apparent = [m for m in ev.models if labels[m][2] == ev.cohort]
    published = [m for m in ev.models if labels[m][1] == "published"]

    def shown(m: str) -> str:
        return labels[m][0] + (APPARENT if m in apparent else PUBLISHED if m in published else "")

    rows: list[dict[str, str]] = []
    cv_ns: set[tuple[str, int, int]] = set()
    for pair, pair_label in PAIRS.items():
        part = metrics[metrics["comparison"] == pair].set_index("model")
        if part.empty:
            continue
        tests = delong[delong["comparison"] == pair].set_index("model_b")["p_value"]
        for m in ev.models:
            if m not in part.index:
                continue
            r = part.loc[m]
            has_cv = "cv_auc" in r.index and pd.notna(r["cv_auc"])
            if has_cv and int(r["cv_n"]) != int(r["n_negative"] + r["n_positive"]):
                cv_ns.add((labels[m][0], int(r["cv_n"]), int(r["n_negative"] + r["n_positive"])))
            rows.append({
                "Comparison": pair_label, "Model": shown(m),
                "n": f"{int(r['n_negative'])} / {int(r['n_positive'])}",
                "AUC (95% CI)": fmt.estimate_ci(r["auc"], r["auc_ci_low"], r["auc_ci_high"]),
                "CV AUC (95% CI)": fmt.estimate_ci(r["cv_auc"], r["cv_auc_ci_low"], r["cv_auc_ci_high"])
                if has_cv else fmt.MISSING,
                "Sensitivity": fmt.number(r["sensitivity"]), "Specificity": fmt.number(r["specificity"]),
                "DeLong P": fmt.p_value(tests[m]) if m in tests.index else fmt.MISSING,
            })
    primary = labels[ev.name][0]
    notes = ["n: patients of the lower / higher TIL category. AUC: area under the ROC curve of predicted TIL, "
             "DeLong 95% CI. " + _threshold_note(metrics, labels)]
    if apparent:
        repeats = sorted({int(x) for x in metrics["cv_repeats"].dropna()}) if "cv_repeats" in metrics else []
        cv_text = (f"CV AUC: cross-validated, from each patient's out-of-fold prediction (mean over "
                   f"{'/'.join(map(str, repeats))} repeats of the signature's k-fold LASSO cross-validation, the "
                   "composite refitted within the same folds)."
                   if repeats else "CV AUC: no fold predictions stored for these model versions (refit them).")
        notes.append(f"{APPARENT} Fitted on this cohort ({', '.join(labels[m][0] for m in apparent)}): AUC, "
                     "sensitivity and specificity are apparent (in-sample) estimates, optimistic because the model "
                     f"and its threshold were chosen on the same patients. {cv_text}")
    if published:
        notes.append(f"{PUBLISHED} Published model with fixed coefficients, not fitted on this cohort; its features "
                     "are standardised within this cohort (see its model card). Its authors developed it on "
                     "TCGA-BRCA: on that cohort its estimates are not independent either.")
    if len(delong):
        notes.append(f"DeLong P: two-sided paired DeLong test of each model's AUC against {primary} on the same "
                     "patients (– for that model itself).")
    if any(r["CV AUC (95% CI)"] == fmt.MISSING for r in rows):
        notes.append("–: not applicable (no cross-validation of a model not fitted on this cohort).")
    notes += [f"CV AUC of {name} on {k} of the {n} patients of a comparison (those its cross-validation covered)."
              for name, k, n in sorted(cv_ns)]
    notes += [CATEGORY_NOTE, *_evaluation_footnotes(con, ev)]
    caption += f" in {ev.cohort} (n = {ev.n})"
    return Table("table3_classification", caption, pd.DataFrame(rows), [n for n in notes if n],
                 groups="Comparison", widths={"Model": "3.6cm"}, size="footnotesize")


def model_comparison(con: duckdb.DuckDBPyConnection, cohort: str | None = None) -> Table:
    """The models of the newest evaluation side by side: inputs, training n, r with TIL and AUC per comparison."""
    caption = "Model comparison"
    ev = latest_evaluation(con, cohort)
    if ev is None:
        return Table("table_model_comparison", caption, pd.DataFrame(columns=["Model"]),
                     ["Not run: `radpath evaluate --compare` writes this table."])
    corr = con.execute("SELECT * FROM model_correlation WHERE run_id = ?", [ev.run_id]).df().set_index("model")
    auc = con.execute("SELECT model, comparison, auc FROM classification_metrics WHERE run_id = ?",
                      [ev.run_id]).df()
    rows = []
    labels = model_labels(con, ev.models)
    for m, version in ev.models.items():
        meta = con.execute("SELECT kind, cohort, artifact FROM models WHERE name = ? AND version = ?",
                           [m, version]).fetchone()
        art = json.loads(meta[2]) if meta else {}
        inputs = ", ".join(f["code"] for f in art.get("features", []))
        training = (f"{meta[1]} (n = {art['n']})" if meta and "n" in art else
                    "its authors' (not fitted here)" if meta and meta[0] == "published" else (meta[1] if meta else ""))
        row = {"Model": labels[m][0], "Name": f"{m} v{version}", "Kind": meta[0] if meta else fmt.MISSING,
               "Inputs": inputs or fmt.MISSING, "Training": training,
               "r with TIL (95% CI)": fmt.estimate_ci(*corr.loc[m, ["r", "ci_low", "ci_high"]])
               if m in corr.index else fmt.MISSING}
        for pair, label in PAIRS.items():
            hit = auc[(auc["model"] == m) & (auc["comparison"] == pair)]
            row[f"AUC, {label.lower()}"] = fmt.number(hit["auc"].iloc[0]) if len(hit) else fmt.MISSING
        rows.append(row)
    notes = [f"All models evaluated on the same {ev.n} patients of {ev.cohort}. r: Pearson correlation of "
             f"predicted with observed stromal TIL (Fisher z 95% CI); r and AUC of a model trained on {ev.cohort} "
             "are apparent (in-sample) estimates (Table 3 gives the cross-validated AUC).", CATEGORY_NOTE,
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


def subgroup_label(subgroup: object) -> str:
    """A survival subgroup as the tables print it: 'all' -> 'All patients', 'HR+/HER2-' -> 'HR+/HER2−'."""
    return SUBGROUP_LABELS.get(str(subgroup), fmt.receptor(subgroup))


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
            row["Subgroup"] = subgroup_label(subgroup)
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
