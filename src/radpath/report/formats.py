"""Write a manuscript table as Markdown, CSV, LaTeX, HTML or Word (docx): the same cells, caption and
footnotes in every format.

A `Table` holds its cells already formatted (strings, by `radpath.numbers`) or raw values that
`format_value` turns into journal style. ``spanners`` groups columns under a header: the column names carry the
group (``composite: AUC (95% CI)``) so Markdown and CSV stay flat and unambiguous; HTML (great-tables), LaTeX
and docx print the group once above its columns. ``groups`` names a column that groups rows (Table 3's TIL
category comparisons): every format but CSV prints its value once, as a row above its rows, instead of a
column; CSV keeps the column. ``widths`` gives text columns a width (LaTeX ``p{}``, docx) so that they wrap
instead of widening the table. CSV carries caption and footnotes as ``#`` lines (read it with
``pandas.read_csv(path, comment="#")``).

Columns align one way in every format: a column whose every cell is a number, an estimate with its CI or a P
value ("<0.001" included) right, others left. Word files are portrait unless the table cannot fit one
(`docx_landscape`).
"""

from __future__ import annotations

import math
import re
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
    groups: str | None = None
    widths: dict[str, str] = field(default_factory=dict)
    size: str = "small"                  # LaTeX font size of the tabular (small, footnotesize)

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


NUMERIC_START = re.compile(r"^(?:[<>≤≥]\s?)?[−\-]?\d")


def numeric_cell(value: str) -> bool:
    """A number, an estimate with its CI or range ('0.81 (0.72–0.90)', '0.09 (−0.22 to 0.39)', '51.6 ± 10.8',
    '12 (50%)', '36 / 2') or a P value ('<0.001'): starts with a digit (after a sign or a comparison) and holds
    no letter but those of 'to'."""
    text = value.strip()
    return bool(NUMERIC_START.match(text)) and not any(ch.isalpha() for ch in text.replace(" to ", " "))


def numeric_column(values: list[str]) -> bool:
    """True when every cell is numeric (`numeric_cell`), empty or '–', and one at least is numeric: such columns
    are right-aligned in every format, all others left."""
    cells = [v.strip() for v in values]
    return all(numeric_cell(v) or v in ("", numbers.MISSING, "-") for v in cells) and any(map(numeric_cell, cells))


def _grouped(t: Table, text: pd.DataFrame) -> list[tuple[str | None, tuple[str, ...]]]:
    """(group label or None, row cells without the group column), a group label once before its first row."""
    if not t.groups or t.groups not in text.columns:
        return [(None, tuple(row)) for row in text.itertuples(index=False)]
    out: list[tuple[str | None, tuple[str, ...]]] = []
    previous = None
    body = text.drop(columns=[t.groups])
    for group, row in zip(text[t.groups], body.itertuples(index=False), strict=True):
        if group != previous:
            out.append((group, ()))
            previous = group
        out.append((None, tuple(row)))
    return out


def _body(t: Table, text: pd.DataFrame) -> pd.DataFrame:
    return text.drop(columns=[t.groups]) if t.groups and t.groups in text.columns else text


def to_markdown(table: Table | pd.DataFrame, title: str | None = None) -> str:
    t = _table(table, title)
    text = formatted(t.frame)
    body = _body(t, text)
    align = ["---:" if numeric_column(list(body[c])) else "---" for c in body.columns]
    lines = [f"**{t.caption}**", "", "| " + " | ".join(map(str, body.columns)) + " |", "|" + "|".join(align) + "|"]
    for group, row in _grouped(t, text):
        cells = [f"**{group}**"] + [""] * (len(body.columns) - 1) if group is not None else list(row)
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in cells) + " |")
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
                 (numbers.MINUS, r"$-$"), (numbers.EN_DASH, "--"), ("²", r"$^2$"), ("ᵃ", r"$^{a}$"),
                 ("ᵇ", r"$^{b}$")):
        value = value.replace(a, b)
    return value


def to_latex(table: Table | pd.DataFrame, title: str | None = None) -> str:
    """A `table` float with a `tabular` (no packages needed): text columns in `widths` wrap (``p{}``), numeric
    columns right-aligned, row groups as italic rows spanning the table, footnotes in small type below."""
    t = _table(table, title)
    text = formatted(t.frame)
    body = _body(t, text)
    labels = t.labels()
    columns = [str(c) for c in body.columns]
    spec = "".join(rf"p{{{t.widths[c]}}}" if c in t.widths else "r" if numeric_column(list(body[c])) else "l"
                   for c in columns)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\{t.size}", r"\setlength{\tabcolsep}{4pt}",
             rf"\caption{{{_tex(t.caption)}}}",
             r"\begin{tabular}{" + spec + "}", r"\hline"]
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
    for group, row in _grouped(t, text):
        lines.append(rf"\multicolumn{{{len(columns)}}}{{l}}{{\textit{{{_tex(group)}}}}} \\" if group is not None
                     else " & ".join(_tex(v) for v in row) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    if t.footnotes:
        lines += [r"\par\smallskip\footnotesize"] + [_tex(note) + r"\par" for note in t.footnotes]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(table: Table | pd.DataFrame, title: str | None = None) -> str:
    """HTML by great-tables (caption as title, spanners, footnotes as source notes); a fixed element id per
    table so the output is the same on every run."""
    from great_tables import GT, loc, style

    t = _table(table, title)
    text = formatted(t.frame)
    if not len(text.columns):
        return f'<table class="manuscript"><caption>{escape(t.caption)}</caption></table>\n'
    if not len(text):
        text = pd.DataFrame([["(not run)"] + [""] * (len(text.columns) - 1)], columns=text.columns)
    groups = t.groups if t.groups in text.columns and len(t.frame) else None
    gt = GT(text, id=f"radpath_{t.name}", groupname_col=groups).tab_header(title=t.caption)
    body = _body(t, text) if groups else text
    right = [str(c) for c in body.columns if numeric_column(list(body[c]))]
    left = [str(c) for c in body.columns if str(c) not in right]
    if right:
        gt = gt.cols_align("right", columns=right)
    if left:
        gt = gt.cols_align("left", columns=left)
    # text columns holding long unbroken words (feature codes such as X_TUM_SER_glszm_LargeAreaHighGray…) may
    # break inside them, so that the table fits its page; other columns keep their words whole
    long_words = [c for c in left if any(len(w) > LONG_WORD for v in body[c] for w in str(v).split())]
    if long_words:
        gt = gt.tab_style(style=style.css("overflow-wrap: anywhere"), locations=loc.body(columns=long_words))
    for c in [c for c in t.widths if c in body.columns]:   # a wrapping text column keeps a readable width
        em = 0.5 * min(36, max((len(str(v)) for v in body[c]), default=0))
        gt = gt.tab_style(style=style.css(f"min-width: {em:g}em"), locations=loc.body(columns=[c]))
    for group, columns in t.spanners.items():
        gt = gt.tab_spanner(label=group, columns=columns)
    relabel: dict[str, Any] = {c: label for c, label in t.labels().items() if label != c}
    if relabel:
        gt = gt.cols_label(cases=relabel)
    for note in t.footnotes:
        gt = gt.tab_source_note(note)
    return f'<div class="manuscript" title="{escape(t.caption)}">{gt.as_raw_html()}</div>\n'


LONG_WORD = 30                                       # characters: HTML cells may break such words anywhere
DOCX_FONT_PT = 8                                     # table cells and footnotes; the caption 9 pt bold
PORTRAIT_WIDTH_IN, LANDSCAPE_WIDTH_IN = 6.5, 9.0   # A4/Letter text width with 1 inch margins


def docx_landscape(t: Table) -> bool:
    """Whether the table needs a landscape page in Word: the widest cell of each column (text columns with a
    width wrap at it) at DOCX_FONT_PT, plus cell padding, is wider than a portrait page's text width."""
    text = _body(t, formatted(t.frame))
    labels = t.labels()
    char_in = DOCX_FONT_PT * 0.5 / 72   # average character width of a proportional font
    total = 0.0
    for c in text.columns:
        if str(c) in t.widths:
            width = float(t.widths[str(c)].removesuffix("cm")) / 2.54
        else:
            longest = max([len(w) for w in labels[str(c)].split()] + [len(v) for v in text[c]], default=0)
            width = longest * char_in
        total += width + 0.16
    return total > PORTRAIT_WIDTH_IN


def write_docx(table: Table | pd.DataFrame, title: str | None, path: Path) -> None:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Pt

    t = _table(table, title)
    text = formatted(t.frame)
    body = _body(t, text)
    labels = t.labels()
    document = Document()
    document.styles["Normal"].font.size = Pt(DOCX_FONT_PT)
    if docx_landscape(t):
        section = document.sections[0]
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    caption = document.add_paragraph().add_run(t.caption)
    caption.bold, caption.font.size = True, Pt(DOCX_FONT_PT + 1)
    header_rows = 2 if t.spanners else 1
    columns = [str(c) for c in body.columns]
    grid = document.add_table(rows=header_rows, cols=max(1, len(columns)))
    grid.style = "Table Grid"
    right = {k for k, c in enumerate(columns) if numeric_column(list(body[c]))}
    for k, column in enumerate(columns):
        grid.rows[header_rows - 1].cells[k].text = labels[column]
    for spanner, cols in t.spanners.items():
        first, last = columns.index(cols[0]), columns.index(cols[-1])
        merged = grid.rows[0].cells[first].merge(grid.rows[0].cells[last])
        merged.text = spanner
    for group, row in _grouped(t, text):
        cells = grid.add_row().cells
        if group is not None:
            merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
            merged.paragraphs[0].add_run(group).italic = True
            continue
        for k, (cell, value) in enumerate(zip(cells, row, strict=False)):
            cell.text = value
            if k in right:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for note in t.footnotes:
        document.add_paragraph().add_run(note)
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
