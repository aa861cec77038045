"""Tables in the terminal keep their digits (wide results switch to one block per row) and empty results say
"0 rows" with their columns instead of a pandas repr (issue 17.5)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from radpath.cli.common import print_frame


def _terminal(width: int) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=width, force_terminal=True, color_system=None), buffer


def test_a_wide_table_switches_to_records_and_keeps_every_digit() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.uniform(0.1, 0.9, size=(2, 30)), columns=[f"feature_{i:02d}" for i in range(30)])
    frame.insert(0, "cohort", ["tcga_brca", "ispy1"])
    out, buffer = _terminal(100)
    print_frame(frame, "table3", out=out)
    text = buffer.getvalue()
    assert "…" not in text
    assert "-[ row 2 ]" in text
    for value in frame.iloc[:, 1:].to_numpy().ravel():
        assert f"{value:.4g}" in text
    assert "cohort     | tcga_brca" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_a_table_that_fits_stays_a_table_with_full_numbers() -> None:
    frame = pd.DataFrame({"cohort": ["tcga_brca"], "auc": [0.734512], "n": [126]})
    out, buffer = _terminal(100)
    print_frame(frame, out=out)
    text = buffer.getvalue()
    assert "0.7345" in text and "tcga_brca" in text and "126" in text and "-[ row" not in text


@pytest.mark.parametrize("terminal", [True, False])
def test_empty_results_say_zero_rows_and_the_columns(terminal: bool, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame({"patient_id": pd.Series([], dtype=str), "value": pd.Series([], dtype=float)})
    buffer = io.StringIO()
    out = Console(file=buffer, width=80, force_terminal=terminal, color_system=None)
    print_frame(frame, out=out)
    text = buffer.getvalue() + capsys.readouterr().out
    assert text.strip() == "0 rows (columns: patient_id, value)"
    assert "Empty DataFrame" not in text
