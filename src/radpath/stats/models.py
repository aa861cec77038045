"""The model artifact store: versioned models (`models` table), frozen prediction and TIL grouping.

An artifact (JSON) holds what is needed to score a new cohort without refitting: ``features``
[{modality, code}], ``coefficients`` {code: per-SD coefficient}, ``intercept``, ``means``/``sds`` (training
cohort), ``thresholds`` (Youden cut-offs on predicted TIL), and optionally ``transforms`` {code: "log2p1"}
applied before standardising and ``components`` {code: {name, version}} for inputs of modality ``model``
(a composite's signature, predicted from its own frozen artifact first).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import StatsError
from radpath.stats.data import feature_matrix, til_target
from radpath.stats.roc import youden_threshold
from radpath.warehouse import Run, replace_rows, write_features
from radpath.warehouse.runs import now

PAIRS = {
    "low_vs_intermediate": ("low", "intermediate"),
    "low_vs_high": ("low", "high"),
    "intermediate_vs_high": ("intermediate", "high"),
}
TIL_LOW, TIL_HIGH = 10.0, 40.0


@dataclass(frozen=True)
class ModelRecord:
    name: str
    version: int
    kind: str
    cohort: str
    target: str
    artifact: dict[str, Any]
    data_hash: str
    run_id: str

    @property
    def codes(self) -> list[str]:
        return [f["code"] for f in self.artifact["features"]]

    @property
    def label(self) -> str:
        """The readable name tables and figures print (artifact ``label``; the model's name when it has none)."""
        return model_label(self.name, self.artifact)


def model_label(name: str, artifact: dict[str, Any]) -> str:
    """A model's readable label: its artifact's ``label``, else its name."""
    return str(artifact.get("label") or name)


MOLECULAR_LABELS = {"CYT": "cytolytic activity", "TMB": "mutation burden"}


def default_label(name: str, *, modalities: Sequence[str] = (), parts: Sequence[str] = ()) -> str:
    """The label of a fitted model whose command was given none: 'Imaging signature (NAME)' for a signature of
    MRI features only ('Signature (NAME)' otherwise); a composite joins the labels of its parts, molecular codes
    spelt out ('Imaging signature (sig) + cytolytic activity')."""
    if parts:
        return " + ".join(MOLECULAR_LABELS.get(p, p) for p in parts)
    return f"{'Imaging signature' if set(modalities) == {'mri'} else 'Signature'} ({name})"


def til_category(til: pd.Series) -> pd.Series:
    """low <= 10 %, intermediate > 10-40 %, high > 40 % (the paper's and the `til` view's categories)."""
    return pd.Series(np.where(til <= TIL_LOW, "low", np.where(til <= TIL_HIGH, "intermediate", "high")),
                     index=til.index)


def learn_thresholds(predicted: pd.Series, til: pd.Series) -> dict[str, float]:
    """Youden-J cut-offs of the predicted TIL for each pair of TIL categories (training cohort)."""
    both = pd.concat([predicted.rename("p"), til.rename("t")], axis=1, join="inner").dropna()
    cats = til_category(both["t"])
    out: dict[str, float] = {}
    for pair, (lower, upper) in PAIRS.items():
        mask = cats.isin([lower, upper])
        counts = cats[mask].value_counts()
        if counts.get(lower, 0) < 1 or counts.get(upper, 0) < 1:
            raise StatsError(
                f"cannot learn the {pair} threshold: the training cohort has {counts.get(lower, 0)} {lower} "
                f"and {counts.get(upper, 0)} {upper} TIL patients with predictions"
            )
        out[pair] = youden_threshold((cats[mask] == upper).astype(int), both.loc[mask, "p"]).threshold
    return out


def til_groups(predicted: pd.Series, thresholds: dict[str, float]) -> pd.Series:
    """low if pred <= t[low_vs_intermediate], high if pred > t[intermediate_vs_high], else intermediate."""
    low = predicted <= thresholds["low_vs_intermediate"]
    high = predicted > thresholds["intermediate_vs_high"]
    return pd.Series(np.where(low, "low", np.where(high, "high", "intermediate")), index=predicted.index)


def save_model(
    con: duckdb.DuckDBPyConnection, run: Run, *, name: str, kind: str, cohort: str, target: str,
    artifact: dict[str, Any], data_hash: str,
) -> int:
    """Insert the next version of `name`; returns that version."""
    missing = {"features", "coefficients", "intercept", "means", "sds", "thresholds"} - set(artifact)
    if missing:
        raise StatsError(f"model {name}: artifact lacks {sorted(missing)}")
    row = con.execute("SELECT coalesce(max(version), 0) FROM models WHERE name = ?", [name]).fetchone()
    version = int(row[0] if row else 0) + 1
    con.execute(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [name, version, kind, cohort, target, json.dumps(artifact, sort_keys=True), data_hash, now(), run.run_id],
    )
    return version


def load_model(con: duckdb.DuckDBPyConnection, name: str, version: int | None = None) -> ModelRecord:
    """A model by name (newest version unless one is given)."""
    sql = "SELECT name, version, kind, cohort, target, artifact, data_hash, run_id FROM models WHERE name = ?"
    params: list[Any] = [name]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    row = con.execute(sql + " ORDER BY version DESC LIMIT 1", params).fetchone()
    if row is None:
        known = [r[0] for r in con.execute("SELECT DISTINCT name FROM models ORDER BY 1").fetchall()]
        what = f"{name} version {version}" if version is not None else name
        hint = (f" (a published model enters the warehouse when first applied: radpath apply --model {name} "
                "--cohort C)") if name.startswith("published:") else ""
        raise StatsError(f"no model {what} in the warehouse; known models: {known or 'none'}{hint}")
    return ModelRecord(str(row[0]), int(row[1]), str(row[2]), str(row[3]), str(row[4]), json.loads(row[5]),
                       str(row[6]), str(row[7]))


def apply_transform(values: pd.Series, transform: str | None) -> pd.Series:
    if transform is None:
        return values
    if transform == "log2p1":
        return pd.Series(np.log2(1.0 + values.clip(lower=0)), index=values.index)
    raise StatsError(f"unknown transform {transform!r} in model artifact")


def model_inputs(con: duckdb.DuckDBPyConnection, model: ModelRecord, cohort: str) -> pd.DataFrame:
    """The model's raw inputs (after its transforms) for the cohort's included patients (may hold NaN)."""
    art = model.artifact
    columns: dict[str, pd.Series] = {}
    plain = [f for f in art["features"] if f["modality"] != "model"]
    if plain:
        try:
            frame, owner = feature_matrix(con, cohort, modalities=sorted({f["modality"] for f in plain}),
                                          codes=[f["code"] for f in plain])
        except StatsError:
            frame, owner = pd.DataFrame(), {}
        missing = [f"{f['code']} ({f['modality']})" for f in plain
                   if f["code"] not in frame.columns or owner.get(f["code"]) != f["modality"]]
        if missing:
            raise StatsError(
                f"model {model.name} v{model.version} needs feature{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}, which cohort {cohort} does not have"
            )
        for f in plain:
            columns[f["code"]] = frame[f["code"]]
    for f in art["features"]:
        if f["modality"] == "model":
            ref = art.get("components", {}).get(f["code"], {"name": f["code"], "version": None})
            columns[f["code"]] = predict(con, load_model(con, ref["name"], ref.get("version")), cohort)
    inputs = pd.DataFrame(columns)
    for code, transform in art.get("transforms", {}).items():
        inputs[code] = apply_transform(inputs[code], transform)
    return inputs[model.codes]


def linear_predict(artifact: dict[str, Any], inputs: pd.DataFrame) -> pd.Series:
    """intercept + sum coef_j (x_j - mean_j) / sd_j with the training means and SDs, or with the means and SDs
    (ddof=1) of `inputs` itself when the artifact says ``standardise: within_cohort`` (a published model)."""
    codes = [f["code"] for f in artifact["features"]]
    if artifact.get("standardise") == "within_cohort":
        means, sds = inputs[codes].mean(axis=0), inputs[codes].std(axis=0, ddof=1)
        flat = [c for c in codes if not (sds[c] > 0)]
        if flat:
            raise StatsError(f"cannot standardise {', '.join(flat)} within the cohort: constant or fewer than "
                             f"two patients ({len(inputs)} with every input)")
    else:
        means, sds = pd.Series(artifact["means"])[codes], pd.Series(artifact["sds"])[codes]
    z = (inputs[codes] - means) / sds
    coef = pd.Series(artifact["coefficients"])[codes].to_numpy(dtype=float)
    return pd.Series(float(artifact["intercept"]) + z.to_numpy(dtype=float) @ coef, index=inputs.index)


def predict(con: duckdb.DuckDBPyConnection, model: ModelRecord, cohort: str) -> pd.Series:
    """Predicted TIL of the cohort's patients having every input (others are left out)."""
    inputs = model_inputs(con, model, cohort).dropna()
    if inputs.empty:
        raise StatsError(f"model {model.name}: no patient of cohort {cohort} has all of {model.codes}")
    return linear_predict(model.artifact, inputs).rename(model.name)


def write_predictions(
    con: duckdb.DuckDBPyConnection, run: Run, model: ModelRecord, cohort: str, predicted: pd.Series
) -> pd.DataFrame:
    """Store predictions and groups in `model_predictions` and as `features` (modality model)."""
    frame = pd.DataFrame({
        "model": model.name, "version": model.version, "cohort": cohort,
        "patient_id": predicted.index.astype(str), "predicted": predicted.to_numpy(dtype=float),
        "til_group": til_groups(predicted, model.artifact["thresholds"]).to_numpy(), "run_id": run.run_id,
    })
    replace_rows(con, "model_predictions", frame, {"model": model.name, "version": model.version, "cohort": cohort})
    write_features(con, run, cohort, "model",
                   pd.DataFrame({"patient_id": frame["patient_id"], "code": model.name, "value": frame["predicted"]}),
                   params_hash=f"{model.name}:v{model.version}")
    return frame


def training_thresholds(con: duckdb.DuckDBPyConnection, predicted: pd.Series, cohort: str) -> dict[str, float]:
    """Youden thresholds of training predictions against the cohort's TIL readings."""
    return learn_thresholds(predicted, til_target(con, cohort))
