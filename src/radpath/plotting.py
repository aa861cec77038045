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
