"""Explicit registry of the synthetic study's modality renderers.

A renderer is `render(truth, out, seed) -> {cohort: {manifest_key: section}}`: it writes files for the
patients of `truth` (both cohorts; see `truth.py` for the columns, including the `has_*` presence
flags it must honour) under `out/<cohort>/...`, and returns the manifest sections that point at them
(paths relative to the cohort folder). Renderers run in the order listed; each draws its own random
numbers from `seed` so adding one never changes another's output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from radpath.synth.genomics import render_genomics
from radpath.synth.he_cells import render_he_cells
from radpath.synth.ihc import render_ihc
from radpath.synth.mri import render_mri
from radpath.synth.slides import render_slides
from radpath.synth.tables import render_tables

Renderer = Callable[[pd.DataFrame, Path, int], dict[str, dict[str, Any]]]

RENDERERS: dict[str, Renderer] = {
    "tables": render_tables,
    "mri": render_mri,
    "slides": render_slides,
    "genomics": render_genomics,
    "ihc": render_ihc,
    "he_cells": render_he_cells,
}
