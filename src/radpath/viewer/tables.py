"""The manuscript tables of one cohort as the viewer shows them (built by `radpath.report.tables.TABLES`).

Every table is built for the cohort of the page (each builder keeps the rows, model or evaluation of that
cohort; a table with a cohort column is filtered on it besides), so a cohort page never shows another
cohort's analysis. A table whose analysis has not run on the cohort comes out empty and says so; one that
cannot be built (Table 2 without TIL readings) carries the reason. Cells are formatted for reading (4 significant
digits) and keep their raw value for sorting; rows that name a patient link to the patient's page.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import duckdb
import pandas as pd

from radpath.errors import RadpathError

log = logging.getLogger(__name__)
NOT_RUN = re.compile(r"^Not run( on [^:]+)?: ")   # how a builder's footnote says its analysis has not run


def _cell(value: Any) -> dict[str, Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return {"text": "", "sort": ""}
    if isinstance(value, bool):
        return {"text": "yes" if value else "no", "sort": int(value)}
    if isinstance(value, float):
        return {"text": f"{value:.4g}", "sort": value}
    if isinstance(value, int):
        return {"text": str(value), "sort": value}
    return {"text": str(value), "sort": str(value)}


def frame_rows(frame: pd.DataFrame) -> dict[str, Any]:
    columns = [str(c) for c in frame.columns]
    rows = []
    for record in frame.to_dict("records"):
        rows.append({"cells": [_cell(record[c]) for c in frame.columns],
                     "patient_id": record.get("patient_id")})
    return {"columns": columns, "rows": rows}


def cohort_tables(con: duckdb.DuckDBPyConnection, cohort: str) -> list[dict[str, Any]]:
    """Every registered manuscript table of `cohort`."""
    from radpath.report.tables import TABLES

    out = []
    for table in TABLES:
        entry: dict[str, Any] = {"name": table.name, "title": table.title, "view": table.view, "note": ""}
        try:
            built = table.build(con, cohort)
        except (RadpathError, duckdb.Error) as exc:
            entry.update(columns=[], rows=[], note=str(exc))
            out.append(entry)
            continue
        except Exception as exc:   # a bug in one table's builder must not take the cohort page down
            log.exception("building %s for cohort %s failed", table.name, cohort)
            entry.update(columns=[], rows=[], note=f"could not be built ({type(exc).__name__}: {exc}); see the log")
            out.append(entry)
            continue
        frame = built.frame
        for column in ("cohort", "Cohort"):
            if column in frame.columns:
                frame = frame[frame[column] == cohort]
        entry.update(frame_rows(frame.reset_index(drop=True)))
        entry.update(caption=built.caption, footnotes=list(built.footnotes))
        if frame.empty:
            hint = next((NOT_RUN.sub("", f) for f in built.footnotes if NOT_RUN.match(f)), "")
            entry["note"] = (f"Not run on {cohort}: " + (hint or f"view {table.view} has no rows for this cohort"))
        out.append(entry)
    return out
