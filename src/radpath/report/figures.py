"""Manuscript figures (PNG and SVG) drawn from the warehouse.

`FIGURES` is the explicit registry. Each function draws one figure (or one per subgroup) into `out`
and returns the files written, or raises `FigureSkipped` saying which analysis has not been run yet.
matplotlib is used through its object API on an Agg canvas: no global backend is set.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from radpath.plotting import new_figure, save_png_svg
from radpath.report.tables import CATEGORIES, report_cohort

PAIRS = (("low", "intermediate"), ("low", "high"), ("intermediate", "high"))
CATEGORY_COLOURS = {"low": "#2471a3", "intermediate": "#d68910", "high": "#c0392b"}


class FigureSkipped(Exception):
    """The figure's input is not in the warehouse (the analysis has not been run)."""


def _wide_features(con: duckdb.DuckDBPyConnection, cohort: str, modality: str) -> pd.DataFrame:
    long = con.execute(
        "SELECT f.patient_id, f.code, f.value, t.stromal_til_pct FROM features f "
        "JOIN patients p USING (cohort, patient_id) JOIN til t USING (cohort, patient_id) "
        "WHERE p.included AND f.cohort = ? AND f.modality = ?", [cohort, modality]).df()
    if long.empty:
        raise FigureSkipped(f"no {modality} features for cohort {cohort} (run the {modality} stage first)")
    wide = long.pivot_table(index=["patient_id", "stromal_til_pct"], columns="code", values="value")
    return wide.reset_index().sort_values("stromal_til_pct").reset_index(drop=True)


def feature_heatmap(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """MRI features (z-scored) of the training cohort's patients ranked by stromal TILs."""
    cohort = report_cohort(con, cohort)
    wide = _wide_features(con, cohort, "mri")
    codes = [c for c in wide.columns if c not in ("patient_id", "stromal_til_pct")]
    values = wide[codes].astype(float)
    values = values.loc[:, values.std(ddof=0) > 0]
    ranked = con.execute(
        "SELECT code FROM table_associations WHERE cohort = ? AND modality = 'mri' AND target = 'til' "
        "ORDER BY p_value", [cohort]).df()["code"].tolist()
    order = [c for c in ranked if c in values.columns] or list(values.columns)
    values = values[order[:40]]
    z = ((values - values.mean()) / values.std(ddof=0)).clip(-3, 3).fillna(0.0)
    fig = new_figure(8.0, 0.18 * z.shape[1] + 2.2)
    grid = fig.add_gridspec(2, 2, height_ratios=[0.6, 0.18 * z.shape[1]], width_ratios=[30, 1], hspace=0.05)
    top = fig.add_subplot(grid[0, 0])
    top.bar(np.arange(len(wide)), wide["stromal_til_pct"], width=1.0, color="#7f8c8d")
    top.set_xlim(-0.5, len(wide) - 0.5)
    top.set_ylabel("sTIL %", fontsize=7)
    top.set_xticks([])
    top.set_title(f"{cohort}: MRI features of {len(wide)} patients ranked by stromal TILs (z-scores)", fontsize=9)
    ax = fig.add_subplot(grid[1, 0])
    image = ax.imshow(z.T.to_numpy(), aspect="auto", cmap="RdBu_r", vmin=-3, vmax=3, interpolation="nearest")
    ax.set_yticks(range(z.shape[1]))
    ax.set_yticklabels(z.columns, fontsize=6)
    ax.set_xlabel("patients (ascending stromal TILs)")
    ax.set_xticks([])
    fig.colorbar(image, cax=fig.add_subplot(grid[1, 1]), label="z")
    return save_png_svg(fig, out / "feature_heatmap")


def correlation_heatmap(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """Pearson r of features with TIL, TMB and CYT; * marks P < 0.05 and FDR < 0.2 (paper Fig. 3)."""
    cohort = report_cohort(con, cohort)
    frame = con.execute("SELECT code, target, r, significant, p_value FROM table_associations WHERE cohort = ?",
                        [cohort]).df()
    if frame.empty:
        raise FigureSkipped("no associations stored (run `radpath associate` first)")
    best = frame.groupby("code")["p_value"].min().sort_values()
    codes = best.index[:40].tolist()
    r = frame.pivot_table(index="code", columns="target", values="r").loc[codes]
    marks = frame.pivot_table(index="code", columns="target", values="significant", aggfunc="max").loc[codes]
    fig = new_figure(2.0 + 1.1 * r.shape[1], 0.2 * len(codes) + 1.5)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(r.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            if bool(marks.iloc[i, j]) is True:
                ax.text(j, i, "*", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(r.shape[1]))
    ax.set_xticklabels(r.columns)
    ax.set_yticks(range(r.shape[0]))
    ax.set_yticklabels(r.index, fontsize=6)
    ax.set_title(f"{cohort}: feature correlations (* P<0.05, FDR<0.2)", fontsize=9)
    fig.colorbar(image, ax=ax, label="Pearson r")
    return save_png_svg(fig, out / "correlation_heatmap")


def _predictions(con: duckdb.DuckDBPyConnection, cohort: str) -> pd.DataFrame:
    frame = con.execute(
        "SELECT mp.model, mp.patient_id, mp.predicted, t.stromal_til_pct, t.til_category "
        "FROM model_predictions mp JOIN latest_models lm ON lm.name = mp.model AND lm.version = mp.version "
        "JOIN til t ON t.cohort = mp.cohort AND t.patient_id = mp.patient_id WHERE mp.cohort = ?", [cohort]).df()
    if frame.empty:
        raise FigureSkipped(f"no model predictions with TIL readings for cohort {cohort} (run fit-signature)")
    return frame


def predicted_boxplots(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """Predicted TIL by observed TIL category, one panel per model (training cohort)."""
    cohort = report_cohort(con, cohort)
    frame = _predictions(con, cohort)
    models = sorted(frame["model"].unique())
    fig = new_figure(3.2 * len(models), 3.4)
    for k, model in enumerate(models):
        ax = fig.add_subplot(1, len(models), k + 1)
        part = frame[frame["model"] == model]
        data = [part.loc[part["til_category"] == c, "predicted"].to_numpy() for c in CATEGORIES]
        ax.boxplot(data, tick_labels=[f"{c}\n(n={len(d)})" for c, d in zip(CATEGORIES, data, strict=True)])
        for i, d in enumerate(data):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(d))
            ax.plot(np.full(len(d), i + 1) + jitter, d, ".", color=CATEGORY_COLOURS[CATEGORIES[i]], alpha=0.6)
        ax.set_title(model, fontsize=9)
        ax.set_ylabel("predicted stromal TIL (%)" if k == 0 else "")
    return save_png_svg(fig, out / "predicted_til_boxplots")


def roc_curves(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """ROC curves of each model for each TIL-category pair (training cohort)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    cohort = report_cohort(con, cohort)
    frame = _predictions(con, cohort)
    fig = new_figure(10.0, 3.5)
    for k, (lower, higher) in enumerate(PAIRS):
        ax = fig.add_subplot(1, 3, k + 1)
        for model, part in frame.groupby("model"):
            part = part[part["til_category"].isin([lower, higher])]
            y = (part["til_category"] == higher).to_numpy(dtype=int)
            if y.min(initial=1) == y.max(initial=0):
                continue
            fpr, tpr, _ = roc_curve(y, part["predicted"])
            ax.plot(fpr, tpr, label=f"{model} (AUC {roc_auc_score(y, part['predicted']):.2f})")
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_title(f"{lower} vs {higher}", fontsize=9)
        ax.set_xlabel("1 - specificity")
        ax.set_ylabel("sensitivity" if k == 0 else "")
        ax.legend(fontsize=7, loc="lower right")
    return save_png_svg(fig, out / "roc_curves")


def km_curves(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Kaplan-Meier curves with at-risk tables per subgroup, redrawn from the stored survival groups."""
    from radpath.stats.survival import km
    from radpath.stats.survival_plot import plot_km

    groups = con.execute(
        "SELECT g.* FROM survival_groups g WHERE g.run_id = (SELECT run_id FROM survival_groups s JOIN runs r "
        "USING (run_id) ORDER BY r.started_at DESC LIMIT 1)").df()
    if groups.empty:
        raise FigureSkipped("no survival analysis stored (run `radpath validate-survival` first)")
    paths: list[Path] = []
    first = groups.iloc[0]
    order = [g for g in ("low", "intermediate", "high", "high+intermediate", "intermediate+high")
             if g in set(groups["til_group"])]
    order += sorted(set(groups["til_group"]) - set(order))
    subsets = [("all", groups)] + [(s, part) for s, part in groups.groupby("subtype") if s]
    for name, part in subsets:
        result = km(part["time_days"], part["event"], part["til_group"])
        slug = "".join(ch if ch.isalnum() else "_" for ch in str(name)).strip("_").lower()
        paths += plot_km(result, out / f"km_{slug}", order=[g for g in order if g in set(part["til_group"])],
                         title=f"{first['cohort']} {first['endpoint'].upper()} by predicted TIL ({first['model']}), "
                               f"{name}")
    return paths


def til_map_montage(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Combined Tumour-TIL maps (R lymphocyte, G tumour, B tissue) over slide thumbnails, two slides per
    pathologist TIL category (the lowest- and highest-scoring of each), from `score-wsi`'s map files."""
    from PIL import Image

    frame = con.execute(
        "SELECT s.patient_id, s.rgb_map, s.overlay_png, c.til_score, c.stromal_til_pct, c.til_category "
        "FROM pathology_slides s JOIN pathology_til_comparison c USING (cohort, patient_id) "
        "WHERE s.rgb_map IS NOT NULL ORDER BY c.til_score").df()
    frame = frame[[Path(p).exists() for p in frame["rgb_map"]]]
    if frame.empty:
        raise FigureSkipped("no Tumour-TIL map files found (run `radpath score-wsi` first)")
    picks = []
    for category in CATEGORIES:
        part = frame[frame["til_category"] == category]
        picks += [part.iloc[0], part.iloc[-1]] if len(part) > 1 else [row for _, row in part.iterrows()]
    picks = picks or [row for _, row in frame.head(6).iterrows()]
    fig = new_figure(2.6 * len(picks), 4.2)
    for k, row in enumerate(picks):
        for r, column in enumerate(("overlay_png", "rgb_map")):
            ax = fig.add_subplot(2, len(picks), r * len(picks) + k + 1)
            path = row[column]
            if isinstance(path, str) and Path(path).exists():
                ax.imshow(np.asarray(Image.open(path).convert("RGB")), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{row['patient_id']}\nsTIL {row['stromal_til_pct']:.0f}% ({row['til_category']})\n"
                             f"TIL score {row['til_score']:.1f}%", fontsize=7)
    fig.suptitle("Tumour-TIL maps (red: lymphocytes, green: tumour, blue: tissue)", fontsize=9)
    return save_png_svg(fig, out / "til_map_montage")


def til_score_scatter(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Computational TIL score against the pathologists' stromal TIL reading, with Pearson and Spearman r."""
    from scipy import stats

    frame = con.execute("SELECT * FROM pathology_til_comparison WHERE stromal_til_pct IS NOT NULL "
                        "AND til_score IS NOT NULL").df()
    if len(frame) < 3:
        raise FigureSkipped("fewer than 3 slides with both a TIL score and a pathologist reading")
    pearson = stats.pearsonr(frame["stromal_til_pct"], frame["til_score"])[0]
    spearman = stats.spearmanr(frame["stromal_til_pct"], frame["til_score"])[0]
    fig = new_figure(4.2, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for category in CATEGORIES:
        part = frame[frame["til_category"] == category]
        ax.plot(part["stromal_til_pct"], part["til_score"], "o", ms=4, alpha=0.7,
                color=CATEGORY_COLOURS[category], label=f"{category} (n={len(part)})")
    ax.set_xlabel("pathologist stromal TILs (%)")
    ax.set_ylabel("computational TIL score (%)")
    ax.set_title(f"Pearson r = {pearson:.2f}, Spearman = {spearman:.2f} (n = {len(frame)})", fontsize=9)
    ax.legend(fontsize=7)
    return save_png_svg(fig, out / "til_score_vs_reading")


FIGURES: dict[str, Callable[[duckdb.DuckDBPyConnection, Path], list[Path]]] = {
    "feature_heatmap": feature_heatmap,
    "correlation_heatmap": correlation_heatmap,
    "predicted_til_boxplots": predicted_boxplots,
    "roc_curves": roc_curves,
    "km_curves": km_curves,
    "til_map_montage": til_map_montage,
    "til_score_vs_reading": til_score_scatter,
}


def draw_figures(
    con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None
) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """Draw every registered figure: (files per figure, reason per figure not drawn). Figures of one cohort
    (those whose function takes `cohort`) describe `cohort`, by default `report.tables.default_cohort`."""
    import inspect

    cohort = report_cohort(con, cohort)
    drawn: dict[str, list[Path]] = {}
    skipped: dict[str, str] = {}
    for name, draw in FIGURES.items():
        try:
            if "cohort" in inspect.signature(draw).parameters:
                drawn[name] = draw(con, out, cohort=cohort)  # type: ignore[call-arg]
            else:
                drawn[name] = draw(con, out)
        except FigureSkipped as exc:
            skipped[name] = str(exc)
    return drawn, skipped
