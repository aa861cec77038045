"""Tables in the terminal keep their digits (wide results switch to one block per row) and empty results say
"0 rows" with their columns instead of a pandas repr (issue 17.5)."""

from __future__ import annotations

import io
from pathlib import Path

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


# ---- issue 23 §6/§7: data is never markup; output to a file or pipe is never hard-wrapped


@pytest.fixture
def terminal_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console as if stdout were a 120-column terminal (the crashes happened only in a terminal)."""
    from radpath.cli import common

    monkeypatch.setattr(common.console, "_force_terminal", True)
    monkeypatch.setattr(common.console, "_width", 120)


def test_values_that_look_like_markup_print_as_they_are() -> None:
    frame = pd.DataFrame({"x": ["T2[a]", "[/bold]", ":smile:", "[red]n[/red]"], "[/i]": [1, 2, 3, 4]})
    out, buffer = _terminal(100)
    print_frame(frame, "[/b] title", out=out)
    text = buffer.getvalue()
    for value in ("T2[a]", "[/bold]", ":smile:", "[red]n[/red]", "[/i]", "[/b] title"):
        assert value in text


def _cohort_with_description(tmp_path: Path, description: str) -> Path:
    from radpath.cli.app import main

    manifest = tmp_path / "c" / "manifest.yaml"
    manifest.parent.mkdir()
    (manifest.parent / "clinical.csv").write_text("patient_id,age\nP1,50\nP2,60\n")
    manifest.write_text(f"name: c1\ndescription: '{description}'\nclinical:\n- path: clinical.csv\n"
                        "  id_column: patient_id\n  columns:\n    age: age\n")
    db = tmp_path / "w.duckdb"
    with pytest.raises(SystemExit) as exit_info:
        main(["ingest", str(manifest), "--db", str(db)])
    assert exit_info.value.code in (0, None)
    return db


@pytest.mark.parametrize("command", [["status"], ["cohort", "list"]])
def test_a_cohort_description_with_markup_prints_in_a_terminal(
    tmp_path: Path, terminal_console: None, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    from radpath.cli.app import main

    db = _cohort_with_description(tmp_path, "MRI [/i] cohort :x: T2[a]")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--db", str(db)])
    out = capsys.readouterr().out
    assert exit_info.value.code in (0, None)
    assert "MRI [/i] cohort :x: T2[a]" in out


def test_output_to_a_pipe_is_not_wrapped_at_80_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from radpath.cli.app import main

    deep = tmp_path / ("a_long_folder_name_" * 4) / ("another_long_folder_name_" * 3)
    db = deep / "warehouse.duckdb"
    with pytest.raises(SystemExit):
        main(["init", "--db", str(db)])
    line = capsys.readouterr().out.strip()
    assert len(line) > 120 and "\n" not in line
    assert line.startswith(f"warehouse {db} is at schema version")
