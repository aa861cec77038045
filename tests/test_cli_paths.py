"""Every path a command takes is checked: a folder, a binary file, an empty string and a folder that cannot
exist give exit 2 and one line naming the path, never a traceback.

The commands and their path options are found by walking the typer app (a command added later is covered
without editing this file); the kind of path an option takes is its metavar (radpath.paths.KIND_BY_METAVAR).
"""

from __future__ import annotations

import enum
import typing
from pathlib import Path
from typing import Any

import pytest
import typer

from radpath.cli.app import build_app, main
from radpath.cli.checks import path_kind, takes_path, walk
from radpath.paths import KIND_BY_METAVAR, PathKind
from radpath.warehouse import open_warehouse


def _path_params() -> list[tuple[tuple[str, ...], str]]:
    command = typer.main.get_command(build_app())
    found = []
    for names, sub in walk(command):
        for param in getattr(sub, "params", []):
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is not None and takes_path(descriptor.annotation):
                found.append((names, param.name))
    return found


PATH_PARAMS = _path_params()


def _command(names: tuple[str, ...]) -> Any:
    command = typer.main.get_command(build_app())
    for name in names:
        command = command.commands[name]
    return command


def test_every_path_option_declares_its_kind() -> None:
    assert len(PATH_PARAMS) >= 40  # every command with --db, plus manifests, outputs, models, slides
    for names, name in PATH_PARAMS:
        param = next(p for p in _command(names).params if p.name == name)
        assert path_kind(param) is not None, (
            f"radpath {' '.join(names)}: path option {name} needs a metavar from {sorted(KIND_BY_METAVAR)} "
            "so that the command line checks it"
        )


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("paths")
    folder = root / "a_folder"
    folder.mkdir()
    binary = root / "binary.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    text = root / "filler.yaml"
    text.write_text("name: filler\n", encoding="utf-8")
    db = root / "ok.duckdb"
    with open_warehouse(db):
        pass
    return {"root": root, "folder": folder, "binary": binary, "text": text, "db": db,
            "missing": root / "no" / "such" / "folder" / "x.yaml", "under_file": binary / "sub" / "x.out"}


def _filler(param: Any, kind: PathKind | None, places: dict[str, Path], tmp: Path) -> str:
    """A value that passes the parse-time checks, so that the option under test is the one that fails."""
    if kind is PathKind.WAREHOUSE:
        return str(places["db"])
    if kind in (PathKind.FILE, PathKind.TEXT):
        return str(places["text"])
    if kind in (PathKind.FOLDER, PathKind.FILE_OR_FOLDER):
        return str(places["folder"])
    if kind in (PathKind.OUT_FILE, PathKind.OUT_FOLDER):
        return str(tmp / f"out_{param.name}")
    annotation = param.type_descriptor.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    base = args[0]
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return str(next(iter(base)).value)
    if base in (int, float):
        return "1"
    return "x"


def _args(names: tuple[str, ...], under_test: str, bad: str, places: dict[str, Path], tmp: Path) -> list[str]:
    command = _command(names)
    positional: list[str] = []
    options: list[str] = []
    for param in command.params:
        kind = path_kind(param)
        if param.name == under_test:
            value = bad
        elif param.required or kind is PathKind.WAREHOUSE:
            value = _filler(param, kind, places, tmp)
        else:
            continue
        if param.param_type_name == "argument":
            positional.append(value)
        else:
            options += [param.opts[0], value]
    return [*names, *positional, *options]


BAD = {
    # name: (place, kinds refused at parse time, kinds that must fail later with a one-line error)
    "folder": ("folder", {PathKind.FILE, PathKind.TEXT, PathKind.OUT_FILE, PathKind.WAREHOUSE}, set()),
    "binary": ("binary", {PathKind.TEXT, PathKind.FOLDER, PathKind.OUT_FOLDER},
               {PathKind.FILE, PathKind.FILE_OR_FOLDER, PathKind.WAREHOUSE}),
    "empty": ("", set(PathKind), set()),
    "missing_parent": ("missing", {PathKind.FILE, PathKind.TEXT, PathKind.FOLDER, PathKind.FILE_OR_FOLDER}, set()),
    "parent_is_a_file": ("under_file", set(PathKind), set()),
}

CASES = [(names, name, bad) for names, name in PATH_PARAMS for bad in BAD]


@pytest.mark.parametrize(("names", "name", "bad"), CASES,
                         ids=[f"{'-'.join(n)}:{p}:{b}" for n, p, b in CASES])
def test_bad_paths_are_one_line_errors(
    names: tuple[str, ...], name: str, bad: str, places: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    place, parse_time, later = BAD[bad]
    param = next(p for p in _command(names).params if p.name == name)
    kind = path_kind(param)
    assert kind is not None
    if kind not in parse_time | later:
        pytest.skip(f"a {bad} is a valid {kind.value}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADPATH_DB", raising=False)
    value = str(places[place]) if place else ""
    with pytest.raises(SystemExit) as exit_info:
        main(_args(names, name, value, places, tmp_path))
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert exit_info.value.code == 2, captured.out + captured.err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    if kind in parse_time:
        assert (value and value in err) or (not value and "empty path" in err), err


def test_outputs_get_their_missing_folders(places: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "out.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 42 AS answer", "--db", str(places["db"]), "--csv", str(out)])
    assert exit_info.value.code in (0, None)
    assert out.read_text().split() == ["answer", "42"]


# --- No output path may resolve to the warehouse, its companions or an input (issue #23 §1) -------------------

def _output_params() -> list[tuple[tuple[str, ...], str, PathKind]]:
    found = []
    for names, name in PATH_PARAMS:
        kind = path_kind(next(p for p in _command(names).params if p.name == name))
        if kind in (PathKind.OUT_FILE, PathKind.OUT_FOLDER):
            found.append((names, name, kind))
    return found


OUTPUT_PARAMS = _output_params()
# variant: (kinds it applies to, the words the one-line error must hold)
VARIANTS: dict[str, tuple[set[PathKind], tuple[str, ...]]] = {
    "warehouse": ({PathKind.OUT_FILE}, ("DuckDB database",)),
    "dotdot": ({PathKind.OUT_FILE}, ("DuckDB database",)),
    "symlink": ({PathKind.OUT_FILE}, ("DuckDB database",)),
    "hardlink": ({PathKind.OUT_FILE}, ("DuckDB database",)),
    "wal": ({PathKind.OUT_FILE, PathKind.OUT_FOLDER}, ("the warehouse's write-ahead log",)),
    "tmp": ({PathKind.OUT_FILE, PathKind.OUT_FOLDER}, ("the warehouse's temporary folder",)),
    "wal_symlink": ({PathKind.OUT_FILE}, ("the warehouse's write-ahead log",)),
    "input": ({PathKind.OUT_FILE, PathKind.OUT_FOLDER}, ("the input",)),
}
OUTPUT_CASES = [(names, name, kind, variant) for names, name, kind in OUTPUT_PARAMS for variant in VARIANTS]


def test_every_command_with_outputs_is_covered() -> None:
    commands = {names for names, _, _ in OUTPUT_PARAMS}
    # sql/query --csv/--parquet, tables/figures/report --out, models, maps, masks, cells, thumbnails, montages, synth
    assert len(OUTPUT_PARAMS) >= 18 and len(commands) >= 15, sorted(commands)


def _input_of(names: tuple[str, ...], kind: PathKind, places: dict[str, Path]) -> Path | None:
    """The filler value of an input of this command that an output of this kind could be pointed at."""
    kinds = {path_kind(p) for p in _command(names).params if p.required}
    if kind is PathKind.OUT_FILE and kinds & {PathKind.FILE, PathKind.TEXT}:
        return places["text"]
    if kind is PathKind.OUT_FOLDER and kinds & {PathKind.FOLDER, PathKind.FILE_OR_FOLDER}:
        return places["folder"]
    return None


@pytest.mark.parametrize(("names", "name", "kind", "variant"), OUTPUT_CASES,
                         ids=[f"{'-'.join(n)}:{p}:{v}" for n, p, _, v in OUTPUT_CASES])
def test_no_output_resolves_to_the_warehouse_or_an_input(
    names: tuple[str, ...], name: str, kind: PathKind, variant: str, places: dict[str, Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import hashlib
    import os
    import shutil

    kinds, words = VARIANTS[variant]
    if kind not in kinds:
        pytest.skip(f"a {variant} path is refused as a {kind.value} by the bad-path checks above")
    db = tmp_path / "w.duckdb"
    shutil.copy(places["db"], db)
    mine = {**places, "db": db}
    (tmp_path / "sub").mkdir()
    target: Path | None
    if variant == "warehouse":
        target = db
    elif variant == "dotdot":
        target = tmp_path / "sub" / ".." / "w.duckdb"
    elif variant == "symlink":
        target = tmp_path / "link.csv"
        target.symlink_to(db)
    elif variant == "hardlink":
        target = tmp_path / "hard.csv"
        os.link(db, target)
    elif variant in ("wal", "tmp"):
        target = tmp_path / f"w.duckdb.{variant}"
    elif variant == "wal_symlink":
        target = tmp_path / "sub" / "log"
        target.symlink_to(tmp_path / "w.duckdb.wal")  # dangling: the log does not exist between runs
    else:
        target = _input_of(names, kind, mine)
        if target is None:
            pytest.skip("the command has no required input of that kind")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    input_before = places["text"].read_bytes()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RADPATH_DB", str(db))  # commands without --db protect $RADPATH_DB
    with pytest.raises(SystemExit) as exit_info:
        main(_args(names, name, str(target), mine, tmp_path))
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert exit_info.value.code == 2, captured.out + captured.err
    assert err.startswith("error: ") and "\n" not in err and "never writes over" in err, err
    assert all(word in err for word in words), err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert places["text"].read_bytes() == input_before
    assert not (tmp_path / "w.duckdb.wal").exists() and not (tmp_path / "w.duckdb.tmp").exists()


def test_two_outputs_of_one_command_may_not_be_one_file(places: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "same.csv"
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1 AS x", "--db", str(places["db"]), "--csv", str(out), "--parquet", str(out)])
    assert exit_info.value.code == 2
    assert "is also the output --csv of this command" in capsys.readouterr().err
    assert not out.exists()


def test_an_unwritable_output_is_one_line(places: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    """The OS refusing a file no up-front check could rule out (here: /proc takes no new files) is one line."""
    with pytest.raises(SystemExit) as exit_info:
        main(["sql", "SELECT 1 AS x", "--db", str(places["db"]), "--csv", "/proc/radpath-test.csv"])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("error: /proc/radpath-test.csv: ") and "\n" not in err, err
