"""Agreement of computational scores with a reference reading: Pearson r, Spearman rho and Bland-Altman.

Used by `segment-wsi` (printed per cohort) and by the report's stromal-TIL figure, so both say the same numbers.
"""

from __future__ import annotations

import pandas as pd


def agreement(frame: pd.DataFrame, measures: list[str], reference: str, min_n: int = 3) -> pd.DataFrame:
    """One row per measure with at least `min_n` patients having both it and `reference`: n, Pearson r,
    Spearman rho, Bland-Altman bias (measure - reference) and 95 % limits of agreement (bias +- 1.96 SD)."""
    from scipy import stats

    rows = []
    for measure in measures:
        if measure not in frame.columns:
            continue
        both = frame[[measure, reference]].dropna()
        if len(both) < min_n:
            continue
        x, y = both[measure].to_numpy(float), both[reference].to_numpy(float)
        diff = x - y
        sd = float(diff.std(ddof=1))
        rows.append({"measure": measure, "n": len(both), "pearson_r": float(stats.pearsonr(x, y)[0]),
                     "spearman_rho": float(stats.spearmanr(x, y)[0]), "bias": float(diff.mean()),
                     "loa_low": float(diff.mean() - 1.96 * sd), "loa_high": float(diff.mean() + 1.96 * sd)})
    return pd.DataFrame(rows, columns=["measure", "n", "pearson_r", "spearman_rho", "bias", "loa_low", "loa_high"])
