"""Read analysis matrices from the warehouse: features (wide), targets and clinical covariates.

Only included patients (`patients.included`) are used. Missing values are handled by complete cases:
`complete_cases` drops the patients lacking any needed value and reports how many it dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from radpath.errors import StatsError

MOLECULAR = {"cyt": "CYT", "tmb": "TMB"}


def feature_matrix(
    con: duckdb.DuckDBPyConnection, cohort: str, modalities: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Patients x codes frame of the cohort's included patients, and code -> modality."""
    where, params = ["f.cohort = ?", "p.included"], [cohort]
    if modalities:
        where.append(f"f.modality IN ({', '.join('?' * len(modalities))})")
        params.extend(modalities)
    if codes:
        where.append(f"f.code IN ({', '.join('?' * len(codes))})")
        params.extend(codes)
    long = con.execute(
        "SELECT f.patient_id, f.modality, f.code, f.value FROM features f "
        "JOIN patients p ON p.patient_id = f.patient_id AND p.cohort = f.cohort "
        f"WHERE {' AND '.join(where)}",
        params,
    ).df()
    if long.empty:
        what = f" of modality {', '.join(modalities)}" if modalities else ""
        if codes:  # the cohort may well have features, only not these: name them, and what it has
            raise StatsError(f"cohort {cohort} has no feature {', '.join(codes)}{what}; "
                             f"{features_it_has(con, cohort, modalities)}")
        raise StatsError(f"cohort {cohort} has no features{what} in the warehouse (run the feature stages first)")
    owners = long.groupby("code")["modality"].unique()
    clash = [str(c) for c, m in owners.items() if len(m) > 1]
    if clash:
        raise StatsError(f"feature codes {clash} exist in several modalities; pass --modality to choose one")
    wide = long.pivot_table(index="patient_id", columns="code", values="value", aggfunc="first", dropna=False)
    wide.columns = [str(c) for c in wide.columns]
    return wide.sort_index(), {str(c): str(m[0]) for c, m in owners.items()}


def features_it_has(con: duckdb.DuckDBPyConnection, cohort: str, modalities: Sequence[str] | None = None) -> str:
    rows = con.execute("SELECT modality, code FROM features WHERE cohort = ? GROUP BY ALL ORDER BY ALL",
                       [cohort]).fetchall()
    if modalities:
        rows = [r for r in rows if r[0] in modalities]
    if not rows:
        return "it has none yet (run the feature stages first)"
    codes = [f"{code} ({modality})" for modality, code in rows]
    more = f", ... ({len(codes)} in all; radpath sql \"SELECT DISTINCT code FROM features\")" if len(codes) > 12 else ""
    return f"features it has: {', '.join(codes[:12])}{more}"


def require_target(con: duckdb.DuckDBPyConnection, cohort: str, name: str) -> str:
    """`name` when it is a target the cohort has (til, cyt, tmb or one of its feature codes), else StatsError
    naming what it has (checked before a run is recorded)."""
    if name.lower() == "til":
        til_target(con, cohort)
        return name
    code = MOLECULAR.get(name.lower(), name)
    row = con.execute("SELECT count(*) FROM features WHERE cohort = ? AND code = ?", [cohort, code]).fetchone()
    if not row or not row[0]:
        raise StatsError(f"--target {name}: cohort {cohort} has no feature {code}; give til, cyt, tmb or a feature "
                         f"code of the cohort ({features_it_has(con, cohort)})")
    return name


def included_ids(con: duckdb.DuckDBPyConnection, cohort: str) -> list[str]:
    """Patient ids of the cohort's included patients (the start of every analysis flow)."""
    rows = con.execute("SELECT patient_id FROM patients WHERE cohort = ? AND included ORDER BY 1", [cohort]).fetchall()
    return [str(r[0]) for r in rows]


def til_target(con: duckdb.DuckDBPyConnection, cohort: str) -> pd.Series:
    """Stromal TIL % of the cohort's included patients."""
    frame = con.execute(
        "SELECT t.patient_id, t.stromal_til_pct FROM til t JOIN patients p USING (cohort, patient_id) "
        "WHERE t.cohort = ? AND p.included ORDER BY t.patient_id",
        [cohort],
    ).df()
    if frame.empty:
        raise StatsError(f"cohort {cohort} has no TIL readings for included patients")
    return frame.set_index("patient_id")["stromal_til_pct"].rename("til")


def target(con: duckdb.DuckDBPyConnection, cohort: str, name: str) -> pd.Series:
    """`til` or a feature code (e.g. CYT, TMB) as a per-patient series."""
    if name.lower() == "til":
        return til_target(con, cohort)
    code = MOLECULAR.get(name.lower(), name)
    frame, _ = feature_matrix(con, cohort, codes=[code])
    return frame[code].rename(code)


STAGE_ORDER = {"I": 1.0, "II": 2.0, "III": 3.0, "IV": 4.0}
CLINICAL = ("stage", "er", "pr", "her2", "tnbc")


def check_adjustments(adjust: Sequence[str], codes: Sequence[str] = ()) -> None:
    """StatsError for an adjustment that is neither clinical nor molecular, or whose feature is already a term
    of the model (`codes`, e.g. CYT); checked before a run is recorded."""
    for name in adjust:
        key = name.lower()
        if key not in CLINICAL and key not in MOLECULAR:
            raise StatsError(f"--adjust {name}: unknown adjustment; known: {', '.join([*CLINICAL, *MOLECULAR])}")
        if MOLECULAR.get(key) in codes:
            raise StatsError(f"--adjust {name}: {MOLECULAR[key]} is already a term of the model (--with); "
                             "adjust for it or model it, not both")


def covariates(con: duckdb.DuckDBPyConnection, cohort: str, names: Sequence[str]) -> pd.DataFrame:
    """Clinical adjustments coded numerically: stage I-IV -> 1-4; er/pr/her2 positive -> 1 else 0;
    tnbc (subtype TNBC) -> 1 else 0. Unknown values become missing."""
    clinical = con.execute(
        "SELECT patient_id, stage, er, pr, her2, subtype FROM clinical WHERE cohort = ?", [cohort]
    ).df().set_index("patient_id")
    out = pd.DataFrame(index=clinical.index)
    for name in names:
        key = name.lower()
        if key == "stage":
            out["stage"] = clinical["stage"].map(STAGE_ORDER)
        elif key in {"er", "pr", "her2"}:
            col = clinical[key]
            out[key] = np.where(col.isin(["positive", "negative"]), (col == "positive").astype(float), np.nan)
        elif key == "tnbc":
            out["tnbc"] = np.where(clinical["subtype"].notna(), (clinical["subtype"] == "TNBC").astype(float),
                                   np.nan)
        else:
            raise StatsError(f"unknown clinical adjustment {name!r}; known: {', '.join(CLINICAL)}")
    return out


def complete_cases(frame: pd.DataFrame, what: str) -> tuple[pd.DataFrame, int]:
    """Rows without missing values, and how many were dropped (an error when none remain)."""
    keep = frame.notna().all(axis=1) & np.isfinite(frame.select_dtypes("number")).all(axis=1)
    if not keep.any():
        raise StatsError(f"{what}: no patient has all the values needed ({len(frame)} with missing values)")
    return frame[keep], int((~keep).sum())


def data_hash(frame: pd.DataFrame) -> str:
    """sha256 of a frame's patient ids, column names and values (stable across runs)."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, frame.index)).encode())
    digest.update("\x1f".join(map(str, frame.columns)).encode())
    digest.update(np.ascontiguousarray(frame.to_numpy(dtype=float)).tobytes())
    return digest.hexdigest()
