"""Redundancy reduction as in the paper: of two features correlated above a threshold, keep the more robust.

Robustness is the ICC(3,1) (two-way mixed, consistency) of a feature between the given tumour mask
and the mask eroded and dilated by one voxel, over up to `max_cases` cases. Features are visited in
order of decreasing ICC; one is kept unless its |Pearson r| with an already kept feature exceeds the
threshold, in which case it is dropped for that feature. Constant or incomplete features are dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import StatsError
from radpath.mri.params import MRIParams
from radpath.mri.pipeline import CaseInput, features_of

PERTURBATIONS = (0, -1, 1)


def icc_3_1(values: np.ndarray) -> float:
    """ICC(3,1) of an (n subjects x k raters) array."""
    values = np.asarray(values, dtype=np.float64)
    n, k = values.shape
    grand = values.mean()
    ss_rows = k * ((values.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((values.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((values - grand) ** 2).sum() - ss_rows - ss_cols
    ms_rows, ms_err = ss_rows / (n - 1), ss_err / ((n - 1) * (k - 1))
    denominator = ms_rows + (k - 1) * ms_err
    return float((ms_rows - ms_err) / denominator) if denominator > 0 else float("nan")


def perturbed_features(payload: dict[str, Any]) -> dict[int, dict[str, float]]:
    """Worker: features of one case with the tumour mask as given, eroded and dilated."""
    case = CaseInput(**payload["case"])
    params = MRIParams.model_validate(payload["params"])
    return {k: features_of(case, params, erode_dilate=k)[0] for k in PERTURBATIONS}


def select(values: pd.DataFrame, icc: pd.Series, threshold: float) -> pd.DataFrame:
    """Greedy selection over a (patients x codes) frame; one row per code with the decision and reason."""
    rows = []
    usable = [c for c in values.columns if values[c].notna().all() and values[c].std() > 0]
    corr = values[usable].corr().abs()
    order = sorted(usable, key=lambda c: (-(icc.get(c, np.nan) if np.isfinite(icc.get(c, np.nan)) else -1.0), c))
    kept: list[str] = []
    for code in order:
        partners = corr.loc[code, kept] if kept else pd.Series(dtype=float)
        worst = partners.idxmax() if len(partners) else None
        r = float(partners.max()) if len(partners) else float("nan")
        if worst is not None and r > threshold:
            rows.append({"code": code, "kept": False, "icc": icc.get(code), "dropped_for": worst, "correlation": r,
                         "reason": f"|r| = {r:.3f} with {worst} (ICC {icc.get(worst, float('nan')):.3f})"})
        else:
            kept.append(code)
            rows.append({"code": code, "kept": True, "icc": icc.get(code), "dropped_for": None,
                         "correlation": r if np.isfinite(r) else None,
                         "reason": "no kept feature correlated above the threshold"})
    for code in sorted(set(values.columns) - set(usable)):
        rows.append({"code": code, "kept": False, "icc": icc.get(code), "dropped_for": None, "correlation": None,
                     "reason": "constant or missing in some cases"})
    return pd.DataFrame(rows)


def reduce_features(con: duckdb.DuckDBPyConnection, manifest: str | Path, params: MRIParams, *,
                    threshold: float = 0.85, max_cases: int = 40, jobs: int = 1) -> pd.DataFrame:
    from radpath.executor import run_cases
    from radpath.mri.extract import mri_cases
    from radpath.warehouse.runs import finish_run, start_run
    from radpath.warehouse.write import replace_rows, transaction

    cohort, cases, _ = mri_cases(con, manifest)
    frame = con.execute("SELECT patient_id, code, value FROM features WHERE modality = 'mri' AND cohort = ?",
                        [cohort]).df()
    if frame.empty:
        raise StatsError(f"no MRI features of cohort {cohort} in the warehouse: run `radpath extract-mri` first")
    values = frame.pivot_table(index="patient_id", columns="code", values="value", aggfunc="first")
    if len(values) < 5:
        raise StatsError(f"redundancy reduction needs at least 5 cases with features, found {len(values)}")
    chosen = [c for c in cases if c[0] in values.index][:max_cases]
    payload = params.model_dump()
    per_case: dict[str, dict[int, dict[str, float]]] = {}
    for result in run_cases(perturbed_features, [(pid, {"case": case, "params": payload}) for pid, case in chosen],
                            jobs=jobs, description="contour perturbations"):
        if result.ok:
            per_case[result.case_id] = result.value
    icc: dict[str, float] = {}
    for code in values.columns:
        table = [[per_case[pid][k].get(code, np.nan) for k in PERTURBATIONS] for pid in per_case]
        array = np.array(table, dtype=float)
        array = array[np.isfinite(array).all(axis=1)]
        icc[code] = icc_3_1(array) if len(array) >= 3 else float("nan")
    decisions = select(values, pd.Series(icc), threshold)
    run = start_run(con, "mri reduce", {"threshold": threshold, "max_cases": max_cases, **payload},
                    {"manifest": str(manifest)})
    decisions.insert(0, "run_id", run.run_id)
    decisions.insert(1, "cohort", cohort)
    decisions["threshold"] = threshold
    with transaction(con):
        replace_rows(con, "mri_reduction", decisions, {"run_id": run.run_id})
    finish_run(con, run, "ok")
    return decisions
