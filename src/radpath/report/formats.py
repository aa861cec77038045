"""Write a manuscript table as Markdown, CSV, LaTeX, HTML or Word (docx): the same cells, caption and
footnotes in every format.

A `Table` holds its cells already formatted (strings, by `radpath.numbers`) or raw values that
`format_value` turns into journal style. ``spanners`` groups columns under a header (Table 3's models): the
column names carry the group (``composite: AUC (95% CI)``) so Markdown and CSV stay flat and unambiguous; HTML
(great-tables), LaTeX and docx print the group once above its columns. CSV carries caption and footnotes as
``#`` lines (read it with ``pandas.read_csv(path, comment="#")``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from radpath import numbers
from radpath.errors import ReportError

FORMATS = ("md", "csv", "tex", "html", "docx")
P_COLUMNS = ("p_", "fdr")


@dataclass
class Table:
    """A manuscript table: ``name`` (file stem), ``caption``, ``frame`` (cells), ``footnotes``, ``spanners``
    {group label: [columns]} whose column names start with ``group: ``."""

    name: str
    caption: str
    frame: pd.DataFrame
    footnotes: list[str] = field(default_factory=list)
    spanners: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def empty(self) -> bool:
        return self.frame.empty

    def labels(self) -> dict[str, str]:
        """Column -> printed label under its spanner (the part after ``group: ``)."""
        out = {str(c): str(c) for c in self.frame.columns}
        for group, columns in self.spanners.items():
            for c in columns:
                out[c] = c.removeprefix(f"{group}: ")
        return out


def format_value(column: str, value: object) -> str:
    """Cells as journals print them: P values 0.012 / <0.001, floats with two decimals (more for small
    magnitudes), a true minus sign, missing as blank; strings unchanged."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if column.lower().startswith(P_COLUMNS) or column in {"p", "P"}:
            return numbers.p_value(value)
        if abs(value) >= 1e4:
            return numbers.number(value, 0)
        return numbers.number(value, 2 if abs(value) >= 0.01 or value == 0 else 4)
    return str(value)


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: [format_value(str(c), v) for v in frame[c]] for c in frame.columns}, dtype=object)


def _table(table: Table | pd.DataFrame, title: str | None) -> Table:
    if isinstance(table, Table):
        return table
    return Table("table", title or "", table)


def to_markdown(table: Table | pd.DataFrame, title: str | None = None) -> str:
    t = _table(table, title)
    text = formatted(t.frame)
    lines = [f"**{t.caption}**", "", "| " + " | ".join(map(str, text.columns)) + " |",
             "|" + "|".join("---" for _ in text.columns) + "|"]
    lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in text.itertuples(index=False)]
    if not len(text):
        lines.append("| " + " | ".join(["(not run)"] + [""] * (len(text.columns) - 1)) + " |")
    lines += [""] + [f"{note}  " for note in t.footnotes] if t.footnotes else []
    return "\n".join(lines).rstrip() + "\n"


def to_csv(table: Table | pd.DataFrame, title: str | None = None) -> str:
    t = _table(table, title)
    body = formatted(t.frame).to_csv(index=False, lineterminator="\n")
    head = f"# {t.caption}\n" if t.caption else ""
    return head + body + "".join(f"# {note}\n" for note in t.footnotes)


def _tex(value: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("<", r"$<$"), (">", r"$>$"), ("≥", r"$\geq$"), ("≤", r"$\leq$"),
                 (numbers.MINUS, r"$-$"), (numbers.EN_DASH, "--"), ("²", r"$^2$")):
        value = value.replace(a, b)
    return value


def to_latex(table: Table | pd.DataFrame, title: str | None = None) -> str:
    t = _table(table, title)
    text = formatted(t.frame)
    labels = t.labels()
    columns = [str(c) for c in text.columns]
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(t.caption)}}}",
             r"\begin{tabular}{" + "l" * len(columns) + "}", r"\hline"]
    if t.spanners:
        cells, k = [], 0
        while k < len(columns):
            group = next((g for g, cols in t.spanners.items() if columns[k] in cols), None)
            if group is None:
                cells.append("")
                k += 1
                continue
            width = len(t.spanners[group])
            cells.append(rf"\multicolumn{{{width}}}{{c}}{{{_tex(group)}}}")
            k += width
        lines.append(" & ".join(cells) + r" \\")
    lines.append(" & ".join(_tex(labels[c]) for c in columns) + r" \\")
    lines.append(r"\hline")
    lines += [" & ".join(_tex(v) for v in row) + r" \\" for row in text.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}"]
    if t.footnotes:
        lines += [r"\par\smallskip\footnotesize"] + [_tex(note) + r"\par" for note in t.footnotes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(table: Table | pd.DataFrame, title: str | None = None) -> str:
    """HTML by great-tables (caption as title, spanners, footnotes as source notes); a fixed element id per
    table so the output is the same on every run."""
    from great_tables import GT

    t = _table(table, title)
    text = formatted(t.frame)
    if not len(text.columns):
        return f'<table class="manuscript"><caption>{escape(t.caption)}</caption></table>\n'
    if not len(text):
        text = pd.DataFrame([["(not run)"] + [""] * (len(text.columns) - 1)], columns=text.columns)
    gt = GT(text, id=f"radpath_{t.name}").tab_header(title=t.caption)
    for group, columns in t.spanners.items():
        gt = gt.tab_spanner(label=group, columns=columns)
    relabel: dict[str, Any] = {c: label for c, label in t.labels().items() if label != c}
    if relabel:
        gt = gt.cols_label(cases=relabel)
    for note in t.footnotes:
        gt = gt.tab_source_note(note)
    return f'<div class="manuscript" title="{escape(t.caption)}">{gt.as_raw_html()}</div>\n'


def write_docx(table: Table | pd.DataFrame, title: str | None, path: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    t = _table(table, title)
    text = formatted(t.frame)
    labels = t.labels()
    document = Document()
    document.add_paragraph().add_run(t.caption).bold = True
    header_rows = 2 if t.spanners else 1
    grid = document.add_table(rows=header_rows, cols=max(1, len(text.columns)))
    grid.style = "Table Grid"
    columns = [str(c) for c in text.columns]
    for k, column in enumerate(columns):
        grid.rows[header_rows - 1].cells[k].text = labels[column]
    for group, cols in t.spanners.items():
        first, last = columns.index(cols[0]), columns.index(cols[-1])
        merged = grid.rows[0].cells[first].merge(grid.rows[0].cells[last])
        merged.text = group
    for row in text.itertuples(index=False):
        cells = grid.add_row().cells
        for cell, value in zip(cells, row, strict=False):
            cell.text = value
    for note in t.footnotes:
        run = document.add_paragraph().add_run(note)
        run.font.size = Pt(8)
    document.save(str(path))


WRITERS: dict[str, Callable[[Table, Path], object]] = {
    "csv": lambda t, p: p.write_text(to_csv(t), encoding="utf-8"),
    "md": lambda t, p: p.write_text(to_markdown(t), encoding="utf-8"),
    "tex": lambda t, p: p.write_text(to_latex(t), encoding="utf-8"),
    "html": lambda t, p: p.write_text(to_html(t), encoding="utf-8"),
    "docx": lambda t, p: write_docx(t, None, p),
}


def parse_formats(text: str) -> list[str]:
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in WRITERS]
    if unknown or not names:
        raise ReportError(f"unknown table format(s) {unknown or text!r}; choose from {', '.join(FORMATS)}")
    return names


def write_table(table: Table, stem: Path, formats: list[str]) -> list[Path]:
    """Write ``stem.<format>`` for each format; returns the paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in formats:
        path = stem.with_suffix(f".{name}")
        WRITERS[name](table, path)
        paths.append(path)
    return paths
