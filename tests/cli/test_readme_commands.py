"""The docs' Command line table (docs/reference/cli.md) names every command with the options its --help lists,
no more, no less."""

from __future__ import annotations

import argparse
import re

from llf.cli import parser
from llf.settings import PROJECT_ROOT


def _commands(top: argparse.ArgumentParser, prefix: str = "llf") -> dict[str, set[str]]:
    """Each runnable command line ("llf db upgrade") -> its long options, walking the subcommands."""
    found: dict[str, set[str]] = {}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_commands(sub, f"{prefix} {name}"))
    if not found:
        found[prefix] = {option for action in top._actions for option in action.option_strings
                         if option.startswith("--") and option != "--help"}
    return found


def _readme_rows() -> dict[str, set[str]]:
    """The table's rows: the command words before the first option or argument -> the options the row names."""
    section = (PROJECT_ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8").split("# Command line", 1)[1]
    rows = {}
    for cell in re.findall(r"^\| `(llf [^`]*)` \|", section.split("\n## ", 1)[0], re.MULTILINE):
        words = re.match(r"llf(?: [a-z]+)*", cell).group(0)
        rows[words] = set(re.findall(r"--[a-z][a-z-]*", cell))
    return rows


def test_every_command_has_a_readme_row_naming_exactly_its_options():
    commands, rows = _commands(parser()), _readme_rows()
    rows.pop("llf", None)  # `llf --version`, the top-level option

    assert sorted(rows) == sorted(commands)
    assert {name: rows[name] for name in commands} == commands
