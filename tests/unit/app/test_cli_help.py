"""Every subcommand answers --help, and the help says something: each command has a
description, each option and argument a help text that ``--help`` prints beside its name; and
every command is documented in the README or in docs/."""

import argparse
import re
from pathlib import Path

import pytest

from app.cli import build_parser

ROOT = Path(__file__).resolve().parents[3]


def _subcommands(
    parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [prefix]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.extend(_subcommands(sub, (*prefix, name)))
    return found


COMMANDS = _subcommands(build_parser())


def _parser(command: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in command:
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = sub.choices[name]
    return parser


def _flat(text: str) -> str:
    return " ".join(text.split())


def _help_of(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_the_documented_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in (
        "demo",
        "run",
        "local up",
        "local status",
        "local down",
        "config show",
        "config docs",
        "schema export",
        "replay",
        "simulate",
        "policy check",
        "policy test",
        "policy default",
        "token create",
        "token list",
        "token revoke",
        "drill start",
        "drill list",
        "drill show",
        "drill abort",
        "drill report",
        "review",
        "hold set",
        "hold list",
        "hold lift",
    ):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "(top)")
def test_help_names_every_option_with_its_help_text(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping: each help text prints on one line
    out = _help_of(command, capsys)
    assert out.startswith("usage: alertpipe")
    parser = _parser(command)
    assert parser.description, f"`alertpipe {' '.join(command)}` has no description"
    assert _flat(parser.description) in _flat(out)
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # each subcommand listed with its help
                assert choice.help, f"{command} {choice.dest}: no help"
                assert re.search(
                    rf"^ +{re.escape(choice.dest)} +{re.escape(choice.help)}$", out, re.M
                ), out
            continue
        names = action.option_strings or [action.metavar or action.dest]
        assert action.help and action.help.strip(), f"{command} {names}: no help text"
        entry = _entry(out, names[0])
        assert entry, f"{command}: --help does not name {names[0]}\n{out}"
        assert formatter._expand_help(action) in entry, f"{command} {names}: no help\n{out}"


def _entry(out: str, name: str) -> str:
    """The lines --help prints for one option: its names, then its help (on the same line, or
    indented further on the next one when the names are long)."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  ") and line.lstrip().startswith(name):
            indent = len(line) - len(line.lstrip())
            more = []
            for following in lines[i + 1 :]:
                if not following.strip() or len(following) - len(following.lstrip()) <= indent:
                    break
                more.append(following)
            return _flat(" ".join([line, *more]))
    return ""


def _documentation() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(page.read_text(encoding="utf-8") for page in pages)


@pytest.mark.parametrize("command", [c for c in COMMANDS if c], ids=" ".join)
def test_every_command_is_documented(command: tuple[str, ...]) -> None:
    name = "alertpipe " + " ".join(command)
    assert re.search(rf"{re.escape(name)}\b", _documentation()), (
        f"`{name}` is mentioned neither in README.md nor in docs/*.md"
    )
