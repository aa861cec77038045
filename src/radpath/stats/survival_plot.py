"""Kaplan–Meier figure with the numbers-at-risk table underneath (paper Fig. 8), as PNG and SVG.

matplotlib is imported inside the function and drawn on an Agg canvas, so no global backend is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radpath.plotting import new_figure, save_png_svg
from radpath.stats.survival import KMResult

COLOURS = ("#c0392b", "#2471a3", "#27ae60", "#8e44ad", "#d68910")


def plot_km(
    result: KMResult,
    stem: Path,
    *,
    title: str,
    order: Sequence[str] | None = None,
    ticks: Sequence[float] | None = None,
    annotation: str = "",
    xlabel: str = "Time (days)",
    ylabel: str = "Recurrence-free survival",
) -> list[Path]:
    """Draw the step curves (with censoring marks) of every group and the at-risk table; write stem.png/.svg."""
    table = result.table
    groups = list(order) if order is not None else list(pd.unique(table["group"]))
    groups = [g for g in groups if (table["group"] == g).any()]
    t_max = float(table["time"].max()) if len(table) else 1.0
    ticks = list(ticks) if ticks is not None else default_ticks(t_max)
    at_risk = result.at_risk(ticks)

    fig = new_figure(6.4, 4.2 + 0.25 * len(groups))
    grid = fig.add_gridspec(2, 1, height_ratios=[4.0, 0.6 + 0.3 * len(groups)], hspace=0.35)
    ax = fig.add_subplot(grid[0])
    for k, group in enumerate(groups):
        part = table[table["group"] == group]
        colour = COLOURS[k % len(COLOURS)]
        times = np.concatenate([[0.0], part["time"].to_numpy()])
        surv = np.concatenate([[1.0], part["survival"].to_numpy()])
        median = result.medians.set_index("group").loc[group]
        ax.step(times, surv, where="post", color=colour,
                label=f"{group} (n = {int(median['n'])}, {int(median['n_events'])} events)")
        censored = part[part["n_censored"] > 0]
        ax.plot(censored["time"], censored["survival"], "|", color=colour, markersize=7)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlim(0.0, max(ticks[-1], t_max) * 1.02)
    ax.set_xticks(ticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    if annotation:
        ax.text(0.98, 0.97, annotation, transform=ax.transAxes, ha="right", va="top", fontsize=9)

    risk = fig.add_subplot(grid[1], sharex=ax)
    risk.set_title("Number at risk", fontsize=8, loc="left")
    for k, group in enumerate(groups):
        y = len(groups) - 1 - k
        for t in ticks:
            risk.text(t, y, str(int(at_risk.loc[group, t])), ha="center", va="center", fontsize=8,
                      color=COLOURS[k % len(COLOURS)])
    risk.set_yticks(range(len(groups)))
    risk.set_yticklabels(list(reversed(groups)), fontsize=8)
    risk.set_ylim(-0.6, len(groups) - 0.4)
    risk.tick_params(axis="x", labelbottom=False, length=0)
    risk.tick_params(axis="y", length=0, pad=14)
    for side in ("top", "right", "bottom", "left"):
        risk.spines[side].set_visible(False)

    return save_png_svg(fig, stem)


def default_ticks(t_max: float) -> list[float]:
    """0, step, 2 step, ... up to t_max with a round step giving about 4-8 ticks."""
    if t_max <= 0:
        return [0.0]
    raw = t_max / 6.0
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = min((m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw), default=raw)
    return [float(x) for x in np.arange(0.0, t_max + 1e-9, step)]
