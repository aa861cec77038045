"""Journal number formatting (radpath.numbers) and the table writers' spanners and footnotes."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from radpath import numbers as fmt
from radpath.report.formats import Table, to_csv, to_latex, to_markdown, write_docx


def test_p_values() -> None:
    assert fmt.p_value(0.0004) == "<0.001"
    assert fmt.p_value(0.001) == "0.001"
    assert fmt.p_value(0.0449) == "0.045"
    assert fmt.p_value(0.5) == "0.500"
    assert fmt.p_value(0.996) == ">0.99"
    assert fmt.p_value(math.nan) == fmt.p_value(None) == "\u2013"
    assert fmt.p_text(1e-9) == "P < 0.001" and fmt.p_text(0.042) == "P = 0.042"


def test_numbers_ranges_and_intervals() -> None:
    assert fmt.number(-0.123) == "\u22120.12"
    assert fmt.number(-0.001) == "0.00"            # no sign on a number that rounds to zero
    assert fmt.number(2.5, 0) == "2"               # round half to even, as Python's format
    assert fmt.interval(0.69, 0.856) == "0.69\u20130.86"
    assert fmt.interval(-0.52, 0.1) == "\u22120.52 to 0.10"
    assert fmt.estimate_ci(0.78, 0.69, 0.86) == "0.78 (0.69\u20130.86)"
    assert fmt.estimate_ci(0.78, math.nan, 0.86) == "0.78"
    assert fmt.estimate_ci(None, 0.1, 0.2) == "\u2013"
    assert fmt.integer(12.0) == "12" and fmt.percent(12.4) == "12%"


def test_spanners_and_footnotes_in_every_format(tmp_path: Path) -> None:
    frame = pd.DataFrame({"Comparison": ["Low vs high"], "a: AUC (95% CI)": ["0.78 (0.69\u20130.86)"],
                          "a: Sensitivity": ["0.50"], "P": [0.0001]})
    table = Table("t", "Table X. Caption & more", frame, ["Footnote one.", "Footnote two."],
                  {"a": ["a: AUC (95% CI)", "a: Sensitivity"]})
    md = to_markdown(table)
    assert md.splitlines()[0] == "**Table X. Caption & more**" and "<0.001" in md
    assert md.rstrip().endswith("Footnote two.")
    tex = to_latex(table)
    assert r"\multicolumn{2}{c}{a}" in tex and "AUC (95\\% CI)" in tex and "0.69--0.86" in tex
    assert r"Caption \& more" in tex and r"Footnote one.\par" in tex
    csv = to_csv(table).splitlines()
    assert csv[0] == "# Table X. Caption & more" and csv[-2:] == ["# Footnote one.", "# Footnote two."]
    write_docx(table, None, tmp_path / "t.docx")
    from docx import Document

    doc = Document(str(tmp_path / "t.docx"))
    grid = doc.tables[0]
    assert grid.rows[0].cells[1].text == "a" and grid.rows[1].cells[1].text == "AUC (95% CI)"
    assert [p.text for p in doc.paragraphs][-2:] == ["Footnote one.", "Footnote two."]


def test_receptor_status_prints_the_minus_sign() -> None:
    assert fmt.receptor("HR+/HER2-") == "HR+/HER2\u2212" and fmt.receptor("ER-/PR-/HER2-") == (
        "ER\u2212/PR\u2212/HER2\u2212")
    assert fmt.receptor("TCGA-BRCA") == "TCGA-BRCA" and fmt.receptor("pre-treatment") == "pre-treatment"


def test_columns_align_one_way() -> None:
    """Numbers, estimates with CIs and P values align right whatever they hold (<0.001 and 0.012 alike); text
    left (great-tables used to put a P column holding '<0.001' left and one without it right)."""
    from radpath.report.formats import numeric_column

    assert numeric_column(["<0.001", "0.012", ">0.99", "\u2013"]) and numeric_column(["0.012", "0.3"])
    assert numeric_column(["0.81 (0.72\u20130.90)", "0.09 (\u22120.22 to 0.39)", "51.6 \u00b1 10.8", "36 / 2"])
    assert not numeric_column(["not estimable (2 events)", "0.3"]) and not numeric_column(["\u2013", ""])
    assert not numeric_column(["HR+/HER2\u2212", "TNBC"])
