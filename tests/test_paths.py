"""The checked opener (radpath.paths): each kind of path, its one-line errors, and what it creates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radpath.errors import PathError
from radpath.paths import PathKind, check_path, is_binary, output_dir, output_file, read_text


def test_text_files_and_what_is_not_one(tmp_path: Path) -> None:
    text = tmp_path / "m.yaml"
    text.write_text("name: é\n" * 5000, encoding="utf-8")  # multi-byte characters across the sniffed block
    assert not is_binary(text) and read_text(text).startswith("name: é")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("id,name\n1,J\xe9r\xf4me\n".encode("latin-1"))
    with pytest.raises(PathError, match=r"manifest '.*latin1\.csv': is not UTF-8 text \(byte 11\); save it as UTF-8"):
        read_text(latin, "manifest")
    duck = tmp_path / "w.duckdb"
    duck.write_bytes(b"\x00\x01DUCK" * 100)
    with pytest.raises(PathError, match="is a binary file"):
        check_path(duck, PathKind.TEXT, "manifest")
    with pytest.raises(PathError, match="is a folder, expected a text file"):
        check_path(tmp_path, PathKind.TEXT, "manifest")
    with pytest.raises(PathError, match=r"no such file \(folder .*nope does not exist either\)"):
        check_path(tmp_path / "nope" / "m.yaml", PathKind.TEXT, "manifest")


@pytest.mark.parametrize("kind", list(PathKind))
@pytest.mark.parametrize("value", ["", "   ", None])
def test_empty_paths_are_refused_for_every_kind(kind: PathKind, value: str | None) -> None:
    with pytest.raises(PathError, match="--out: empty path"):
        check_path(value, kind, "--out")


def test_outputs_create_their_folders_but_not_through_a_file(tmp_path: Path) -> None:
    target = output_file(tmp_path / "a" / "b" / "out.csv", "--csv")
    assert target.parent.is_dir() and not target.exists()
    folder = output_dir(tmp_path / "c" / "d", "--out")
    assert folder.is_dir()
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(PathError, match=r"cannot create its folder: .*file\.txt is a file, not a folder"):
        output_file(blocker / "sub" / "out.csv", "--csv")
    with pytest.raises(PathError, match="is a file, expected a folder"):
        output_dir(blocker, "--out")
    with pytest.raises(PathError, match="is a folder, expected a file name"):
        output_file(folder, "--csv")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PathError, match="permission denied"):
        check_path(locked / "x.csv", PathKind.OUT_FILE, "--csv")


def test_folders_and_files_for_inputs(tmp_path: Path) -> None:
    (tmp_path / "f.bin").write_bytes(b"\x00")
    assert check_path(tmp_path, PathKind.FOLDER) == tmp_path
    assert check_path(tmp_path / "f.bin", PathKind.FILE) == tmp_path / "f.bin"
    assert check_path(tmp_path / "f.bin", PathKind.FILE_OR_FOLDER) == tmp_path / "f.bin"
    with pytest.raises(PathError, match="is a file, expected a folder"):
        check_path(tmp_path / "f.bin", PathKind.FOLDER, "maps")
    with pytest.raises(PathError, match="is a folder, expected a file name"):
        check_path(tmp_path, PathKind.WAREHOUSE, "warehouse")


def test_library_outputs_refuse_what_the_running_command_protects(tmp_path: Path) -> None:
    """Files a library writes inside an output folder go through output_file, which refuses the warehouse
    (and its companions) while a command protects them, whatever path leads there."""
    from radpath.paths import protecting, warehouse_files

    db = tmp_path / "w.duckdb"
    db.write_bytes(b"not yet a database")  # the name decides here, not the content
    (tmp_path / "maps").mkdir()
    (tmp_path / "maps" / "case.png").symlink_to(db)
    with protecting(warehouse_files(db)):
        with pytest.raises(PathError, match=r"'.*case.png': is the warehouse \(.*w.duckdb\); radpath never writes"):
            output_file(tmp_path / "maps" / "case.png")
        with pytest.raises(PathError, match="is the warehouse's temporary folder"):
            output_dir(tmp_path / "w.duckdb.tmp")
    assert output_file(tmp_path / "maps" / "case.png") == tmp_path / "maps" / "case.png"  # protection ended
    assert db.read_bytes() == b"not yet a database"


def test_an_existing_duckdb_file_is_never_an_output(tmp_path: Path) -> None:
    import duckdb

    other = tmp_path / "someone_elses.db"
    duckdb.connect(str(other)).close()
    with pytest.raises(PathError, match="is a DuckDB database"):
        output_file(other)
    (tmp_path / "table.csv").write_text("DUCKish text that is not a database\n")
    assert output_file(tmp_path / "table.csv") == tmp_path / "table.csv"
