"""Named candidate-feature sets for `associate` and `fit-signature` (`--features`).

`--features` takes feature codes and/or set names, comma-separated or repeated: ``--features paper_table1``,
``--features M1,TEX2,BPE1`` or ``--features paper_table1,CYT``. Sets are an explicit registry (no matching by
name patterns). ``paper_table1`` holds the 17 DCE-MRI features of Table 1 of Wu et al., "Magnetic resonance
imaging and molecular features associated with tumor-infiltrating lymphocytes in breast cancer" (Breast
Cancer Research), the paper radpath reproduces: morphology M1-M5, texture of the SER map TEX1-TEX4,
functional tumour volume FTV1-FTV2, background parenchymal enhancement BPE1-BPE4 and tumour-surrounding
BPE TSBPE1-TSBPE2 (the paper's "TS-BPE"). The codes are those the MRI stage writes (a test checks them
against its registry; this core module does not import the MRI stage).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import duckdb
import pandas as pd

from radpath.errors import StatsError
from radpath.stats.data import feature_matrix

FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "paper_table1": (
        "M1", "M2", "M3", "M4", "M5",
        "TEX1", "TEX2", "TEX3", "TEX4",
        "FTV1", "FTV2",
        "BPE1", "BPE2", "BPE3", "BPE4",
        "TSBPE1", "TSBPE2",
    ),
}


def split_items(values: Iterable[str] | None) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (blank items dropped)."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def resolve_features(items: Sequence[str] | None) -> list[str]:
    """Feature codes of `items` (codes and set names, in order, each code once); [] means no restriction."""
    out: list[str] = []
    for item in split_items(items):
        codes = FEATURE_SETS.get(item.lower(), (item,))
        out.extend(c for c in codes if c not in out)
    return out


def check_present(frame: pd.DataFrame, codes: Sequence[str], cohort: str, items: Sequence[str]) -> None:
    """An error listing the requested codes that the cohort's feature matrix lacks."""
    missing = [c for c in codes if c not in frame.columns]
    if missing:
        sets = [i for i in split_items(items) if i.lower() in FEATURE_SETS]
        via = f" (from {', '.join(sets)})" if sets else ""
        raise StatsError(
            f"--features{via}: cohort {cohort} has no feature {', '.join(missing)} in the warehouse "
            f"(known sets: {', '.join(sorted(FEATURE_SETS))}; run the feature stage that writes them)"
        )


def candidate_matrix(
    con: duckdb.DuckDBPyConnection, cohort: str, modalities: Sequence[str] | None, features: Sequence[str] | None,
) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """Patients x candidate features, code -> modality, and the resolved `--features` codes ([] if none).

    Without `features` the candidates are every feature of `modalities` (default mri); with them, exactly
    the named codes, looked up in `modalities` when given and in every modality otherwise.
    """
    codes = resolve_features(features)
    mods = list(modalities or ([] if codes else ["mri"]))
    if not codes:
        matrix, owner = feature_matrix(con, cohort, modalities=mods)
        return matrix, owner, []
    try:
        matrix, owner = feature_matrix(con, cohort, modalities=mods or None, codes=codes)
    except StatsError:
        matrix, owner = pd.DataFrame(), {}
    check_present(matrix, codes, cohort, features or [])
    return matrix[codes], {c: owner[c] for c in codes}, codes
