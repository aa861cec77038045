"""What the viewer reads from the warehouse: one read-only DuckDB connection, parameterised queries only.

`Study` is the viewer's only door to a warehouse file (the snapshot `radpath.viewer.snapshots` takes of
the warehouse), opened by `connect_read_only` (read-only, external access off, configuration locked). It
never writes and runs no SQL it was handed:
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
PATHOLOGY_MODALITIES = ("pathology", "cells")     # feature modalities the slide stages write
PATHOLOGY_STAGES = ("score-wsi", "import-til-maps", "segment-wsi", "detect-cells")   # the order they are shown in


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
        """The cohort's inclusion steps with the reason its excluded patients are stored with ('no pre-treatment
        DCE-MRI' beside the criterion 'pre-treatment DCE-MRI present')."""
        return self.rows("SELECT step, criterion, n_before, n_excluded, n_after, exclusion_reason FROM inclusion_flow "
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
        """The patient's Table 1 MRI features with their percentile among the cohort's included patients.

        percentile = #(other included patients with a lower value) / #(other included patients): DuckDB's
        percent_rank among the included patients for an included patient, and the rank among the included
        patients plus this one for an excluded patient. `n` counts the included patients with the feature,
        `included` says whether the patient is one of them."""
        return self.rows(
            "WITH mine AS (SELECT code, value FROM features WHERE cohort = ? AND patient_id = ? AND modality = 'mri' "
            "  AND value IS NOT NULL AND NOT isnan(value)), "
            "included AS (SELECT f.patient_id, f.code, f.value FROM features f "
            "  JOIN patients p USING (cohort, patient_id) WHERE f.cohort = ? AND p.included AND f.modality = 'mri' "
            "  AND f.value IS NOT NULL AND NOT isnan(f.value)), "
            "me AS (SELECT bool_or(included) AS included FROM patients WHERE cohort = ? AND patient_id = ?) "
            "SELECT t.family, t.code, t.name, t.unit, m.value, "
            "  count(i.value) FILTER (WHERE i.patient_id <> ? AND i.value < m.value) "
            "    / nullif(count(i.value) FILTER (WHERE i.patient_id <> ?), 0) AS percentile, "
            "  min(i.value) AS lo, max(i.value) AS hi, count(i.value) AS n, any_value(me.included) AS included "
            "FROM mri_table1 t JOIN mine m ON m.code = t.code LEFT JOIN included i ON i.code = m.code, me "
            "GROUP BY t.family, t.code, t.name, t.unit, m.value ORDER BY t.family, t.code",
            [cohort, patient_id, cohort, cohort, patient_id, patient_id, patient_id])

    def pathology_features(self, cohort: str, patient_id: str) -> list[dict[str, Any]]:
        """Every pathology feature of the patient (modalities `pathology` and `cells`: TIL scores, compartment
        areas, stromal TIL, cell densities, Ki-67 index ...) with its definition from `feature_defs` and the
        stage that wrote it (the run's command; the feature's family where the run is not recorded)."""
        order = " ".join(f"WHEN '{stage}' THEN {i}" for i, stage in enumerate(PATHOLOGY_STAGES))
        return self.rows(
            "SELECT coalesce(r.command, d.family, f.modality) AS stage, d.family, f.code, d.name, d.unit, d.formula, "
            "  f.value FROM features f LEFT JOIN feature_defs d USING (code) LEFT JOIN runs r USING (run_id) "
            f"WHERE f.cohort = ? AND f.patient_id = ? AND f.modality IN ({', '.join('?' * len(PATHOLOGY_MODALITIES))}) "
            f"ORDER BY CASE stage {order} ELSE {len(PATHOLOGY_STAGES)} END, stage, d.family, f.code",
            [cohort, patient_id, *PATHOLOGY_MODALITIES])

    def til(self, cohort: str, patient_id: str) -> dict[str, Any]:
        """The pathologists' stromal TIL reading (mean over readers) and its category; {} when not reported."""
        found = self.rows("SELECT stromal_til_pct, n_readings, til_category FROM til "
                          "WHERE cohort = ? AND patient_id = ?", [cohort, patient_id])
        return found[0] if found else {}

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
