"""Model cards (`report/models/NAME_vN.md`): what a TIL model is, what it was trained on, and how its
predictions are to be read, including the choice made for predicted TIL below 0 %.

A fitted model's card gives its training cohort, data hash, coefficients with the training means and SDs, its
Youden thresholds, and its apparent (in-sample) and cross-validated correlation with TIL. A published model's
card says what it is instead: who developed it on which data, that radpath did not fit it, the within-cohort
standardisation it is applied with (and the means and SDs used on each cohort), and the paper's fixed category
boundaries it groups predicted TIL by.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath import numbers as fmt
from radpath.errors import StatsError

BELOW_ZERO_POLICY = (
    "Predicted TIL below 0% is **flagged, not clipped**. The model is linear, so a patient with low inputs can "
    "get a negative prediction; radpath keeps the value as the model gives it (clipping to 0 would tie those "
    "patients and change the AUCs, the correlation and the Youden thresholds learned from it) and marks it "
    "(`below_zero` in `evaluation_predictions`; counted in the footnotes of Table 3 and the model comparison). "
    "Read a negative prediction as 'no/minimal TILs'."
)
PAIR_ORDER = ("low_vs_intermediate", "low_vs_high", "intermediate_vs_high")


def card_file_name(name: str, version: int) -> str:
    """`NAME_vN.md`, with characters a file name should not hold (':' of `published:…`) replaced by '_'."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    return f"{safe}_v{version}.md"


def _below_zero(con: duckdb.DuckDBPyConnection, name: str, version: int) -> list[str]:
    lines = ["", "## Predictions below 0%", "", BELOW_ZERO_POLICY, ""]
    counts = con.execute(
        "SELECT cohort, count(*) FILTER (WHERE predicted < 0), count(*) FROM model_predictions "
        "WHERE model = ? AND version = ? GROUP BY cohort ORDER BY cohort", [name, version]).fetchall()
    return lines + [f"- {c}: {int(k)} of {int(n)} stored predictions below 0%" for c, k, n in counts]


def _correlations(con: duckdb.DuckDBPyConnection, name: str, version: int, cohort: str) -> list[str]:
    """Apparent and cross-validated Pearson r of the model with TIL on its training cohort."""
    from radpath.stats.association import pearson
    from radpath.stats.crossval import count_repeats, out_of_fold, read_cv_predictions
    from radpath.stats.data import til_target

    try:
        til = til_target(con, cohort)
    except StatsError:
        return []
    fitted = con.execute("SELECT patient_id, predicted FROM model_predictions WHERE model = ? AND version = ? "
                         "AND cohort = ?", [name, version, cohort]).df().set_index("patient_id")["predicted"]
    lines = ["", "## Correlation with stromal TIL on the training cohort", ""]
    both = pd.concat([fitted, til], axis=1, join="inner").dropna()
    if len(both) > 3:
        r = pearson(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())
        lines.append(f"- apparent (in-sample, the model's own fit): r = {fmt.number(r.r)} "
                     f"({fmt.interval(r.ci_low, r.ci_high)}), n = {r.n}")
    folds = read_cv_predictions(con, name, version, cohort)
    oof = pd.concat([out_of_fold(folds), til], axis=1, join="inner").dropna() if len(folds) else pd.DataFrame()
    if len(oof) > 3:
        r = pearson(oof.iloc[:, 0].to_numpy(), oof.iloc[:, 1].to_numpy())
        lines.append(f"- cross-validated (out-of-fold predictions, mean of {count_repeats(folds)} repeats of "
                     f"{folds['fold'].nunique()}-fold CV): r = {fmt.number(r.r)} "
                     f"({fmt.interval(r.ci_low, r.ci_high)}), n = {r.n}")
    else:
        lines.append("- cross-validated: not available (no fold predictions stored for this version)")
    return lines


def _fitted_card(con: duckdb.DuckDBPyConnection, name: str, version: int, row: tuple[Any, ...]) -> list[str]:
    kind, cohort, target, _, data_hash, created, run_id = row
    art = json.loads(row[3])
    label = art.get("label") or name
    lines = [f"# Model card: {label}", "", f"Model `{name}` version {version}.", "",
             f"- Kind: {kind}, fitted by radpath; target: stromal TIL (%) ({target}); trained on {cohort}"
             + (f" (n = {art['n']})" if "n" in art else ""),
             f"- Created {created:%Y-%m-%d %H:%M} by run {run_id}; training data sha256 {data_hash}", "",
             "## Formula", "",
             "predicted TIL = intercept + Σ coefficient × (x − training mean) / training SD", "",
             "| input | modality | transform | coefficient (per SD) | training mean | training SD |",
             "|---|---|---|---|---|---|"]
    transforms = art.get("transforms", {})
    for f in art["features"]:
        code = f["code"]
        lines.append(f"| {code} | {f['modality']} | {transforms.get(code, 'none')} | "
                     f"{fmt.number(art['coefficients'].get(code), 3)} | {fmt.number(art['means'].get(code), 3)} | "
                     f"{fmt.number(art['sds'].get(code), 3)} |")
    lines += ["", f"Intercept: {fmt.number(art['intercept'], 3)}.", "", "## TIL groups", "",
              "Thresholds on predicted TIL (Youden J on the training cohort), frozen when the model is applied:", ""]
    pairs = sorted(art["thresholds"], key=lambda p: PAIR_ORDER.index(p) if p in PAIR_ORDER else len(PAIR_ORDER))
    lines += [f"- {pair.replace('_', ' ')}: {fmt.number(art['thresholds'][pair], 2)}" for pair in pairs]
    lines += _correlations(con, name, version, str(cohort))
    if "r2" in art:
        lines += ["", f"Training R² (in-sample): {fmt.number(art['r2'])}."]
    return lines


def _published_card(con: duckdb.DuckDBPyConnection, name: str, version: int, row: tuple[Any, ...]) -> list[str]:
    from radpath.stats.models import load_model, model_inputs
    from radpath.stats.published import published_model

    _, _, target, _, _, created, run_id = row
    entry = published_model(name)
    art = json.loads(row[3])
    lines = [f"# Model card: {entry.label}", "", f"Model `{name}` version {version}.", "",
             f"- Kind: published model, **not fitted by radpath**: the {entry.source}.",
             f"- Developed by its authors on {entry.developed_on}.",
             f"- Target: stromal TIL (%) ({target}). Entered the warehouse {created:%Y-%m-%d %H:%M} by run {run_id} "
             "(`radpath apply`); the warehouse holds none of its training data, so there is no training data hash.",
             "", "## Formula", "", f"{entry.formula()}, where z(x) = (x − cohort mean) / cohort SD.", "",
             "| input | modality | coefficient (per SD) |", "|---|---|---|"]
    lines += [f"| {f['code']} | {f['modality']} | {fmt.number(art['coefficients'][f['code']], 2)} |"
              for f in art["features"]]
    lines += ["", f"Intercept: {fmt.number(art['intercept'], 2)}.", "", "## Standardisation within the cohort", "",
              entry.standardisation(), ""]
    record = load_model(con, name, version)
    cohorts = [str(c) for (c,) in con.execute("SELECT DISTINCT cohort FROM model_predictions WHERE model = ? "
                                               "AND version = ? ORDER BY 1", [name, version]).fetchall()]
    rows = []
    for cohort in cohorts:
        try:
            inputs = model_inputs(con, record, cohort).dropna()
        except StatsError:
            continue
        rows += [f"| {cohort} | {code} | {len(inputs)} | {fmt.number(inputs[code].mean(), 3)} | "
                 f"{fmt.number(inputs[code].std(ddof=1), 3)} |" for code in record.codes]
    if rows:
        lines += ["The means and SDs it was standardised with on each cohort it was applied to (the cohort's "
                  "current features):", "", "| cohort | input | n | mean | SD |", "|---|---|---|---|---|", *rows]
    else:
        lines.append("It has not been applied to a cohort yet.")
    lines += ["", "## TIL groups", "", entry.grouping()]
    return lines


def model_card(con: duckdb.DuckDBPyConnection, name: str, version: int) -> str:
    """The Markdown card of one model version."""
    row = con.execute("SELECT kind, cohort, target, artifact, data_hash, created_at, run_id FROM models "
                      "WHERE name = ? AND version = ?", [name, version]).fetchone()
    if row is None:
        raise KeyError(f"{name} v{version}")
    lines = (_published_card if row[0] == "published" else _fitted_card)(con, name, version, row)
    lines += _below_zero(con, name, version)
    return "\n".join(lines).rstrip() + "\n"


def write_model_cards(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """One card per model version in the warehouse; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, version in con.execute("SELECT name, version FROM models ORDER BY name, version").fetchall():
        path = out / card_file_name(str(name), int(version))
        path.write_text(model_card(con, str(name), int(version)), encoding="utf-8")
        paths.append(path)
    return paths
