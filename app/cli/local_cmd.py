"""``alertpipe local up | status | down``: Kafka (KRaft) and PostgreSQL on 127.0.0.1."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("local", help="run Kafka and PostgreSQL on this machine")
    sub = parser.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    for name, text in (
        ("up", "start both servers (idempotent) and wait until they answer"),
        ("status", "say whether each server runs and answers"),
        ("down", "stop both servers"),
    ):
        action = sub.add_parser(name, help=text, description=text)
        action.set_defaults(handler=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    raise NotImplementedError("local infrastructure is being built")
