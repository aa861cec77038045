"""The manuscript tables count and footnote slides with QC flags; their features stay in (#24 §2)."""

from __future__ import annotations

from pathlib import Path

from radpath.report.tables import TABLES
from radpath.warehouse import open_warehouse


def build_tables(con: object) -> dict:
    return {t.name: t.build(con, None) for t in TABLES if t.name in ("table1_features", "table_associations")}


def test_tables_footnote_flagged_slides(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        assert not any("Slide QC" in n for t in build_tables(con).values() for n in t.footnotes)
        for pid, stage, code in (("P1", "score-wsi", "synthetic_model"), ("P1", "segment-wsi", "synthetic_model"),
                                 ("P2", "score-wsi", "synthetic_model"), ("P2", "score-wsi", "no_tumour"),
                                 ("Q1", "score-wsi", "mpp_mismatch")):
            con.execute("INSERT INTO slide_qc (cohort, patient_id, stage, code, reason, run_id) VALUES (?, ?, ?, ?, "
                        "'why', 'r')", ["other" if pid == "Q1" else "tcga_brca", pid, stage, code])
        tables = build_tables(con)
    notes = [n for n in tables["table1_features"].footnotes if n.startswith("Slide QC")]
    assert notes == [
        "Slide QC, cohort other: 1 patients' slides flagged (mpp_mismatch 1); their features are kept and included "
        "(reasons: radpath sql \"SELECT * FROM slide_qc\").",
        "Slide QC, cohort tcga_brca: 2 patients' slides flagged (no_tumour 1, synthetic_model 2); their features are "
        "kept and included (reasons: radpath sql \"SELECT * FROM slide_qc\")."]
    assert [n for n in tables["table_associations"].footnotes if n.startswith("Slide QC")] == notes
