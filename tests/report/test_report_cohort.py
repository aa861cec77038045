"""Report, figures and tables take the cohort from --cohort with one documented default (the training cohort);
a figure that cannot be drawn is listed and makes the command exit 1 unless --allow-missing (#17.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radpath.cli.app import main
from radpath.errors import ReportError
from radpath.ingest import ingest_manifest
from radpath.report.tables import default_cohort
from radpath.warehouse import open_warehouse


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return 0 if exit_info.value.code is None else int(exit_info.value.code)


def test_figures_all_drawn_exit_0(study_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # study_db holds a stored evaluation (ROC and box plots) and segment-wsi rows (stromal TIL figure)
    assert _cli(["figures", "--out", str(tmp_path / "f"), "--db", str(study_db)]) == 0
    assert "not drawn" not in capsys.readouterr().out
    assert (tmp_path / "f" / "feature_heatmap.png").stat().st_size > 5_000


def test_missing_figures_are_listed_and_fail_unless_allowed(
    table_study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "tables_only.duckdb"
    with open_warehouse(db) as con:
        for manifest in table_study.manifests.values():
            ingest_manifest(con, manifest)
    assert _cli(["figures", "--out", str(tmp_path / "f"), "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "8 figure(s) not drawn:" in out
    assert "feature_heatmap: no mri features for cohort tcga_brca" in out
    assert _cli(["figures", "--out", str(tmp_path / "f"), "--db", str(db), "--allow-missing"]) == 0
    assert _cli(["report", "--out", str(tmp_path / "r"), "--db", str(db), "--format", "csv"]) == 1
    out = capsys.readouterr().out
    assert "figure(s) not drawn" in out and (tmp_path / "r" / "report.html").exists()


def test_the_cohort_option_is_used_and_checked(report_db: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(["figures", "--out", str(tmp_path / "f"), "--db", str(report_db), "--cohort", "ispy1"]) == 1
    assert "feature_heatmap: no mri features for cohort ispy1" in capsys.readouterr().out
    assert _cli(["report", "--out", str(tmp_path / "r"), "--db", str(report_db), "--cohort", "nope"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: unknown cohort 'nope'; cohorts in the warehouse: ispy1, tcga_brca")


def test_the_default_cohort_is_the_one_training_cohort(report_db: Path) -> None:
    with open_warehouse(report_db) as con:
        assert default_cohort(con) == "tcga_brca"
        con.execute("UPDATE cohort_registry SET role = 'training'")
        with pytest.raises(ReportError, match=r"several training cohorts \(ispy1, tcga_brca\); choose one"):
            default_cohort(con)
        con.execute("UPDATE cohort_registry SET role = 'validation'")
        with pytest.raises(ReportError, match="no cohort has role training; choose one with --cohort"):
            default_cohort(con)


def test_stromal_til_figure_from_segmentation_rows(report_db: Path, study_db: Path, tmp_path: Path) -> None:
    """The report draws the stromal TIL scores of segment-wsi against the reading (#12) once seg rows exist
    (study_db: STROMAL_TIL = reading + 5 exactly for six patients)."""
    from radpath.report.figures import FigureSkipped, stromal_til_scatter

    with open_warehouse(report_db, read_only=True) as con, pytest.raises(FigureSkipped, match="run segment-wsi"):
        stromal_til_scatter(con, tmp_path)
    with open_warehouse(study_db, read_only=True) as con:
        paths = stromal_til_scatter(con, tmp_path)
    assert [p.name for p in paths] == ["stromal_til_vs_reading.png", "stromal_til_vs_reading.svg"]
    assert "bias +5.0 (5.0 to 5.0)" in paths[1].read_text()   # score = reading + 5 exactly
