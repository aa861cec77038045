"""Every command's --help: every option explains itself, shows its default (flags show none), and nothing in
the help text is swallowed by markup (issue 17.5: rich markup ate every `[default: ...]`, flags showed `<bool>`).

The commands are found by walking the typer app, so commands added later are checked too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from radpath.cli.app import build_app
from radpath.cli.checks import walk

runner = CliRunner()


def _commands() -> list[tuple[tuple[str, ...], Any]]:
    return [(names, command) for names, command in walk(typer.main.get_command(build_app()))]


COMMANDS = _commands()


def _flat(text: str) -> str:
    return "".join(text.split())


def _option_block(text: str, opts: list[str]) -> str:
    """The lines of one option in the Options section of a help text."""
    section = text[text.index("Options:"):]
    match = re.search(r"^ +(?:" + "|".join(re.escape(o) for o in opts) + r")\b.*$", section, re.MULTILINE)
    assert match, f"{opts} not listed under Options"
    rest = section[match.start():]
    first = rest.find("\n") + 1 if "\n" in rest else len(rest)
    following = re.search(r"^  -", rest[first:], re.MULTILINE)
    return rest[: first + following.start()] if following else rest


def test_the_walk_finds_nested_commands() -> None:
    names = {" ".join(n) for n, _ in COMMANDS}
    assert {"", "sql", "ingest", "cohort", "cohort show", "report", "pathology inspect"} <= names
    assert len(names) >= 30


@pytest.mark.parametrize(("names", "command"), COMMANDS, ids=[" ".join(n) or "radpath" for n, _ in COMMANDS])
def test_help_shows_every_option_with_its_default(names: tuple[str, ...], command: Any) -> None:
    result = runner.invoke(build_app(), [*names, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "<bool>" not in text, "flags must not look as if they took a value"
    assert (command.help or "").strip(), f"radpath {' '.join(names)} has no description"
    assert _flat(command.help.split("\n\n")[0]) in _flat(text), "the description is mangled in --help"
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        label = f"radpath {' '.join(names)} {param.opts[0]}"
        assert (param.help or "").strip(), f"{label} has no help text"
        assert _flat(param.help) in _flat(text), f"{label}: help text mangled or swallowed"
        line = _option_block(text, param.opts)
        if param.is_flag or param.name == "help":
            assert "[default:" not in line, f"{label} is a flag and shows a default"
        elif not param.required:
            assert "[default:" in line, f"{label} does not say its default (add [default: ...] to its help)"
