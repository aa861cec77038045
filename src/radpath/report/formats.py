"""Write a table as CSV, Markdown, LaTeX, HTML or Word (docx), with the same number formatting."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from pathlib import Path

import pandas as pd

from radpath.errors import ReportError

FORMATS = ("md", "csv", "tex", "html", "docx")


def format_value(column: str, value: object) -> str:
    """P values as 0.012 / <0.001, other floats to 3 significant digits, missing as blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if column.startswith("p_") or column in {"fdr", "p"}:
            return "<0.001" if value < 0.001 else f"{value:.3f}"
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def formatted(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: [format_value(str(c), v) for v in frame[c]] for c in frame.columns}, dtype=object)


def to_markdown(frame: pd.DataFrame, title: str) -> str:
    text = formatted(frame)
    lines = [f"**{title}**", "", "| " + " | ".join(map(str, text.columns)) + " |",
             "|" + "|".join("---" for _ in text.columns) + "|"]
    lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _tex(value: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                 ("±", r"$\pm$"), ("<", r"$<$"), (">", r"$>$")):
        value = value.replace(a, b)
    return value


def to_latex(frame: pd.DataFrame, title: str) -> str:
    text = formatted(frame)
    lines = [r"\begin{table}[ht]", r"\centering", rf"\caption{{{_tex(title)}}}",
             r"\begin{tabular}{" + "l" * len(text.columns) + "}", r"\hline",
             " & ".join(_tex(str(c)) for c in text.columns) + r" \\", r"\hline"]
    lines += [" & ".join(_tex(v) for v in row) + r" \\" for row in text.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, title: str) -> str:
    text = formatted(frame)
    head = "".join(f"<th>{escape(str(c))}</th>" for c in text.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in row) + "</tr>"
                   for row in text.itertuples(index=False))
    empty = "" if len(text) else f'<tr><td colspan="{len(text.columns)}">(not run)</td></tr>'
    return (f'<table class="manuscript"><caption>{escape(title)}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}{empty}</tbody></table>\n")


def write_docx(frame: pd.DataFrame, title: str, path: Path) -> None:
    from docx import Document

    text = formatted(frame)
    document = Document()
    document.add_heading(title, level=2)
    table = document.add_table(rows=1, cols=max(1, len(text.columns)))
    table.style = "Table Grid"
    for cell, column in zip(table.rows[0].cells, text.columns, strict=False):
        cell.text = str(column)
    for row in text.itertuples(index=False):
        cells = table.add_row().cells
        for cell, value in zip(cells, row, strict=False):
            cell.text = value
    document.save(str(path))


WRITERS: dict[str, Callable[[pd.DataFrame, str, Path], object]] = {
    "csv": lambda f, t, p: f.to_csv(p, index=False),
    "md": lambda f, t, p: p.write_text(to_markdown(f, t), encoding="utf-8"),
    "tex": lambda f, t, p: p.write_text(to_latex(f, t), encoding="utf-8"),
    "html": lambda f, t, p: p.write_text(to_html(f, t), encoding="utf-8"),
    "docx": write_docx,
}


def parse_formats(text: str) -> list[str]:
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in WRITERS]
    if unknown or not names:
        raise ReportError(f"unknown table format(s) {unknown or text!r}; choose from {', '.join(FORMATS)}")
    return names


def write_table(frame: pd.DataFrame, title: str, stem: Path, formats: list[str]) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in formats:
        path = stem.with_suffix(f".{name}")
        WRITERS[name](frame, title, path)
        paths.append(path)
    return paths
