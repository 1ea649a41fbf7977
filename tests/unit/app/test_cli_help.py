"""Every subcommand answers --help (and the tree of commands is what the README documents)."""

import argparse

import pytest

from app.cli import build_parser


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


def test_the_documented_commands_exist() -> None:
    names = {" ".join(c) for c in COMMANDS}
    for expected in (
        "demo",
        "run",
        "local up",
        "local status",
        "local down",
        "config show",
        "schema export",
        "replay",
        "simulate",
    ):
        assert expected in names


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "(top)")
def test_help(command: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: alertpipe")
    assert len(out.splitlines()) >= 3
