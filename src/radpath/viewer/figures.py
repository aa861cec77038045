"""Pictures the viewer draws and keeps: the manuscript figures and each patient's MRI montage.

Both reuse the code that draws them for the report (`radpath.report.figures.FIGURES`) and for
`radpath mri inspect` (`radpath.mri.inspect.montage`). Drawing runs on one background thread of its own
(matplotlib's object API on Agg canvases, one drawing at a time), never on the threads that answer requests:
a request gets a `Future` and waits for it without holding a worker (`asyncio.wrap_future`), or does not wait
at all (the figures page says they are being drawn and reloads). The manuscript figures are drawn once per
warehouse state (`Snapshot.key`) into `<root>/figures/<key>/`; the drawings of the last `KEEP_STATES` states
are kept. Montages are drawn once per app (they come from the MRI files, not the warehouse).
"""

from __future__ import annotations

import functools
import shutil
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radpath.errors import RadpathError
from radpath.viewer.snapshots import Snapshot, Snapshots

KEEP_STATES = 2


@dataclass(frozen=True)
class Figures:
    """The manuscript figures of one warehouse state: PNG files per figure, and why the others were skipped."""

    key: str
    drawn: dict[str, list[Path]]
    skipped: dict[str, str]


class Drawings:
    """Drawings kept under `root` (a folder the app owns)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="radpath-drawing")
        self._figures: OrderedDict[str, Future[Figures]] = OrderedDict()
        self._montages: dict[tuple[str, str], Future[Path | str]] = {}
        self.drawn_states = 0          # how many times the figures were drawn (once per warehouse state)

    # ------------------------------------------------------------------ manuscript figures
    def figures(self, snapshots: Snapshots, snapshot: Snapshot) -> Future[Figures]:
        """The figures of `snapshot`'s warehouse state: drawn, being drawn, or now queued for drawing."""
        with self._lock:
            found = self._figures.get(snapshot.key)
            if found is not None:
                self._figures.move_to_end(snapshot.key)
                return found
            held = snapshots.acquire(snapshot)      # the snapshot stays open until its figures are drawn
            future = self._pool.submit(self._draw_figures, held)
            future.add_done_callback(lambda _: snapshots.release(held))    # drawn, failed or cancelled
            self._figures[snapshot.key] = future
            while len(self._figures) > KEEP_STATES:
                key, old = self._figures.popitem(last=False)
                old.add_done_callback(functools.partial(self._forget, key))
            return future

    def _forget(self, key: str, _: Future[Figures]) -> None:
        shutil.rmtree(self.root / "figures" / key, ignore_errors=True)

    def drawn_figures(self, key: str) -> Figures | None:
        """The figures of warehouse state `key` if they are drawn and still kept."""
        with self._lock:
            found = self._figures.get(key)
        if found is None or not found.done() or found.cancelled() or found.exception() is not None:
            return None
        return found.result()

    def _draw_figures(self, snapshot: Snapshot) -> Figures:
        from radpath.report.figures import draw_figures

        out = self.root / "figures" / snapshot.key
        out.mkdir(parents=True, exist_ok=True)
        with snapshot.study.cursor() as con:
            drawn, skipped = draw_figures(con, out)
        self.drawn_states += 1
        return Figures(snapshot.key, {name: [p for p in paths if p.suffix == ".png"] for name, paths in drawn.items()},
                       skipped)

    # ------------------------------------------------------------------ MRI montages
    def mri_montage(self, cohort: str, patient_id: str, manifest: str) -> Future[Path | str]:
        """The pre/early/late/PE/SER/masks montage of the patient's middle tumour slice: its PNG, or the
        reason there is none (a text)."""
        key = (cohort, patient_id)
        with self._lock:
            found = self._montages.get(key)
            if found is None:
                found = self._pool.submit(self._draw_montage, cohort, patient_id, manifest)
                self._montages[key] = found
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
        self._pool.shutdown(wait=True, cancel_futures=True)
