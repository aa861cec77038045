"""Kaplan–Meier figure with the numbers-at-risk table underneath (paper Fig. 8), as PNG and SVG.

matplotlib is imported inside the function and drawn on an Agg canvas, so no global backend is set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radpath.plotting import new_figure, save_png_svg
from radpath.stats.survival import KMResult, events_text

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
                label=f"{group} (n = {int(median['n'])}, {events_text(int(median['n_events']))})")
        censored = part[part["n_censored"] > 0]
        ax.plot(censored["time"], censored["survival"], "|", color=colour, markersize=7)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlim(0.0, max(ticks[-1], t_max) * 1.02)
    ax.set_xticks(ticks)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    legend = ax.legend(loc="best", fontsize=8, frameon=False)
    if annotation:
        fig.canvas.draw()   # lay out the legend so its box is known
        box = legend.get_window_extent().transformed(ax.transAxes.inverted())
        curves = [_step_points(table[table["group"] == g], ax) for g in groups]
        text_w = 0.012 * len(annotation) + 0.02
        x, y, ha, va = free_spot(curves, (text_w, 0.08), avoid=[(box.x0, box.y0, box.x1, box.y1)])
        ax.text(x, y, annotation, transform=ax.transAxes, ha=ha, va=va, fontsize=9)

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


# candidate spots for an annotation, in axes fractions: (x, y, ha, va), tried in order
SPOTS = ((0.98, 0.97, "right", "top"), (0.98, 0.03, "right", "bottom"), (0.02, 0.03, "left", "bottom"),
         (0.02, 0.97, "left", "top"), (0.98, 0.50, "right", "center"), (0.50, 0.03, "center", "bottom"),
         (0.50, 0.50, "center", "center"))


def _step_points(part: pd.DataFrame, ax: object) -> np.ndarray:
    """Points along a KM step curve (both corners of every step, densely sampled) in axes fractions."""
    times = np.concatenate([[0.0], part["time"].to_numpy(dtype=float)])
    surv = np.concatenate([[1.0], part["survival"].to_numpy(dtype=float)])
    xs = np.repeat(times, 2)[1:]
    ys = np.repeat(surv, 2)[:-1]
    x0, x1 = ax.get_xlim()  # type: ignore[attr-defined]
    y0, y1 = ax.get_ylim()  # type: ignore[attr-defined]
    dense_x = np.concatenate([np.linspace(a, b, 20) for a, b in zip(xs[:-1], xs[1:], strict=True)] or [xs])
    dense_y = np.concatenate([np.linspace(a, b, 20) for a, b in zip(ys[:-1], ys[1:], strict=True)] or [ys])
    return np.column_stack([(dense_x - x0) / (x1 - x0), (dense_y - y0) / (y1 - y0)])


def _box(x: float, y: float, ha: str, va: str, size: tuple[float, float]) -> tuple[float, float, float, float]:
    w, h = size
    left = {"left": x, "right": x - w, "center": x - w / 2}[ha]
    bottom = {"bottom": y, "top": y - h, "center": y - h / 2}[va]
    return left, bottom, left + w, bottom + h


def free_spot(
    curves: Sequence[np.ndarray], size: tuple[float, float],
    avoid: Sequence[tuple[float, float, float, float]] = (),
) -> tuple[float, float, str, str]:
    """The first of SPOTS where a box of `size` (axes fractions) covers no curve point and no `avoid` box;
    where none is free, the spot covering the fewest points."""
    points = np.concatenate([c for c in curves if len(c)]) if any(len(c) for c in curves) else np.zeros((0, 2))
    best, best_hits = SPOTS[0], None
    for spot in SPOTS:
        x0, y0, x1, y1 = _box(*spot, size)
        inside = ((points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1))
        hits = int(inside.sum()) + sum(1000 for a in avoid if x0 < a[2] and a[0] < x1 and y0 < a[3] and a[1] < y1)
        if hits == 0:
            return spot
        if best_hits is None or hits < best_hits:
            best, best_hits = spot, hits
    return best


def default_ticks(t_max: float) -> list[float]:
    """0, step, 2 step, ... up to t_max with a round step giving about 4-8 ticks."""
    if t_max <= 0:
        return [0.0]
    raw = t_max / 6.0
    magnitude = 10.0 ** np.floor(np.log10(raw))
    step = min((m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw), default=raw)
    return [float(x) for x in np.arange(0.0, t_max + 1e-9, step)]
