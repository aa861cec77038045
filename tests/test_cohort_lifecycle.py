"""Cohorts: an empty cohort is refused, rows that match no patient are counted, `cohort remove` deletes a
cohort's rows in one transaction, and an unknown cohort is named as unknown with the known ones (#17.3, #17.4)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from radpath.cli.app import main
from radpath.errors import IngestError, UnknownCohortError
from radpath.ingest import ingest_manifest
from radpath.synth.study import Study
from radpath.synth.truth import TRAIN, VALID
from radpath.warehouse import open_warehouse
from radpath.warehouse.cohorts import cohort_tables, remove_cohort, require_cohort


def _copy_training(study: Study, tmp_path: Path) -> Path:
    folder = tmp_path / "train"
    shutil.copytree(study.manifests[TRAIN].parent, folder)
    return folder / "manifest.yaml"


def _cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return 0 if exit_info.value.code is None else int(exit_info.value.code)


def test_a_cohort_without_patients_is_an_error_and_writes_nothing(
    table_study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _copy_training(table_study, tmp_path)
    clinical = manifest.parent / "clinical" / "clinical.tsv"
    clinical.write_text(clinical.read_text().splitlines()[0] + "\n")  # header only
    with pytest.raises(IngestError, match=r"cohort tcga_brca: the clinical table .*clinical\.tsv lists no patients"):
        ingest_manifest(duckdb.connect(), manifest)
    db = tmp_path / "w.duckdb"
    assert _cli(["ingest", str(manifest), "--db", str(db)]) == 2
    assert "lists no patients" in capsys.readouterr().err
    with open_warehouse(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM patients").fetchone() == (0,)


def test_rows_of_other_sources_that_match_no_patient_are_counted(
    table_study: Study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = _copy_training(table_study, tmp_path)
    til = manifest.parent / "pathology" / "til_readings.csv"
    header, *rows = til.read_text().splitlines()
    strangers = [f"TCGA-ZZ-{i:04d},12.5,reader1" for i in range(3)]
    assert header.split(",")[:2] == ["patient_id", "stromal_til_pct"], header
    til.write_text("\n".join([header, *rows, *strangers]) + "\n")
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        data = ingest_manifest(con, manifest)
    assert data.unmatched == {"til": 3}
    assert _cli(["ingest", str(manifest), "--db", str(db)]) == 0
    assert "3 til rows name patients the clinical table does not list" in capsys.readouterr().out


@pytest.fixture
def two_cohorts(table_study: Study, tmp_path: Path) -> Path:
    db = tmp_path / "w.duckdb"
    with open_warehouse(db) as con:
        for cohort in (TRAIN, VALID):
            ingest_manifest(con, table_study.manifests[cohort])
        con.execute("INSERT INTO feature_values SELECT cohort, patient_id, 'mri', 'X', 1.0, 'h', 'r', true "
                    "FROM patient_registry")
    return db


def _counts(db: Path, cohort: str) -> dict[str, int]:
    with open_warehouse(db, read_only=True) as con:
        return {t: con.execute(f'SELECT count(*) FROM "{t}" WHERE cohort = ?', [cohort]).fetchone()[0]
                for t in cohort_tables(con)}


def test_cohort_remove_deletes_every_row_of_the_cohort_and_only_those(
    two_cohorts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kept_before = _counts(two_cohorts, VALID)
    removed_before = _counts(two_cohorts, TRAIN)
    assert removed_before["patient_registry"] > 0 and removed_before["feature_values"] > 0
    assert _cli(["cohort", "remove", TRAIN, "--yes", "--db", str(two_cohorts)]) == 0
    out = capsys.readouterr().out
    assert f"removed cohort {TRAIN}: {sum(removed_before.values())} rows" in out
    assert set(_counts(two_cohorts, TRAIN).values()) == {0}
    assert _counts(two_cohorts, VALID) == kept_before
    assert _cli(["cohort", "show", TRAIN, "--db", str(two_cohorts)]) == 2
    assert capsys.readouterr().err.strip() == f"error: unknown cohort '{TRAIN}'; cohorts in the warehouse: {VALID}"


def test_cohort_remove_needs_yes_when_not_at_a_terminal(two_cohorts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _counts(two_cohorts, TRAIN)
    assert _cli(["cohort", "remove", TRAIN, "--db", str(two_cohorts)]) == 2
    assert "pass --yes" in capsys.readouterr().err
    assert _counts(two_cohorts, TRAIN) == before


def test_cohort_remove_is_all_or_nothing(two_cohorts: Path) -> None:
    """A table whose rows cannot be deleted (a foreign key points at them) rolls the whole removal back."""
    with open_warehouse(two_cohorts) as con:
        con.execute("CREATE TABLE aa_parent (cohort VARCHAR PRIMARY KEY)")
        con.execute("CREATE TABLE ab_child (cohort VARCHAR REFERENCES aa_parent (cohort))")
        con.execute("INSERT INTO aa_parent VALUES (?)", [TRAIN])
        con.execute("INSERT INTO ab_child VALUES (?)", [TRAIN])
        before = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in cohort_tables(con)}
        with pytest.raises(duckdb.Error):
            remove_cohort(con, TRAIN)
        after = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in cohort_tables(con)}
    assert after == before


def test_unknown_cohort_lists_the_known_ones(two_cohorts: Path) -> None:
    with open_warehouse(two_cohorts, read_only=True) as con:
        assert require_cohort(con, VALID) == VALID
        with pytest.raises(UnknownCohortError, match=rf"^unknown cohort 'nope'; cohorts in the warehouse: {VALID}, "
                                                     rf"{TRAIN}$"):
            require_cohort(con, "nope")


@pytest.mark.parametrize("command", [
    ["associate", "--cohort", "nope"],
    ["fit-signature", "--cohort", "nope"],
    ["validate-survival", "--cohort", "nope", "--model", "composite", "--no-figures"],
    ["tables", "--out", "tables", "--cohort", "nope"],
])
def test_commands_name_an_unknown_cohort_as_unknown(
    command: list[str], two_cohorts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _cli([*command, "--db", str(two_cohorts)]) == 2
    expected = f"error: unknown cohort 'nope'; cohorts in the warehouse: {VALID}, {TRAIN}"
    assert capsys.readouterr().err.strip() == expected
    with open_warehouse(two_cohorts, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM runs WHERE command <> 'ingest'").fetchone() == (0,)
