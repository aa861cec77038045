"""Pictures the viewer draws on demand and keeps: the manuscript figures and each patient's MRI montage.

Both reuse the code that draws them for the report (`radpath.report.figures.FIGURES`) and for
`radpath mri inspect` (`radpath.mri.inspect.montage`); the files go to a temporary folder the app owns
and are drawn once per app (matplotlib's object API on Agg canvases, one drawing at a time).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import duckdb

from radpath.errors import RadpathError


class Drawings:
    def __init__(self, root: Path | None = None):
        self._tmp = None if root is not None else tempfile.TemporaryDirectory(prefix="radpath-viewer-")
        self.root = Path(root) if root is not None else Path(self._tmp.name)   # type: ignore[union-attr]
        self._lock = threading.Lock()
        self._figures: tuple[dict[str, list[Path]], dict[str, str]] | None = None
        self._montages: dict[tuple[str, str], Path | str] = {}

    def figures(self, con: duckdb.DuckDBPyConnection) -> tuple[dict[str, list[Path]], dict[str, str]]:
        """Every registered manuscript figure (PNG files per figure) and why the others were skipped."""
        with self._lock:
            if self._figures is None:
                from radpath.report.figures import draw_figures

                out = self.root / "figures"
                out.mkdir(parents=True, exist_ok=True)
                drawn, skipped = draw_figures(con, out)
                drawn = {name: [p for p in paths if p.suffix == ".png"] for name, paths in drawn.items()}
                self._figures = (drawn, skipped)
            return self._figures

    def mri_montage(self, cohort: str, patient_id: str, manifest: str) -> Path:
        """The pre/early/late/PE/SER/masks montage of the patient's middle tumour slice (RadpathError if none)."""
        key = (cohort, patient_id)
        with self._lock:
            found = self._montages.get(key)
            if found is None:
                found = self._draw_montage(cohort, patient_id, manifest)
                self._montages[key] = found
        if isinstance(found, str):
            raise RadpathError(found)
        return found

    def _draw_montage(self, cohort: str, patient_id: str, manifest: str) -> Path | str:
        from radpath.mri.inspect import montage, resolve_case
        from radpath.mri.params import MRIParams
        from radpath.mri.pipeline import prepare_case

        try:
            prepared: Any = prepare_case(resolve_case(patient_id, manifest), MRIParams())
        except RadpathError as exc:
            return f"no MRI montage for {cohort}/{patient_id}: {exc}"
        out = self.root / "mri" / cohort
        out.mkdir(parents=True, exist_ok=True)
        return montage(prepared, out / f"{patient_id}.png", patient_id)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
