"""What the viewer reads from the warehouse: one read-only DuckDB connection, parameterised queries only.

`Study` is the viewer's only door to the warehouse, opened by `connect_read_only` (read-only, external
access off, configuration locked). It never writes and runs no SQL it was handed:
every statement is a constant of this module with `?` parameters. Tables written by stages that may
not have run in a warehouse (`seg_slides`, `cell_files`, models, survival) are checked in
`information_schema` first, and their sections come out empty when they are absent.

Slides are identified by `slide_id(path)`: the first 16 hex digits of the SHA-256 of the path the
warehouse registered. The viewer serves a slide file only when its id is in `Study.slides`, which is
built from `pathology_slides.slide_path` and `seg_slides.slide_path`: a request can name an id, never a path.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from radpath.warehouse.readonly import connect_read_only

SLIDE_ID = re.compile(r"^[0-9a-f]{16}$")
PATIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
COHORT_NAME = PATIENT_ID
IMPORTED_MAP_VENDOR = "tumor-til-map"   # pathology_slides rows of `import-til-maps` have a map, not a slide
OPTIONAL_TABLES = ("seg_slides", "cell_files", "pathology_scores", "model_predictions", "survival_results")


def slide_id(path: str) -> str:
    """The viewer's id of a registered slide path (stable across restarts, reveals nothing of the path)."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class SlideRecord:
    """A slide the warehouse registered, with what the overlays need to place themselves on it."""

    id: str
    path: str
    cohort: str
    patient_id: str
    mpp: float | None = None                 # level-0 microns per pixel (None when unknown)
    width: int | None = None
    height: int | None = None
    grid_rows: int | None = None             # lymphocyte grid of the Tumour-TIL map
    grid_cols: int | None = None
    patch_um: float | None = None
    rgb_map: str | None = None               # combined Tumour-TIL PNG
    overlay_png: str | None = None
    seg: dict[str, Any] | None = None        # seg_slides row (mask_path, overlay_png, mask_mpp)
    cells: dict[str, Any] | None = None      # cell_files row (cells_path, n_cells, mpp)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_slide(self) -> bool:
        """A file openslide is to open (imported Tumour-TIL maps are registered without their slide)."""
        return self.extra.get("vendor") != IMPORTED_MAP_VENDOR


def _norm(path: str) -> str:
    return os.path.normpath(os.path.abspath(path))


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class Study:
    """Read-only view of one warehouse for the web app (thread-safe: one cursor per query)."""

    def __init__(self, db: str | Path):
        self.db = Path(db)
        self._con = connect_read_only(self.db)   # read-only, no file access beyond it, settings locked
        self._lock = threading.Lock()
        self.tables = set(self.frame(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'")["table_name"])
        self.slides = self._load_slides()

    def close(self) -> None:
        self._con.close()

    def has(self, table: str) -> bool:
        return table in self.tables

    def frame(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        with self._lock:
            cursor = self._con.cursor()
        try:
            return cursor.execute(sql, params or []).df()
        finally:
            cursor.close()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the read-only connection for code that runs its own constant queries (report tables)."""
        with self._lock:
            cursor = self._con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        frame = self.frame(sql, params)
        return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict("records")]

    # ------------------------------------------------------------------ slides
    def _load_slides(self) -> dict[str, SlideRecord]:
        # stage tables are joined to slides by the slide's path (normalised), never by patient alone: a cell
        # file of a field of view must not be drawn on the patient's whole slide
        seg: dict[str, dict[str, Any]] = {}
        if self.has("seg_slides"):
            for row in self.rows("SELECT cohort, patient_id, slide_path, mask_path, overlay_png, mask_mpp, run_id "
                                 "FROM seg_slides ORDER BY cohort, patient_id, slide_path"):
                seg[_norm(row["slide_path"])] = row
        cells: dict[str, dict[str, Any]] = {}
        if self.has("cell_files"):
            for row in self.rows("SELECT cohort, patient_id, source_path, cells_path, n_cells, mpp, run_id "
                                 "FROM cell_files ORDER BY cohort, patient_id, source_path"):
                cells[_norm(row["source_path"])] = row
        records: dict[str, SlideRecord] = {}
        for row in self.rows("SELECT * FROM pathology_slides ORDER BY cohort, patient_id"):
            path = row["slide_path"]
            records[slide_id(path)] = SlideRecord(
                id=slide_id(path), path=path, cohort=row["cohort"], patient_id=row["patient_id"], mpp=row["mpp"],
                width=row["width"], height=row["height"], grid_rows=row["grid_rows"], grid_cols=row["grid_cols"],
                patch_um=row["patch_um"], rgb_map=row["rgb_map"], overlay_png=row["overlay_png"],
                seg=seg.pop(_norm(path), None), cells=cells.get(_norm(path)),
                extra={"vendor": row["vendor"], "levels": row["levels"]})
        for row in seg.values():   # segmented slides that were not TIL-scored
            path = row["slide_path"]
            if slide_id(path) not in records:
                records[slide_id(path)] = SlideRecord(
                    id=slide_id(path), path=path, cohort=row["cohort"], patient_id=row["patient_id"], seg=row,
                    cells=cells.get(_norm(path)))
        return records

    def slide(self, sid: str) -> SlideRecord | None:
        return self.slides.get(sid) if SLIDE_ID.match(sid) else None

    def patient_slides(self, cohort: str, patient_id: str) -> list[SlideRecord]:
        return [s for s in self.slides.values() if s.cohort == cohort and s.patient_id == patient_id]

    # ------------------------------------------------------------------ cohorts
    def cohorts(self) -> list[dict[str, Any]]:
        return self.rows("SELECT * FROM cohorts ORDER BY role <> 'training', cohort")

    def cohort(self, name: str) -> dict[str, Any] | None:
        if not COHORT_NAME.match(name):
            return None
        found = self.rows("SELECT * FROM cohorts WHERE cohort = ?", [name])
        return found[0] if found else None

    def inclusion_flow(self, name: str) -> list[dict[str, Any]]:
        return self.rows("SELECT step, criterion, n_before, n_excluded, n_after FROM inclusion_flow "
                         "WHERE cohort = ? ORDER BY step", [name])

    def cohort_patients(self, name: str) -> list[dict[str, Any]]:
        score = ("(SELECT til_score FROM pathology_scores s WHERE s.cohort = p.cohort AND s.patient_id = p.patient_id)"
                 if self.has("pathology_scores") else "NULL")
        return self.rows(
            f"SELECT p.patient_id, p.included, p.exclusion_reason, c.subtype, c.stage, t.stromal_til_pct, "
            f"t.til_category, {score} AS til_score FROM patients p "
            "LEFT JOIN clinical c USING (cohort, patient_id) LEFT JOIN til t USING (cohort, patient_id) "
            "WHERE p.cohort = ? ORDER BY p.patient_id", [name])

    def search(self, text: str, limit: int = 50) -> list[dict[str, Any]]:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return self.rows("SELECT patient_id, cohort, included FROM patients WHERE patient_id ILIKE ? ESCAPE '\\' "
                         "ORDER BY patient_id = ? DESC, patient_id LIMIT ?", [pattern, text, limit])

    # ------------------------------------------------------------------ patients
    def patient(self, patient_id: str) -> list[dict[str, Any]]:
        """The patient's registry rows (one per cohort that lists the id)."""
        if not PATIENT_ID.match(patient_id):
            return []
        return self.rows("SELECT * FROM patients WHERE patient_id = ? ORDER BY cohort", [patient_id])

    def clinical(self, cohort: str, patient_id: str) -> dict[str, Any]:
        found = self.rows("SELECT * EXCLUDE (cohort, patient_id, run_id) FROM clinical "
                          "WHERE cohort = ? AND patient_id = ?", [cohort, patient_id])
        return found[0] if found else {}

    def outcomes(self, cohort: str, patient_id: str) -> list[dict[str, Any]]:
        return self.rows("SELECT endpoint, time_days, event FROM outcomes WHERE cohort = ? AND patient_id = ? "
                         "ORDER BY endpoint", [cohort, patient_id])

    def mri_features(self, cohort: str, patient_id: str) -> list[dict[str, Any]]:
        """The patient's Table 1 MRI features with their percentile among the cohort's patients."""
        return self.rows(
            "WITH cohort_values AS (SELECT patient_id, code, value, "
            "  percent_rank() OVER (PARTITION BY code ORDER BY value) AS percentile, "
            "  min(value) OVER (PARTITION BY code) AS lo, max(value) OVER (PARTITION BY code) AS hi, "
            "  count(*) OVER (PARTITION BY code) AS n "
            "  FROM features WHERE cohort = ? AND modality = 'mri' AND value IS NOT NULL) "
            "SELECT t.family, t.code, t.name, t.unit, v.value, v.percentile, v.lo, v.hi, v.n "
            "FROM mri_table1 t JOIN cohort_values v ON v.code = t.code WHERE v.patient_id = ? "
            "ORDER BY t.family, t.code", [cohort, patient_id])

    def til(self, cohort: str, patient_id: str) -> dict[str, Any]:
        found = self.rows("SELECT stromal_til_pct, n_readings, til_category FROM til "
                          "WHERE cohort = ? AND patient_id = ?", [cohort, patient_id])
        out = found[0] if found else {}
        if self.has("pathology_scores"):
            scores = self.rows("SELECT * EXCLUDE (cohort, patient_id, run_id) FROM pathology_scores "
                               "WHERE cohort = ? AND patient_id = ?", [cohort, patient_id])
            if scores:
                out["scores"] = scores[0]
        return out

    def genomics(self, cohort: str, patient_id: str) -> dict[str, float]:
        rows = self.rows("SELECT code, value FROM features WHERE cohort = ? AND patient_id = ? "
                         "AND modality = 'genomics' AND code IN ('CYT', 'CYT_log2', 'TMB', 'TMB_count')",
                         [cohort, patient_id])
        return {r["code"]: r["value"] for r in rows}

    def predictions(self, cohort: str, patient_id: str) -> list[dict[str, Any]]:
        """Each model's newest prediction for the patient; `survival` marks models validated on the cohort."""
        if not self.has("model_predictions"):
            return []
        validated = ("EXISTS (SELECT 1 FROM survival_results r WHERE r.cohort = p.cohort AND r.model = p.model "
                     "AND r.version = p.version)" if self.has("survival_results") else "false")
        return self.rows(
            f"SELECT p.model, p.version, p.predicted, p.til_group, {validated} AS survival FROM model_predictions p "
            "WHERE p.cohort = ? AND p.patient_id = ? "
            "QUALIFY row_number() OVER (PARTITION BY p.model ORDER BY p.version DESC) = 1 ORDER BY p.model",
            [cohort, patient_id])

    def has_mri(self, cohort: str, patient_id: str) -> bool:
        if not self.has("mri_case_qc"):
            return False
        return bool(self.rows("SELECT count(*) AS n FROM mri_case_qc WHERE cohort = ? AND patient_id = ?",
                              [cohort, patient_id])[0]["n"])

    def manifest(self, cohort: str) -> str | None:
        found = self.rows("SELECT manifest_path FROM cohort_registry WHERE cohort = ?", [cohort])
        return str(found[0]["manifest_path"]) if found else None
