"""Fixtures of the MRI tests (helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import phantom_arrays, write_nifti_case


@pytest.fixture
def nifti_case(tmp_path: Path) -> Path:
    return write_nifti_case(tmp_path / "CASE1", phantom_arrays())
