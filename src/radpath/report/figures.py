"""Manuscript figures (PNG and SVG) drawn from the warehouse.

`FIGURES` is the explicit registry. Each function draws one figure (or one per subgroup) into `out`
and returns the files written, or raises `FigureSkipped` saying which analysis has not been run yet.
matplotlib is used through its object API on an Agg canvas: no global backend is set.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from radpath import numbers as fmt
from radpath.plotting import new_figure, save_png_svg
from radpath.report.tables import CATEGORIES, report_cohort

PAIRS = (("low", "intermediate"), ("low", "high"), ("intermediate", "high"))
CATEGORY_COLOURS = {"low": "#2471a3", "intermediate": "#d68910", "high": "#c0392b"}
MODEL_COLOURS = ("#1b4f72", "#b03a2e", "#1e8449", "#7d3c98", "#b9770e", "#566573")
ANALYSES = {"evaluate": "Evaluation (Table 3) of", "fit-composite": "Composite model fit of"}


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


def _predictions(con: duckdb.DuckDBPyConnection,
                 cohort: str | None = None) -> tuple[pd.DataFrame, str, dict[str, str]]:
    """The newest evaluation's stored predictions (every model on the same patients; of `cohort` if given),
    its cohort, and each model's label in the evaluation's order (the evaluated model first)."""
    from radpath.report.layout import evaluation_predictions, latest_evaluation, model_labels

    ev = latest_evaluation(con, cohort)
    if ev is None:
        raise FigureSkipped("no stored evaluation (run `radpath evaluate --cohort C --model M --compare OTHER`)")
    frame = evaluation_predictions(con, ev).rename(columns={"observed_til": "stromal_til_pct"})
    return frame, ev.cohort, {m: label for m, (label, _, _) in model_labels(con, ev.models).items()}


def predicted_boxplots(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """Predicted TIL by observed TIL category, one panel per model titled by its label (the stored evaluation's
    patients; panels in the evaluation's order, at most three per row)."""
    frame, cohort, labels = _predictions(con, cohort)
    models = list(labels)
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    fig = new_figure(3.4 * columns, 3.6 * rows)
    fig.subplots_adjust(hspace=0.65, wspace=0.3)
    for k, model in enumerate(models):
        ax = fig.add_subplot(rows, columns, k + 1)
        part = frame[frame["model"] == model]
        data = [part.loc[part["til_category"] == c, "predicted"].to_numpy() for c in CATEGORIES]
        ax.boxplot(data, tick_labels=[f"{c}\n(n={len(d)})" for c, d in zip(CATEGORIES, data, strict=True)])
        ax.tick_params(axis="x", labelsize=8)
        for i, d in enumerate(data):
            jitter = np.random.default_rng(i).uniform(-0.12, 0.12, len(d))
            ax.plot(np.full(len(d), i + 1) + jitter, d, ".", color=CATEGORY_COLOURS[CATEGORIES[i]], alpha=0.6)
        ax.axhline(0.0, color="grey", lw=0.6, ls=":")
        ax.set_title(textwrap.fill(labels[model], 34) + f"\n{cohort}, n = {len(part)}", fontsize=8)
        ax.set_ylabel("predicted stromal TIL (%)" if k % columns == 0 else "")
    return save_png_svg(fig, out / "predicted_til_boxplots")


def roc_curves(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """ROC curves of each model for each TIL-category pair (the stored evaluation's patients); each panel's
    legend (model label and AUC) sits below it, clear of the curves and the tick labels."""
    from sklearn.metrics import roc_auc_score, roc_curve

    frame, cohort, labels = _predictions(con, cohort)
    colours = {m: MODEL_COLOURS[k % len(MODEL_COLOURS)] for k, m in enumerate(labels)}
    fig = new_figure(11.0, 4.2 + 0.18 * len(labels))
    fig.subplots_adjust(wspace=0.3)
    for k, (lower, higher) in enumerate(PAIRS):
        ax = fig.add_subplot(1, 3, k + 1)
        n_pair = 0
        for model in labels:
            part = frame[(frame["model"] == model) & frame["til_category"].isin([lower, higher])]
            y = (part["til_category"] == higher).to_numpy(dtype=int)
            if y.min(initial=1) == y.max(initial=0):
                continue
            fpr, tpr, _ = roc_curve(y, part["predicted"])
            auc = fmt.number(roc_auc_score(y, part["predicted"]))
            ax.plot(fpr, tpr, color=colours[model], label=f"{textwrap.fill(labels[model], 40)} (AUC {auc})")
            n_pair = len(part)
        ax.plot([0, 1], [0, 1], ":", color="grey")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_aspect("equal")
        ax.set_title(f"{lower} vs {higher} (n = {n_pair})", fontsize=9)
        ax.set_xlabel("1 − specificity")
        ax.set_ylabel("sensitivity" if k == 0 else "")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return save_png_svg(fig, out / "roc_curves")


def km_curves(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Kaplan-Meier curves with at-risk tables, one figure per subgroup (all patients, each subtype), redrawn
    from the newest survival analysis's stored groups, with its stored log-rank P."""
    from radpath.stats.survival import km
    from radpath.stats.survival_plot import plot_km

    groups = con.execute(
        "SELECT g.* FROM survival_groups g WHERE g.run_id = (SELECT run_id FROM survival_groups s JOIN runs r "
        "USING (run_id) ORDER BY r.started_at DESC LIMIT 1)").df()
    if groups.empty:
        raise FigureSkipped("no survival analysis stored (run `radpath validate-survival` first)")
    first = groups.iloc[0]
    logrank = con.execute(
        "SELECT subgroup, term, p_value, estimable, note FROM survival_results WHERE run_id = ? "
        "AND statistic = 'logrank' ORDER BY term = 'k groups' DESC", [first["run_id"]]).df()
    paths: list[Path] = []
    order = [g for g in ("low", "intermediate", "high", "high+intermediate", "low+intermediate")
             if g in set(groups["til_group"])]
    order += sorted(set(groups["til_group"]) - set(order))
    model_label = _label(con, str(first["model"]))
    subsets = [("all", groups)] + [(str(s), part) for s, part in groups.groupby("subtype") if s]
    for name, part in subsets:
        result = km(part["time_days"], part["event"], part["til_group"])
        tests = logrank[logrank["subgroup"] == name]
        annotation = ""
        if len(tests):
            t = tests.iloc[0]
            annotation = f"log-rank {fmt.p_text(t['p_value'])}" if bool(t["estimable"]) else str(t["note"])
        title = (f"{first['cohort']} {first['endpoint'].upper()} by predicted TIL ({model_label}), "
                 f"{_subgroup_text(name)}")
        paths += plot_km(result, out / f"km_{_slug(name)}", order=[g for g in order if g in set(part["til_group"])],
                         title=title, annotation=annotation)
    return paths


def _subgroup_text(name: str) -> str:
    """A subgroup in a KM title or caption: 'all' -> 'all patients', 'HR+/HER2-' -> 'HR+/HER2− patients'."""
    from radpath.report.layout import subgroup_label

    return "all patients" if name == "all" else f"{subgroup_label(name)} patients"


def _slug(name: str) -> str:
    """File-name part for a subgroup: 'HR+/HER2-' -> 'hrpos_her2neg', 'all' -> 'all'."""
    text = str(name).replace("+", "pos").replace("-", "neg")
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_").lower()


def montage_picks(frame: pd.DataFrame) -> list[pd.Series]:
    """The lowest- and highest-scoring slide of each TIL category present, in category order; ties of the TIL
    score broken by patient id, so the same warehouse always gives the same montage."""
    frame = frame.sort_values(["til_score", "patient_id"], kind="mergesort").reset_index(drop=True)
    picks: list[pd.Series] = []
    for category in CATEGORIES:
        part = frame[frame["til_category"] == category]
        picks += [part.iloc[0], part.iloc[-1]] if len(part) > 1 else [row for _, row in part.iterrows()]
    return picks or [row for _, row in frame.head(6).iterrows()]


def til_map_montage(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Tumour-TIL maps over slide thumbnails (score-wsi's overlay.png, its legend below it) and alone, two slides
    per pathologist TIL category (the lowest- and highest-scoring of each; ties by patient id), from `score-wsi`'s
    map files, in the shared palette (radpath.palettes.TUMOR_TIL: tumour yellow, TIL-positive red, other tissue
    grey, at each slide's thresholds). A category without slides is left out; the map row carries the legend."""
    from PIL import Image

    from radpath.palettes import TUMOR_TIL, colourise, legend_handles, map_labels

    frame = con.execute(
        "SELECT s.patient_id, s.rgb_map, s.overlay_png, c.til_score, c.stromal_til_pct, c.til_category, "
        "p.tumor_threshold, p.lymphocyte_threshold "
        "FROM pathology_slides s JOIN pathology_til_comparison c USING (cohort, patient_id) "
        "LEFT JOIN pathology_scores p USING (cohort, patient_id) "
        "WHERE s.rgb_map IS NOT NULL ORDER BY c.til_score, s.patient_id").df()
    frame = frame[[Path(p).exists() for p in frame["rgb_map"]]].reset_index(drop=True)
    if frame.empty:
        raise FigureSkipped("no Tumour-TIL map files found (run `radpath score-wsi` first)")
    picks = montage_picks(frame)
    fig = new_figure(2.6 * len(picks) + 1.8, 5.0)
    fig.subplots_adjust(top=0.78, right=1.0 - 1.8 / (2.6 * len(picks) + 1.8), wspace=0.08, hspace=0.08)
    for k, row in enumerate(picks):
        for r, column in enumerate(("overlay_png", "rgb_map")):
            ax = fig.add_subplot(2, len(picks), r * len(picks) + k + 1)
            path = row[column]
            if isinstance(path, str) and Path(path).exists():
                image = np.asarray(Image.open(path).convert("RGB"))
                if column == "rgb_map":
                    labels = map_labels(image, float(np.nan_to_num(row["tumor_threshold"], nan=0.5)),
                                        float(np.nan_to_num(row["lymphocyte_threshold"], nan=0.5)))
                    image = colourise(labels, TUMOR_TIL)
                    image[image[..., 3] == 0] = 255          # glass white
                    image = image[..., :3]
                ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"{row['patient_id']}\nsTIL {fmt.number(row['stromal_til_pct'], 0)}% "
                             f"({row['til_category']})\nTIL score {fmt.number(row['til_score'], 1)}%", fontsize=7)
            if k == len(picks) - 1 and r == 1:
                ax.legend(handles=legend_handles(TUMOR_TIL), title=TUMOR_TIL.title, fontsize=6, title_fontsize=7,
                          frameon=False, loc="center left", bbox_to_anchor=(1.04, 0.5))
    fig.suptitle("Tumour-TIL maps, two slides per pathologist TIL category (lowest and highest TIL score)",
                 fontsize=9, y=0.99)
    return save_png_svg(fig, out / "til_map_montage")


FLOW_LINE_IN = 0.115          # one line of 6.5 pt text, in inches
FLOW_GAP_IN = 0.34            # between two boxes of a chain (the arrow)


def _flow_box_height(text: str) -> float:
    return FLOW_LINE_IN * (text.count("\n") + 1) + 0.09


def inclusion_flow(con: duckdb.DuckDBPyConnection, out: Path) -> list[Path]:
    """Patient flow (paper Figure S1): each cohort's inclusion criteria, then the steps of the stored evaluation
    and composite fit, as boxes with the patients left, and beside each arrow the patients excluded there with
    the reason. Boxes are placed by their height (the axes' y unit is an inch), so none overlaps an arrow."""
    from radpath.stats.flow import dropped_as, read_flow

    inclusion = con.execute("SELECT * FROM inclusion_flow ORDER BY cohort, step").df()
    if inclusion.empty:
        raise FigureSkipped("no inclusion flow stored (run `radpath ingest` first)")
    cohorts = list(dict.fromkeys(inclusion["cohort"]))
    # (box text, n excluded before it, starts a new chain: no arrow into it, excluded box text)
    columns: list[tuple[str, list[tuple[str, bool, str]]]] = []
    for cohort in cohorts:
        part = inclusion[inclusion["cohort"] == cohort]
        steps: list[tuple[str, bool, str]] = []
        for k, r in enumerate(part.itertuples(index=False)):
            reason = getattr(r, "exclusion_reason", None)
            why = f"\n{textwrap.fill(reason, 24)}" if isinstance(reason, str) and reason else ""
            steps.append((f"{textwrap.fill(str(r.criterion), 36)}\nn = {int(r.n_after)}", k == 0,
                          f"excluded: {int(r.n_excluded)}{why}" if r.n_excluded else ""))
        flows = con.execute("SELECT DISTINCT analysis, subject FROM latest_analysis_flow WHERE cohort = ? "
                            "ORDER BY analysis DESC, subject", [cohort]).fetchall()
        for analysis, subject in flows:
            flow = read_flow(con, cohort, str(analysis), str(subject))
            title = textwrap.fill(f"{ANALYSES.get(str(analysis), str(analysis))} {_label(con, str(subject))}:", 36)
            for k, r in enumerate(flow.itertuples(index=False)):
                text = f"{textwrap.fill(str(r.description), 36)}\nn = {int(r.n_after)}"
                excluded = (f"excluded: {int(r.n_dropped)}\n{textwrap.fill(dropped_as(str(r.description)), 24)}"
                            if r.n_dropped else "")
                steps.append((f"{title}\n{text}" if k == 0 else text, k == 0, excluded))
        columns.append((cohort, steps))
    # y of each box centre, in inches from the top
    layouts = []
    for _, steps in columns:
        ys, y = [], 0.0
        for k, (text, start, excluded) in enumerate(steps):
            if k:
                gap = max(FLOW_GAP_IN, _flow_box_height(excluded) + 0.12 if excluded else 0.0)
                y += _flow_box_height(steps[k - 1][0]) / 2 + gap + (0.12 if start else 0.0)
                y += _flow_box_height(text) / 2
            ys.append(y)
        layouts.append(ys)
    depth = max(ys[-1] + _flow_box_height(steps[-1][0]) / 2 for ys, (_, steps) in zip(layouts, columns, strict=True))
    top = max(_flow_box_height(steps[0][0]) / 2 for _, steps in columns) + 0.05
    height = depth + top + 0.1
    fig = new_figure(5.2 * len(columns), height + 0.45)
    for c, ((cohort, steps), ys) in enumerate(zip(columns, layouts, strict=True)):
        ax = fig.add_axes((c / len(columns), 0.0, 1.0 / len(columns), height / (height + 0.45)))
        ax.set_xlim(0, 10)
        ax.set_ylim(-(depth + 0.1), top)
        ax.axis("off")
        ax.set_title(cohort, fontsize=10)
        for k, (text, start, excluded) in enumerate(steps):
            y = -ys[k]
            ax.text(3.0, y, text, ha="center", va="center", fontsize=6.5, fontweight="bold" if start else "normal",
                    bbox={"boxstyle": "round,pad=0.3", "fc": "#eaf2f8", "ec": "#2471a3"})
            if start and k == 0:
                continue
            above = -ys[k - 1] - _flow_box_height(steps[k - 1][0]) / 2
            below = y + _flow_box_height(text) / 2
            if not start:
                ax.annotate("", xy=(3.0, below), xytext=(3.0, above), arrowprops={"arrowstyle": "->", "color": "#555"})
            if excluded and not start:
                middle = (above + below) / 2
                ax.text(7.1, middle, excluded, ha="left", va="center", multialignment="center", fontsize=6.5,
                        bbox={"boxstyle": "round,pad=0.3", "fc": "#fdedec", "ec": "#c0392b"})
                ax.annotate("", xy=(6.95, middle), xytext=(3.05, middle),
                            arrowprops={"arrowstyle": "->", "color": "#c0392b"})
    return save_png_svg(fig, out / "inclusion_flow")


def _label(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The label of the newest version of model `name` (the name when there is no such model)."""
    import json

    row = con.execute("SELECT artifact FROM models WHERE name = ? ORDER BY version DESC LIMIT 1", [name]).fetchone()
    return str(json.loads(row[0]).get("label") or name) if row else name


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


STROMAL_MEASURES = {"stromal_til": "stromal TIL, cells (%)",
                    "stromal_til_patch": "stromal TIL, map (%)",
                    "til_score": "tumour-bed TIL (%)"}


def stromal_til_scatter(con: duckdb.DuckDBPyConnection, out: Path, cohort: str | None = None) -> list[Path]:
    """The stromal TIL scores of `segment-wsi` and the tumour-bed TIL score against the pathologists' reading,
    one panel each, titled with Pearson r, Spearman rho and the Bland-Altman bias (limits of agreement)."""
    from radpath.stats.agreement import agreement

    cohort = report_cohort(con, cohort)
    frame = con.execute("SELECT * FROM seg_til_comparison WHERE cohort = ? AND stromal_til_pct IS NOT NULL",
                        [cohort]).df()
    stats_ = agreement(frame, list(STROMAL_MEASURES), "stromal_til_pct")
    if stats_.empty or not stats_["measure"].isin(["stromal_til", "stromal_til_patch"]).any():
        raise FigureSkipped(f"no stromal TIL scores with a pathologist reading for cohort {cohort} "
                            "(run segment-wsi)")
    fig = new_figure(4.4 * len(stats_), 4.0)
    for k, row in enumerate(stats_.itertuples(index=False)):
        ax = fig.add_subplot(1, len(stats_), k + 1)
        for category in CATEGORIES:
            part = frame[frame["til_category"] == category]
            ax.plot(part["stromal_til_pct"], part[row.measure], "o", ms=4, alpha=0.7,
                    color=CATEGORY_COLOURS[category], label=f"{category} (n={len(part)})")
        ax.plot([0, 100], [0, 100], ":", color="grey", lw=0.8)
        ax.set_xlabel("pathologist stromal TILs (%)")
        ax.set_ylabel(STROMAL_MEASURES[row.measure])
        ax.set_title(f"r = {row.pearson_r:.2f}, rho = {row.spearman_rho:.2f}, n = {row.n}\n"
                     f"bias {row.bias:+.1f} ({row.loa_low:.1f} to {row.loa_high:.1f})", fontsize=8)
        if k == 0:
            ax.legend(fontsize=7)
    return save_png_svg(fig, out / "stromal_til_vs_reading")


FIGURES: dict[str, Callable[[duckdb.DuckDBPyConnection, Path], list[Path]]] = {
    "feature_heatmap": feature_heatmap,
    "correlation_heatmap": correlation_heatmap,
    "predicted_til_boxplots": predicted_boxplots,
    "roc_curves": roc_curves,
    "km_curves": km_curves,
    "til_map_montage": til_map_montage,
    "til_score_vs_reading": til_score_scatter,
    "stromal_til_vs_reading": stromal_til_scatter,
    "inclusion_flow": inclusion_flow,
}

CAPTIONS: dict[str, str] = {
    "feature_heatmap": "MRI features (z-scores) of the training cohort's patients ranked by stromal TILs.",
    "correlation_heatmap": "Pearson correlation of the features most associated with TIL, TMB and CYT; * P < 0.05 "
                           "and FDR < 0.2 (Benjamini–Hochberg).",
    "predicted_til_boxplots": "Predicted stromal TIL by the pathologists' TIL category, one panel per model, on the "
                              "stored evaluation's patients (the patients of Table 3); in-sample for models fitted "
                              "on this cohort. Dotted line: 0%.",
    "roc_curves": "ROC curves of each model for each pair of TIL categories, on the stored evaluation's patients "
                  "(the AUCs of Table 3). Curves of models fitted on this cohort are apparent (in-sample); Table 3 "
                  "gives their cross-validated AUC.",
    "km_curves": "Kaplan–Meier estimates of {endpoint} by predicted TIL group, {subgroup}; numbers at risk below; "
                 "log-rank P as in the survival table.",
    "til_map_montage": "Tumour–TIL maps (top: slide thumbnail with the map overlaid; bottom: the map, red "
                       "lymphocytes, green tumour, blue tissue), two slides per pathologist TIL category.",
    "til_score_vs_reading": "Computational TIL score against the pathologists' stromal TIL reading.",
    "stromal_til_vs_reading": "Stromal TIL scores from the tissue compartments (TIGER: TILs counted in stroma; "
                              "lymphocyte map restricted to stroma) and the tumour-bed TIL score against the "
                              "pathologists' stromal TIL reading; dotted line: identity. Title: Pearson r, "
                              "Spearman rho, Bland–Altman bias (95% limits of agreement).",
    "inclusion_flow": "Patient flow (Figure S1): inclusion criteria per cohort, then the patients each analysis "
                      "kept, with the numbers excluded at each step.",
}


def caption(name: str, png: Path) -> str:
    """The caption printed under a figure in the report (KM figures name their subgroup)."""
    text = CAPTIONS.get(name, png.stem)
    if name == "km_curves":
        from radpath.report.layout import SUBGROUP_LABELS

        sub = png.stem.removeprefix("km_")
        label = {_slug(g): _subgroup_text(g) for g in SUBGROUP_LABELS}.get(sub, sub)
        text = text.format(endpoint="survival", subgroup=label)
    return text


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
