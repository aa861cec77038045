"""Checks the command line applies to every command, whoever wrote it: paths and plain help text.

`RadpathGroup` is the class of the root `radpath` group. When typer builds it, it walks every command and
sub-group and

- attaches `radpath.paths.check_path` to every option or argument typed `Path` (or a list of them), with the
  kind of path taken from the option's metavar (`radpath.paths.KIND_BY_METAVAR`: FILE, YAML, FOLDER,
  FILE|FOLDER, OUT_FILE, OUT_FOLDER, DB). The check sees the raw string, so an empty argument is refused
  before typer turns it into `Path('.')`; a failing check raises `PathError` (one line, exit 2);
- before a command runs, checks its output options (OUT_FILE, OUT_FOLDER) against the warehouse (its `--db`,
  else `$RADPATH_DB` or ./radpath.duckdb), the warehouse's `.wal`/`.tmp` companions, the command's inputs and
  each other (`radpath.paths.check_not_protected`: resolved paths and inodes, so `out/../w.duckdb`, symlinks and
  hard links are caught) and keeps those files protected while the command runs, so library code writing
  through `radpath.paths.output_file` refuses them too;
- switches rich markup off in help (it swallowed every `[default: ...]` and showed flags as `<bool>`).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer.core

from radpath.paths import (
    KIND_BY_METAVAR,
    PathKind,
    Protected,
    check_not_protected,
    check_path,
    protecting,
    warehouse_files,
)

INPUT_KINDS = (PathKind.FILE, PathKind.TEXT, PathKind.FOLDER, PathKind.FILE_OR_FOLDER)
OUTPUT_KINDS = (PathKind.OUT_FILE, PathKind.OUT_FOLDER)


def takes_path(annotation: Any) -> bool:
    """True for Path, Path | None, list[Path] and the like."""
    if annotation is Path:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple):
        return any(takes_path(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


def path_kind(param: Any) -> PathKind | None:
    """The kind of path a parameter takes, from its metavar; None when it does not take a path or has none."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or not takes_path(descriptor.annotation):
        return None
    return KIND_BY_METAVAR.get(param.metavar or "")


def walk(command: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command of a click/typer tree with its name path (groups included)."""
    yield prefix, command
    for name, sub in (getattr(command, "commands", None) or {}).items():
        yield from walk(sub, (*prefix, name))


def _checked(param: Any, kind: PathKind | None) -> Callable[[Any, Any], Any]:
    original = param.process_value
    label = _label_of(param)

    def process_value(ctx: Any, value: Any) -> Any:
        values = value if isinstance(value, (list, tuple)) else [value]
        for raw in values:
            if raw is None:
                continue
            if kind is None:  # a Path option without a declared kind: at least never accept '' as '.'
                if not str(raw).strip():
                    check_path(raw, PathKind.FILE, label)
            else:
                check_path(raw, kind, label)
        return original(ctx, value)

    return process_value


def _label_of(param: Any) -> str:
    return (param.opts[0] if param.param_type_name == "option" else (param.metavar or param.name)) or "path"


def _values(value: Any) -> list[Path]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [Path(v) for v in values if v is not None and str(v).strip()]


def protected_files(command: Any, params: dict[str, Any]) -> list[Protected]:
    """What no output of this command may write: the warehouse it uses (with its companions) and its inputs."""
    from radpath.warehouse.connect import resolve_db

    db = None
    found: list[Protected] = []
    for param in command.params:
        kind = path_kind(param)
        if kind is PathKind.WAREHOUSE:
            db = params.get(param.name)
        elif kind in INPUT_KINDS:
            what = f"the input {_label_of(param)} of this command"
            found += [Protected(value, what) for value in _values(params.get(param.name))]
    return warehouse_files(resolve_db(db)) + found


def check_outputs(command: Any, params: dict[str, Any]) -> list[Protected]:
    """Refuse output options that resolve to the warehouse, an input or another output (nothing is created
    here: a command makes its output folders when it writes). Returns what stays protected."""
    protected = protected_files(command, params)
    outputs: list[Protected] = []
    for param in command.params:
        kind = path_kind(param)
        if kind not in OUTPUT_KINDS:
            continue
        label = _label_of(param)
        for value in _values(params.get(param.name)):
            check_not_protected(value, label, [*protected, *outputs])
            outputs.append(Protected(value, f"also the output {label} of this command"))
    return protected


def _guarded(command: Any) -> Callable[[Any], Any]:
    original = command.invoke

    def invoke(ctx: Any) -> Any:
        with protecting(check_outputs(command, ctx.params)):
            return original(ctx)

    return invoke


def install_checks(root: Any) -> None:
    for _, command in walk(root):
        if hasattr(command, "rich_markup_mode"):
            command.rich_markup_mode = None
        if not hasattr(command, "commands") and not getattr(command, "_radpath_guarded", False):
            command.invoke = _guarded(command)
            command._radpath_guarded = True
        for param in getattr(command, "params", []):
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or not takes_path(descriptor.annotation) or getattr(param, "_radpath_checked", False):
                continue
            param.process_value = _checked(param, path_kind(param))
            param._radpath_checked = True


class RadpathGroup(typer.core.TyperGroup):
    """The root group: installs the path checks and plain help on the whole command tree."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        install_checks(self)
