"""Cross-validated predictions of the fitted TIL models (`cv_predictions`), for estimates that are not in-sample.

A signature's repeated k-fold LASSO (`radpath.stats.signature`) already fits one model per fold and repeat; its
predictions are stored for every patient with ``held_out`` marking the fold's own patients. A composite is
refitted within the same folds: on each fold's training patients, OLS of TIL on that fold's signature
predictions and the molecular terms, applied to every patient. The out-of-fold prediction of a patient is the
mean over the repeats of its held-out predictions; Table 3's cross-validated AUC is computed from it.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from radpath.warehouse import Run, replace_rows

COLUMNS = ["rep", "fold", "patient_id", "predicted", "held_out"]


def write_cv_predictions(con: duckdb.DuckDBPyConnection, run: Run, model: str, version: int, cohort: str,
                         frame: pd.DataFrame) -> int:
    """Store the fold predictions of a model version (replacing that version's rows). Call in a transaction."""
    rows = frame[COLUMNS].copy()
    rows.insert(0, "cohort", cohort)
    rows.insert(0, "version", version)
    rows.insert(0, "model", model)
    rows["run_id"] = run.run_id
    return replace_rows(con, "cv_predictions", rows, {"model": model, "version": version})


def read_cv_predictions(con: duckdb.DuckDBPyConnection, model: str, version: int, cohort: str) -> pd.DataFrame:
    """The stored fold predictions of a model version on the cohort it was fitted on (empty when none)."""
    return con.execute(f"SELECT {', '.join(COLUMNS)} FROM cv_predictions WHERE model = ? AND version = ? "
                       "AND cohort = ? ORDER BY rep, fold, patient_id", [model, version, cohort]).df()


def out_of_fold(frame: pd.DataFrame) -> pd.Series:
    """Each patient's out-of-fold prediction: the mean over the repeats of its held-out predictions."""
    held = frame[frame["held_out"].astype(bool)]
    return held.groupby("patient_id")["predicted"].mean()


def count_repeats(frame: pd.DataFrame) -> int:
    return int(frame["rep"].nunique()) if len(frame) else 0


def refit_within_folds(component: pd.DataFrame, term: str, terms: pd.DataFrame, til: pd.Series) -> pd.DataFrame:
    """Fold predictions of a linear model of TIL on a component's prediction (column `term` of `terms`) and the
    other columns of `terms`, refitted within the component's folds (OLS with intercept on each fold's
    training patients, predicting every patient). Patients are those of `terms` (complete rows, with TIL) that
    the component's cross-validation covered; a fold with fewer training patients than terms + 2 is skipped."""
    ids = [p for p in terms.index.astype(str) if p in set(component["patient_id"])]
    if not ids or component.empty:
        return pd.DataFrame(columns=COLUMNS)
    part = component[component["patient_id"].isin(ids)]
    wide = part.pivot(index=["rep", "fold"], columns="patient_id", values="predicted")[ids]
    held = part.pivot(index=["rep", "fold"], columns="patient_id", values="held_out")[ids].to_numpy(dtype=bool)
    others = terms.reindex(ids).drop(columns=[term]).to_numpy(dtype=float)
    y = til.reindex(ids).to_numpy(dtype=float)
    rows = []
    for k, (rep, fold) in enumerate(wide.index):
        train = ~held[k]
        design = np.column_stack([np.ones(len(ids)), wide.iloc[k].to_numpy(dtype=float), others])
        if train.sum() < design.shape[1] + 1:
            continue
        coef = np.linalg.lstsq(design[train], y[train], rcond=None)[0]
        rows.append(pd.DataFrame({"rep": int(rep), "fold": int(fold), "patient_id": ids,
                                  "predicted": design @ coef, "held_out": held[k]}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=COLUMNS)
