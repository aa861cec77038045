"""Manuscript tables against values computed independently here (counts, percentages, a Fisher P)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln

from radpath.errors import ReportError
from radpath.report.formats import parse_formats, write_table
from radpath.report.tables import build_tables, fisher_p, table2
from radpath.warehouse import open_warehouse


def exact_fisher_2xk(table: np.ndarray) -> float:
    """Freeman-Halton exact P for a 2 x k table by enumerating every table with the observed margins."""
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    n = table.sum()

    def logp(first: list[int]) -> float:
        second = cols - np.array(first)
        cells = np.concatenate([first, second])
        return float(gammaln(rows + 1).sum() + gammaln(cols + 1).sum() - gammaln(n + 1) - gammaln(cells + 1).sum())

    observed = logp(list(table[0]))
    total = 0.0

    def walk(prefix: list[int], k: int, left: int) -> None:
        nonlocal total
        if k == len(cols) - 1:
            if 0 <= left <= cols[k]:
                lp = logp([*prefix, left])
                if lp <= observed + 1e-7:
                    total += math.exp(lp)
            return
        for a in range(0, min(cols[k], left) + 1):
            walk([*prefix, a], k + 1, left - a)

    walk([], 0, int(rows[0]))
    return total


def test_fisher_p_matches_exact_enumeration() -> None:
    table = np.array([[12, 5, 1], [20, 2, 4]])
    assert fisher_p(table) == pytest.approx(exact_fisher_2xk(table), abs=0.01)   # Monte Carlo, 1e5 tables
    two = np.array([[3, 1], [1, 3]])
    # R: fisher.test(matrix(c(3, 1, 1, 3), 2))$p.value == 0.4857143
    assert fisher_p(two) == pytest.approx(0.4857143, abs=1e-7)
    assert math.isnan(fisher_p(np.array([[3, 0, 0], [4, 0, 0]])))
    # scipy 1.17 answers this tiny 2 x 3 table with a one-element array, not a scalar
    tiny = np.array([[1, 0, 1], [0, 1, 1]])
    assert fisher_p(tiny) == pytest.approx(exact_fisher_2xk(tiny), abs=0.01)   # exact P = 1


def test_table2_counts_percentages_and_p(report_db: Path, table_study) -> None:
    truth = pd.read_csv(table_study.truth_path)
    # tables-only study: the one inclusion criterion left is invasive histology
    train = truth[(truth["cohort"] == "tcga_brca") & truth["invasive"]]
    with open_warehouse(report_db, read_only=True) as con:
        frame = table2(con)
    cats = train["til_category"].value_counts()
    columns = [c for c in frame.columns if c.startswith(("low", "intermediate", "high"))]
    assert columns == [f"{c} (n={cats.get(c, 0)})" for c in ("low", "intermediate", "high")]
    er = frame[frame["characteristic"] == "ER"].set_index("level")
    for level in ("positive", "negative"):
        in_level = train[train["er"] == level]
        assert er.loc[level, f"all (n={len(train)})"] == str(len(in_level))
        n_low = int((in_level["til_category"] == "low").sum())
        assert er.loc[level, columns[0]] == f"{n_low} ({100 * n_low / len(in_level):.0f}%)"
    table = np.array([[int(((train["er"] == lv) & (train["til_category"] == c)).sum())
                       for c in ("low", "intermediate", "high")] for lv in ("positive", "negative")])
    table = table[:, table.sum(axis=0) > 0]
    assert er.iloc[0]["p_fisher"] == pytest.approx(exact_fisher_2xk(table), abs=0.01)
    age = frame[(frame["characteristic"] == "Age, years") & (frame["level"] == "median (range)")].iloc[0]
    assert age[f"all (n={len(train)})"] == (
        f"{np.median(train['age'].astype(int)):.0f} "
        f"({train['age'].astype(int).min()}\u2013{train['age'].astype(int).max()})")


def test_registered_tables_and_formats(report_db: Path, tmp_path: Path) -> None:
    with open_warehouse(report_db, read_only=True) as con:
        built = build_tables(con)
    assert list(built["table1_features"].frame["Code"]) == ["BPE1", "M1", "N1"]
    assert len(built["table_associations"]) == 6
    table3 = built["table3_classification"]
    assert table3.empty and "radpath evaluate" in table3.footnotes[0]  # evaluate was not run in this warehouse
    formats = parse_formats("md,csv,tex,html,docx")
    table2 = built["table2_characteristics"]
    paths = write_table(table2, tmp_path / "t2", formats)
    text = {p.suffix: p for p in paths}
    md = text[".md"].read_text(encoding="utf-8")
    assert md.count("\n|") > 20 and md.startswith("**Table 2. Patient characteristics")
    assert "Fisher's exact test" in md
    tex = text[".tex"].read_text(encoding="utf-8")
    assert r"\begin{tabular}" in tex and r"\%" in tex and r"\caption{Table 2." in tex and "Fisher's exact" in tex
    html = text[".html"].read_text(encoding="utf-8")
    assert "Table 2. Patient characteristics" in html
    assert "Fisher&#x27;s exact" in html or "Fisher's exact" in html
    csv = text[".csv"].read_text(encoding="utf-8").splitlines()
    assert csv[0].startswith("# Table 2.") and csv[-1].startswith("# TIL categories")
    assert len(pd.read_csv(text[".csv"], comment="#")) == len(table2)
    from docx import Document

    document = Document(str(text[".docx"]))
    assert len(document.tables[0].rows) == len(table2) + 1
    assert document.paragraphs[0].text.startswith("Table 2.")
    assert any("Fisher's exact" in p.text for p in document.paragraphs)
    with pytest.raises(ReportError, match="unknown table format"):
        parse_formats("md,pdf")


def test_table2_needs_til_readings(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "empty.duckdb") as con, pytest.raises(ReportError, match="no cohort"):
        table2(con)
