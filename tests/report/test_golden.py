"""Golden texts of the manuscript tables for a fixed small study (the report fixture's warehouse, run through
the real fit-composite, evaluate, apply and validate-survival). Regenerate with RADPATH_UPDATE_GOLDEN=1 after a
deliberate change and review the diff: it is the table a reader sees."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from radpath.report.formats import docx_landscape, to_csv, to_html, to_latex, to_markdown, write_docx
from radpath.report.layout import evaluation_predictions, latest_evaluation
from radpath.report.tables import build_tables
from radpath.warehouse import open_warehouse

GOLDEN = Path(__file__).parent / "golden"
LAYOUT = ("table3_classification", "table4_multivariable", "table_model_comparison", "table_survival")


def _check(name: str, kind: str, text: str) -> None:
    path = GOLDEN / f"{name}.{kind}"
    if os.environ.get("RADPATH_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with RADPATH_UPDATE_GOLDEN=1 once and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name}.{kind} differs from the golden text"


def test_layout_tables_match_golden_text(study_db: Path) -> None:
    with open_warehouse(study_db, read_only=True) as con:
        built = build_tables(con)
    for name in LAYOUT:
        table = built[name]
        assert len(table) > 0 and table.footnotes, name
        _check(name, "md", to_markdown(table))
        _check(name, "csv", to_csv(table))


def _html_rows(html: str) -> str:
    """The text of every table row of an HTML table (cells joined by ' | '), one line each."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(" ".join("".join(self.cell).split()))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(html)
    return "".join(" | ".join(row) + "\n" for row in parser.rows if row)


def test_table3_in_the_papers_layout_in_every_format(study_db: Path, tmp_path: Path) -> None:
    """Table 3 as the paper lays it out: a row per comparison and model (by label), n, AUC, CV AUC, sensitivity,
    specificity, DeLong P; the same text in LaTeX, Word and HTML, on a portrait page."""
    from docx import Document

    with open_warehouse(study_db, read_only=True) as con:
        table = build_tables(con)["table3_classification"]
    assert list(table.frame.columns) == ["Comparison", "Model", "n", "AUC (95% CI)", "CV AUC (95% CI)",
                                         "Sensitivity", "Specificity", "DeLong P"]
    _check("table3_classification", "tex", to_latex(table))
    _check("table3_classification", "html.txt", _html_rows(to_html(table)))
    write_docx(table, None, tmp_path / "t3.docx")
    document = Document(str(tmp_path / "t3.docx"))
    rows = "".join(" | ".join({id(c._tc): c.text for c in row.cells}.values()) + "\n"   # merged cells once
                   for row in document.tables[0].rows)
    _check("table3_classification", "docx.txt", rows)
    section = document.sections[0]
    assert not docx_landscape(table) and section.page_width < section.page_height   # portrait
    # the LaTeX tabular: 7 columns, the model column wraps, comparisons as rows spanning the table
    assert r"\begin{tabular}{p{3.6cm}rrrrrr}" in to_latex(table)
    assert to_latex(table).count(r"\multicolumn{7}{l}{\textit{") == 3


def test_one_evaluation_one_set_of_patients(study_db: Path) -> None:
    """Table 3's AUCs, the correlations and the stored predictions refer to the same patients, and the
    footnote's counts add up to the included patients."""
    from sklearn.metrics import roc_auc_score

    with open_warehouse(study_db, read_only=True) as con:
        ev = latest_evaluation(con)
        assert ev is not None and list(ev.models) == ["composite", "sig", "published:wu2020_signature"]
        preds = evaluation_predictions(con, ev)
        per_model = preds.groupby("model")["patient_id"].apply(frozenset)
        assert per_model["composite"] == per_model["sig"] == per_model["published:wu2020_signature"]
        assert len(per_model["sig"]) == ev.n
        metrics = con.execute("SELECT * FROM classification_metrics WHERE run_id = ?", [ev.run_id]).df()
        for m in metrics.itertuples(index=False):
            lower, upper = m.comparison.split("_vs_")
            part = preds[(preds["model"] == m.model) & preds["til_category"].isin([lower, upper])]
            y = (part["til_category"] == upper).astype(int)
            assert m.n_negative + m.n_positive == len(part)
            assert m.auc == pytest.approx(roc_auc_score(y, part["predicted"]), abs=1e-12)
            # the cross-validated AUC: of the mean held-out prediction over the repeats, models fitted here only
            if m.model == "published:wu2020_signature":
                assert pd.isna(m.cv_auc)
                continue
            folds = con.execute("SELECT patient_id, predicted FROM cv_predictions WHERE model = ? AND version = ? "
                                "AND held_out", [m.model, m.version]).df()
            oof = folds.groupby("patient_id")["predicted"].mean().reindex(part["patient_id"])
            assert m.cv_n == len(part) and m.cv_repeats == 4
            assert m.cv_auc == pytest.approx(roc_auc_score(y, oof), abs=1e-12)
        corr = con.execute("SELECT model, n, r FROM model_correlation WHERE run_id = ?", [ev.run_id]).df()
        for c in corr.itertuples(index=False):
            p = preds[preds["model"] == c.model]
            assert c.n == ev.n and c.r == pytest.approx(np.corrcoef(p["predicted"], p["observed_til"])[0, 1])
        flow = con.execute("SELECT * FROM latest_analysis_flow WHERE analysis = 'evaluate' ORDER BY step").df()
        included = con.execute("SELECT count(*) FROM patients WHERE cohort = 'tcga_brca' AND included").fetchone()
        assert flow["n_before"].iloc[0] == included[0]
        assert flow["n_after"].iloc[-1] == ev.n == included[0] - flow["n_dropped"].sum()
        # fit-composite: the final model keeps every patient with its terms; the adjusted fit needs covariates
        terms = con.execute("SELECT fit, max(n) AS n FROM model_terms WHERE model = 'composite' GROUP BY fit").df()
        n = terms.set_index("fit")["n"]
        cflow = con.execute("SELECT * FROM latest_analysis_flow WHERE analysis = 'fit-composite' ORDER BY step").df()
        assert n["final"] == cflow["n_after"].iloc[-2] and n["adjusted"] == cflow["n_after"].iloc[-1]
        stored = con.execute("SELECT count(*) FROM model_predictions WHERE model = 'composite' "
                             "AND cohort = 'tcga_brca'").fetchone()
        assert stored[0] == n["final"]
        # the view says r in an r column for univariate rows, never in coef
        view = con.execute("SELECT fit, r, coef FROM table4_multivariable WHERE model = 'composite'").df()
        uni = view[view["fit"] == "univariate"]
        assert len(uni) and uni["coef"].isna().all() and uni["r"].between(-1, 1).all()
        assert view.loc[view["fit"] != "univariate", "r"].isna().all()
