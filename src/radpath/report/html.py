"""One self-contained HTML page: every table, every figure (PNG embedded), and run provenance."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from html import escape
from pathlib import Path

import duckdb
import pandas as pd

from radpath import __version__
from radpath.report.cards import BELOW_ZERO_POLICY
from radpath.report.figures import caption
from radpath.report.formats import Table, to_html

LONG_TABLE = 60   # rows; longer tables are folded on the page (the files hold every row)
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table.manuscript { border-collapse: collapse; margin: 1em 0 2em; font-size: 12px; }
table.manuscript caption { font-weight: bold; text-align: left; padding: 4px 0; }
table.manuscript th, table.manuscript td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; }
figure { margin: 1em 0 2.5em; } figure img { max-width: 100%; box-sizing: border-box; border: 1px solid #eee; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
div.manuscript td.gt_right { white-space: nowrap; }
div.scroll { overflow-x: auto; } summary { font-weight: bold; cursor: pointer; margin-top: 1em; }
code, pre { font-size: 11px; } details { margin: 0.3em 0; } nav a { margin-right: 1em; }
"""


def inline_markdown(text: str) -> str:
    """Escaped HTML of a sentence written in Markdown: **bold** and `code` become <b> and <code> (no literal
    asterisks or backticks on the page)."""
    out = escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _card_title(path: Path) -> str:
    """The model a card describes, from its first line ('# Model card: LABEL')."""
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    return first.removeprefix("# Model card: ") if first.startswith("# Model card: ") else path.stem


def _provenance(con: duckdb.DuckDBPyConnection) -> str:
    runs = con.execute("SELECT * FROM runs ORDER BY started_at").df()
    items = []
    for run in runs.itertuples(index=False):
        inputs = json.loads(run.input_hashes)
        versions = json.loads(run.versions)
        finished = "" if pd.isna(run.finished_at) else f"{run.finished_at:%Y-%m-%d %H:%M:%S}"
        items.append(
            f"<details><summary><code>{escape(run.command)}</code> {escape(run.status)} "
            f"({run.started_at:%Y-%m-%d %H:%M:%S} – {finished}) run {escape(run.run_id)}</summary>"
            f"<p>parameters (hash {escape(run.params_hash)}):</p><pre>{escape(run.params)}</pre>"
            f"<p>versions:</p><pre>{escape(json.dumps(versions, indent=1))}</pre>"
            f"<p>{len(inputs)} input files (sha256):</p>"
            f"<pre>{escape(chr(10).join(f'{h}  {p}' for p, h in list(inputs.items())[:200]))}</pre></details>")
    return "\n".join(items) or "<p>no runs recorded</p>"


def write_report(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    tables: dict[str, Table],
    figures: dict[str, list[Path]],
    skipped: dict[str, str],
    cards: list[Path] | None = None,
) -> Path:
    """Write `out/report.html`; figure files are embedded (PNG) and linked (SVG) relative to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    nav = " ".join(f'<a href="#{name}">{escape(t.caption.split(".")[0].split(" in ")[0])}</a>'
                   for name, t in tables.items())
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>radpath report</title>"
             f"<style>{STYLE}</style></head><body>",
             f"<h1>radpath study report</h1><p>radpath {escape(__version__)}, generated "
             f"{datetime.now():%Y-%m-%d %H:%M}</p><nav>{nav} <a href='#figures'>Figures</a> "
             f"<a href='#provenance'>Provenance</a></nav>"]
    cohorts = con.execute("SELECT * FROM cohorts ORDER BY cohort").df()
    parts.append("<h2>Cohorts</h2>" + to_html(cohorts, "Cohorts in the warehouse"))
    parts.append("<h2>Tables</h2>")
    for name, table in tables.items():
        # long tables (Table 1 lists every extracted feature) start folded so the page stays readable
        state = " open" if len(table) <= LONG_TABLE else ""
        parts.append(f'<section id="{name}"><details{state}><summary>{escape(table.caption)} ({len(table)} rows)'
                     f'</summary><div class="scroll">{to_html(table)}</div></details>'
                     f'<p><a href="tables/{name}.csv">{name}.csv</a></p></section>')
    parts.append('<h2 id="figures">Figures</h2>')
    number = 0
    for name, paths in figures.items():
        for png in [p for p in paths if p.suffix == ".png"]:
            number += 1
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            svg = png.with_suffix(".svg")
            files = f'<a href="{png.relative_to(out)}">PNG</a>' if png.is_relative_to(out) else ""
            if svg.exists() and svg.is_relative_to(out):
                files += f', <a href="{svg.relative_to(out)}">SVG</a>'
            text = caption(name, png)
            parts.append(f'<figure id="figure-{number}"><img alt="Figure {number}. {escape(text)}" '
                         f'src="data:image/png;base64,{data}"><figcaption><b>Figure {number}.</b> {escape(text)}'
                         + (f" <small>({files})</small>" if files else "") + "</figcaption></figure>")
    for name, reason in skipped.items():
        parts.append(f"<p><em>{escape(name)}</em> not drawn: {inline_markdown(reason)}</p>")
    if cards:
        items = "".join(f'<li><a href="{escape(str(p.relative_to(out)) if p.is_relative_to(out) else str(p))}">'
                        f"{escape(_card_title(p))}</a> ({escape(p.name)})</li>" for p in cards)
        parts.append(f'<h2 id="models">Model cards</h2><p>{inline_markdown(BELOW_ZERO_POLICY)}</p>'
                     f"<ul>{items}</ul>")
    parts.append(f'<h2 id="provenance">Provenance</h2>{_provenance(con)}</body></html>')
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
