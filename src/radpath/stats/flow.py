"""Patient flow of an analysis: how many patients each step keeps and drops, stored in `analysis_flow`.

An analysis starts from the cohort's included patients and narrows them step by step (a TIL reading, a
prediction of every model, the covariates of an adjusted fit). `Flow` records each step as it happens, so the
tables and figures of the analysis can say in a footnote who was left out and why, with numbers that add up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from radpath.warehouse import Run, replace_rows


@dataclass(frozen=True)
class FlowStep:
    description: str
    n_before: int
    n_after: int

    @property
    def n_dropped(self) -> int:
        return self.n_before - self.n_after


@dataclass
class Flow:
    """``Flow(cohort, analysis, subject, start=ids)``; ``keep(description, ids)`` narrows to ``ids``."""

    cohort: str
    analysis: str
    subject: str
    start: Iterable[str]
    start_description: str = "included patients"
    steps: list[FlowStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ids = set(map(str, self.start))
        self.steps.append(FlowStep(self.start_description, len(self._ids), len(self._ids)))

    @property
    def ids(self) -> set[str]:
        return set(self._ids)

    def keep(self, description: str, ids: Iterable[str]) -> set[str]:
        """Keep the current patients that are in ``ids``; returns those kept."""
        before = len(self._ids)
        self._ids &= set(map(str, ids))
        self.steps.append(FlowStep(description, before, len(self._ids)))
        return self.ids

    def frame(self, run_id: str) -> pd.DataFrame:
        return pd.DataFrame([{"cohort": self.cohort, "analysis": self.analysis, "subject": self.subject,
                              "step": k + 1, "description": s.description, "n_before": s.n_before,
                              "n_dropped": s.n_dropped, "n_after": s.n_after, "run_id": run_id}
                             for k, s in enumerate(self.steps)])

    def notes(self) -> list[str]:
        return [f"{s.n_dropped} of {s.n_before} patients left out: {dropped_as(s.description)}"
                for s in self.steps if s.n_dropped]


def write_flow(con: duckdb.DuckDBPyConnection, run: Run, flow: Flow) -> None:
    """Replace the stored flow of (cohort, analysis, subject). Call inside `transaction`."""
    replace_rows(con, "analysis_flow", flow.frame(run.run_id),
                 {"cohort": flow.cohort, "analysis": flow.analysis, "subject": flow.subject})


def read_flow(con: duckdb.DuckDBPyConnection, cohort: str, analysis: str, subject: str) -> pd.DataFrame:
    """The newest stored flow (empty when the analysis has not been run)."""
    return con.execute("SELECT step, description, n_before, n_dropped, n_after FROM latest_analysis_flow "
                       "WHERE cohort = ? AND analysis = ? AND subject = ? ORDER BY step",
                       [cohort, analysis, subject]).df()


def dropped_as(description: str) -> str:
    """'with a TIL reading' -> 'had no TIL reading'; 'with every term ...' -> 'lacked a term ...'."""
    if description.startswith("with a "):
        return "had no " + description[len("with a "):]
    if description.startswith("with every "):
        rest = description[len("with every "):]
        return ("lacked an " if rest[:1] in "aeiou" else "lacked a ") + rest
    return "not " + description


def flow_footnote(flow: pd.DataFrame) -> str:
    """'Of 44 included patients, 2 had no TIL reading (42 left); 4 had no prediction of Imaging signature (38
    left).'"""
    if flow.empty:
        return ""
    first = flow.iloc[0]
    dropped = [f"{int(r.n_dropped)} {dropped_as(str(r.description))} ({int(r.n_after)} left)"
               for r in flow.iloc[1:].itertuples(index=False) if r.n_dropped]
    if not dropped:
        return f"All {int(first['n_after'])} {first['description']} analysed."
    return f"Of {int(first['n_after'])} {first['description']}, " + "; ".join(dropped) + "."
