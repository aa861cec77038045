"""Figure layout rules: the KM log-rank P covers no curve, the montage order is deterministic and draws
without warnings when a TIL category has no slide, the flow figure counts add up."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from radpath.report.figures import montage_picks, til_map_montage
from radpath.stats.survival import km
from radpath.stats.survival_plot import SPOTS, free_spot, plot_km
from radpath.warehouse import open_warehouse


def test_free_spot_avoids_curves_and_legend() -> None:
    flat_top = np.column_stack([np.linspace(0, 1, 200), np.full(200, 0.95)])   # a curve along the top
    spot = free_spot([flat_top], (0.2, 0.08))
    assert spot == SPOTS[1]                                                      # lower right, not upper right
    legend = (0.7, 0.0, 1.0, 0.2)                                                # legend in the lower right
    assert free_spot([flat_top], (0.2, 0.08), avoid=[legend]) == SPOTS[2]
    empty = free_spot([], (0.2, 0.08))
    assert empty == SPOTS[0]


def test_km_annotation_clear_of_curves(tmp_path: Path) -> None:
    """A group that never has an event runs along the top: the P goes where no step passes."""
    t = np.array([100, 200, 300, 400, 500, 600, 700, 800, 900, 1000.0] * 2)
    e = np.array([0] * 10 + [1, 0, 1, 1, 0, 1, 1, 0, 1, 0])
    g = np.array(["high"] * 10 + ["low"] * 10)
    result = km(pd.Series(t), pd.Series(e), pd.Series(g))
    captured = {}

    import radpath.stats.survival_plot as sp

    original = sp.save_png_svg

    def grab(fig, stem):  # type: ignore[no-untyped-def]
        captured["fig"] = fig
        return original(fig, stem)

    sp.save_png_svg = grab
    try:
        plot_km(result, tmp_path / "km", title="t", order=["low", "high"], annotation="log-rank P = 0.012")
    finally:
        sp.save_png_svg = original
    ax = captured["fig"].axes[0]
    text = next(x for x in ax.texts if "log-rank" in x.get_text())
    renderer = captured["fig"].canvas.get_renderer()
    box = text.get_window_extent(renderer)
    for line in ax.get_lines():
        xy = ax.transData.transform(line.get_xydata())
        inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
        assert not inside.any(), "the log-rank P covers a curve"
    legend = ax.get_legend().get_window_extent(renderer)
    assert not box.overlaps(legend)


def test_montage_order_ties_by_patient_id() -> None:
    frame = pd.DataFrame({"patient_id": ["P3", "P1", "P2", "P4"], "til_score": [5.0, 5.0, 5.0, 9.0],
                          "til_category": ["low", "low", "low", "high"]})
    picks = [p["patient_id"] for p in montage_picks(frame)]
    assert picks == ["P1", "P3", "P4"]
    again = [p["patient_id"] for p in montage_picks(frame.iloc[::-1])]
    assert again == picks


def test_montage_without_a_category_draws_without_warnings(report_db: Path, tmp_path: Path) -> None:
    with open_warehouse(report_db, read_only=True) as con:
        cats = set(con.execute("SELECT til_category FROM pathology_til_comparison").df()["til_category"])
        assert "high" not in cats   # the fixture's twelve slides have no high-TIL patient
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            paths = til_map_montage(con, tmp_path)
    assert {p.suffix for p in paths} == {".png", ".svg"}
