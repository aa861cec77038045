"""Model cards (`report/models/NAME_vN.md`): what a fitted TIL model is, what it was trained on, and how its
predictions are to be read, including the choice made for predicted TIL below 0 %."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from radpath import numbers as fmt

BELOW_ZERO_POLICY = (
    "Predicted TIL below 0% is **flagged, not clipped**. The model is linear, so a patient with low inputs can "
    "get a negative prediction; radpath keeps the value as the model gives it (clipping to 0 would tie those "
    "patients and change the AUCs, the correlation and the Youden thresholds learned from it) and marks it "
    "(`below_zero` in `evaluation_predictions`; counted in the footnotes of Table 3 and the model comparison). "
    "Read a negative prediction as 'no/minimal TILs'."
)


def model_card(con: duckdb.DuckDBPyConnection, name: str, version: int) -> str:
    """The Markdown card of one model version."""
    row = con.execute("SELECT kind, cohort, target, artifact, data_hash, created_at, run_id FROM models "
                      "WHERE name = ? AND version = ?", [name, version]).fetchone()
    if row is None:
        raise KeyError(f"{name} v{version}")
    kind, cohort, target, artifact, data_hash, created, run_id = row
    art = json.loads(artifact)
    lines = [f"# Model card: {name} v{version}", "",
             f"- Kind: {kind}; target: stromal TIL (%) ({target}); trained on {cohort}"
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
    order = ["low_vs_intermediate", "low_vs_high", "intermediate_vs_high"]
    pairs = sorted(art["thresholds"], key=lambda p: order.index(p) if p in order else len(order))
    lines += [f"- {pair.replace('_', ' ')}: {fmt.number(art['thresholds'][pair], 2)}" for pair in pairs]
    lines += ["", "## Predictions below 0%", "", BELOW_ZERO_POLICY, ""]
    counts = con.execute(
        "SELECT cohort, count(*) FILTER (WHERE predicted < 0), count(*) FROM model_predictions "
        "WHERE model = ? AND version = ? GROUP BY cohort ORDER BY cohort", [name, version]).fetchall()
    lines += [f"- {c}: {int(k)} of {int(n)} stored predictions below 0%" for c, k, n in counts]
    if "r2" in art:
        lines += ["", f"Training R² (in-sample): {fmt.number(art['r2'])}."]
    return "\n".join(lines).rstrip() + "\n"


def write_model_cards(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """One card per model version in the warehouse; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, version in con.execute("SELECT name, version FROM models ORDER BY name, version").fetchall():
        path = out / f"{name}_v{version}.md"
        path.write_text(model_card(con, str(name), int(version)), encoding="utf-8")
        paths.append(path)
    return paths
