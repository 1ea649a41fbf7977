"""The ``alertpipe`` console script.

Each command group lives in its own module with a ``register(subparsers)`` function; this
module only assembles them. Every subcommand has ``--help``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from app.cli import (
    config_cmd,
    demo_cmd,
    drill_cmd,
    hold_cmd,
    local_cmd,
    policy_cmd,
    readiness_cmd,
    replay_cmd,
    run_cmd,
    schema_cmd,
    simulate_cmd,
    token_cmd,
)
from app.errors import InfrastructureError
from app.settings import get_settings
from schemas.errors import InputError

__all__ = ["build_parser", "main"]

# Reported as one line: the message says what to fix. Any other failure (a stage that
# stopped, a bug) keeps its traceback, whose cause is the diagnosis.
_REPORTED = (InputError, InfrastructureError)

_GROUPS = (
    demo_cmd,
    run_cmd,
    local_cmd,
    config_cmd,
    schema_cmd,
    replay_cmd,
    simulate_cmd,
    policy_cmd,
    token_cmd,
    hold_cmd,
    drill_cmd,
    readiness_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertpipe",
        description="Carry out the disaster-recovery and rollback plan: telemetry in, "
        "windowed alerts, incidents and rollbacks out.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in _GROUPS:
        group.register(commands)
    return parser


def _run(handler: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    result = handler(args)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return int(result or 0)


async def _await(awaitable: Any) -> Any:
    return await awaitable


_TRANSIENT = ("GroupCoordinatorNotAvailableError", "NotCoordinatorForGroupError")


def _drop_transient(record: logging.LogRecord) -> bool:
    """aiokafka logs retried, self-healing coordinator lookups at ERROR; they are noise."""
    return not any(name in record.getMessage() for name in _TRANSIENT)


class _Repeats(logging.Filter):
    """During a broker outage every aiokafka client logs the same connection error several
    times a second: each message template from aiokafka passes once per ``every_s``, and says
    how many like it were dropped in between (the dependency watches report the outage)."""

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self._every_s = every_s
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka"):
            return True
        key = (record.name, record.msg)
        last, dropped = self._last.get(key, (0.0, 0))
        if record.created - last < self._every_s:
            self._last[key] = (last, dropped + 1)
            return False
        self._last[key] = (record.created, 0)
        if dropped:
            record.msg = f"{record.msg} (and {dropped} more like it since)"
        return True


def _log_level(verbose: bool) -> int:
    if verbose:
        return logging.DEBUG
    try:
        level = get_settings().log_level
    except ValidationError:  # the command reports it by name when it loads the settings
        return logging.INFO
    return logging.getLevelNamesMapping()[level]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=_log_level(args.verbose), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").addFilter(_drop_transient)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Repeats())
    try:
        return _run(args.handler, args)
    except _REPORTED as error:
        print(f"alertpipe: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
