"""Synthetic genomics renderer (being written; renders nothing yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from radpath.synth.truth import TRAIN, VALID


def render_genomics(truth: pd.DataFrame, out: Path, seed: int) -> dict[str, dict[str, Any]]:
    return {TRAIN: {}, VALID: {}}
