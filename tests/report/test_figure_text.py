"""No two text boxes of any report figure overlap (titles, axis labels, tick labels, annotations, legends),
and no legend covers a curve: every figure of the report drawn from the fixture warehouse and checked with
matplotlib's own extents (`get_window_extent` with the figure's renderer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.text import Text

import radpath.report.figures as report_figures
import radpath.stats.survival_plot as survival_plot
from radpath.plotting import legends_over_data, new_figure, save_png_svg, text_overlaps
from radpath.report.figures import FIGURES, draw_figures
from radpath.warehouse import open_warehouse


def test_the_check_sees_an_overlap_and_a_covered_curve(tmp_path: Path) -> None:
    fig = new_figure(3, 3)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], label="a curve")
    ax.set_title("a title")
    ax.text(0.5, 1.0, "on the title", transform=ax.transAxes, ha="center", va="bottom")
    ax.legend(loc="center")
    assert any('title "a title" overlaps' in m and "on the title" in m for m in text_overlaps(fig))
    assert legends_over_data(fig) == ["axes 0: the legend covers line 'a curve'"]


def test_no_text_collides_in_any_report_figure(study_db: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[Path, Any]] = []

    def keep(fig: Any, stem: Path, dpi: int = 150) -> list[Path]:
        drawn.append((stem, fig))
        return save_png_svg(fig, stem, dpi)

    monkeypatch.setattr(report_figures, "save_png_svg", keep)
    monkeypatch.setattr(survival_plot, "save_png_svg", keep)
    with open_warehouse(study_db, read_only=True) as con:
        files, skipped = draw_figures(con, tmp_path)
    assert not skipped and set(files) == set(FIGURES)
    assert len(drawn) == sum(len(paths) // 2 for paths in files.values())
    # one spelling of the receptor subtypes: the minus sign, in every title, label and legend
    texts = {stem.name: [t.get_text() for t in fig.findobj(Text)] for stem, fig in drawn}
    assert not [(name, t) for name, found in texts.items() for t in found if "HER2-" in t]
    assert any(t.endswith(", HR+/HER2− patients") for t in texts["km_hrpos_her2neg"])
    assert any(t.endswith(", all patients") for t in texts["km_all"])
    problems = {stem.name: text_overlaps(fig) + legends_over_data(fig) for stem, fig in drawn}
    bad = [f"{name}: {message}" for name, found in problems.items() for message in found]
    assert not bad, "\n".join(bad)
