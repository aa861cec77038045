"""Shared matplotlib helpers: a figure on its own Agg canvas (no global backend) saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def new_figure(width: float, height: float) -> Any:
    """A matplotlib Figure drawn on an Agg canvas; nothing global (pyplot, backend) is touched."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def save_png_svg(fig: Any, stem: Path, dpi: int = 150) -> list[Path]:
    """Write `stem.png` and `stem.svg`; returns both paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in (".png", ".svg"):
        path = stem.with_suffix(suffix)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    return paths


def text_boxes(fig: Any) -> list[tuple[str, Any]]:
    """Every visible text element of a drawn figure with its box in display pixels (matplotlib's own extents,
    `get_window_extent` with the figure's renderer): titles, axis labels, tick labels, texts and annotations
    (with their bbox patch when they have one), legends (one box each) and the figure's suptitle and texts.
    Each is named 'axes k: what "text"' for messages."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out: list[tuple[str, Any]] = []

    def add(name: str, artist: Any) -> None:
        if artist is None or not artist.get_visible():
            return
        if hasattr(artist, "get_text"):
            if not artist.get_text().strip():
                return
            patch = artist.get_bbox_patch()
            box = patch.get_window_extent(renderer) if patch is not None else artist.get_window_extent(renderer)
            name = f'{name} "{artist.get_text()[:40]}"'
        else:
            box = artist.get_window_extent(renderer)
        if box.width > 0 and box.height > 0:
            out.append((name, box))

    legends = list(fig.legends)
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        where = f"axes {k}"
        for title in (ax.title, ax._left_title, ax._right_title):
            add(f"{where}: title", title)
        add(f"{where}: x label", ax.xaxis.label)
        add(f"{where}: y label", ax.yaxis.label)
        for axis, which in ((ax.xaxis, "x"), (ax.yaxis, "y")):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not tick.get_visible():
                    continue
                # a tick outside the view limits is not drawn
                loc = tick.get_loc()
                low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
                if loc is None or not low - 1e-9 <= loc <= high + 1e-9:
                    continue
                add(f"{where}: {which} tick", tick.label1)
                add(f"{where}: {which} tick", tick.label2)
        for text in ax.texts:
            add(f"{where}: text", text)
        if ax.get_legend() is not None:
            legends.append(ax.get_legend())
    suptitle = getattr(fig, "_suptitle", None)
    add("figure: title", suptitle)
    for text in fig.texts:
        if text is not suptitle:
            add("figure: text", text)
    for k, legend in enumerate(legends):
        add(f"legend {k}", legend)
    return out


def text_overlaps(fig: Any, tolerance: float = 0.5) -> list[str]:
    """Pairs of text boxes of `text_boxes` that overlap by more than `tolerance` pixels each way (a legend and
    the text inside it are one box), as 'A overlaps B' lines; empty when none do."""
    boxes = text_boxes(fig)
    found = []
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1:]:
            dx = min(a.x1, b.x1) - max(a.x0, b.x0)
            dy = min(a.y1, b.y1) - max(a.y0, b.y0)
            if dx > tolerance and dy > tolerance:
                found.append(f"{name_a} overlaps {name_b}")
    return found


def legends_over_data(fig: Any) -> list[str]:
    """Legends drawn inside an axes that cover a point of one of its lines (markers, or anywhere along a drawn
    line, reference diagonals included), as messages; empty when none do."""
    import numpy as np

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = []
    for k, ax in enumerate(fig.axes):
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        for line in ax.get_lines():
            xy = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float))
            xy = xy[np.isfinite(xy).all(axis=1)]
            if line.get_linestyle() not in ("None", "", " ") and len(xy) > 1:   # points along each segment, ~1 px
                steps = np.maximum(1, np.ceil(np.hypot(*np.diff(xy, axis=0).T)).astype(int))
                xy = np.concatenate([a + np.linspace(0, 1, n, endpoint=False)[:, None] * (b - a)
                                     for a, b, n in zip(xy[:-1], xy[1:], steps, strict=True)] + [xy[-1:]])
            inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
            if inside.any():
                found.append(f"axes {k}: the legend covers line {line.get_label()!r}")
    return found
