"""``alertpipe local up | status | down``: Kafka (KRaft) and PostgreSQL on 127.0.0.1.

Progress goes to stderr and the endpoints to stdout, so ``eval "$(alertpipe local up)"``
sets ``KAFKA_BOOTSTRAP`` and ``DATABASE_URL`` in the calling shell.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from urllib.parse import urlsplit

from app import local
from app.cli.config_cmd import load_settings
from app.local.model import LocalEndpoints, ServerStatus
from app.settings import Settings

__all__ = ["endpoint_lines", "register", "status_table"]

_UP = """\
Start Kafka (KRaft, one node) and PostgreSQL on 127.0.0.1 unless they already answer, and
wait until both do. A server configured with ALERTPIPE_KAFKA_BOOTSTRAP or
ALERTPIPE_DATABASE_URL is only checked, never started. The first run fetches the Kafka
jars with Maven (and installs PostgreSQL when it is missing). Ports and folders come from
ALERTPIPE_LOCAL__* (e.g. ALERTPIPE_LOCAL__KAFKA_PORT). Progress goes to stderr; stdout
gets KAFKA_BOOTSTRAP=… and DATABASE_URL=… lines."""

_STATUS = """\
Say for each server where it is, whether `local up` manages it, its pid, and whether it
answers. Exits non-zero when a locally managed server does not answer."""

_DOWN = """\
Stop the servers `local up` started (Kafka: SIGTERM, SIGKILL after 30 s; PostgreSQL:
pg_ctl stop -m fast). Their data folders stay unless --purge; the jar cache always stays."""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "local",
        help="run Kafka and PostgreSQL on this machine",
        description="Run Kafka and PostgreSQL on 127.0.0.1 for tests and local runs.",
    )
    sub = parser.add_subparsers(dest="local_command", metavar="ACTION", required=True)
    up = _action(sub, "up", "start both servers (idempotent) and wait until they answer", _UP)
    up.set_defaults(handler=_up)
    status = _action(sub, "status", "say whether each server runs and answers", _STATUS)
    status.set_defaults(handler=_status)
    down = _action(sub, "down", "stop both servers (data folders stay)", _DOWN)
    down.add_argument(
        "--purge",
        action="store_true",
        help="also delete the data folders (topics, databases); the jar cache stays",
    )
    down.set_defaults(handler=_down)


def _action(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, short: str, text: str
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name, help=short, description=text, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def endpoint_lines(settings: Settings, endpoints: LocalEndpoints) -> list[str]:
    """Shell assignments for the endpoints; a DSN holding a password is not printed."""
    lines = [f"KAFKA_BOOTSTRAP={shlex.quote(endpoints.bootstrap)}"]
    if urlsplit(endpoints.dsn).password:
        lines.append("# DATABASE_URL: from ALERTPIPE_DATABASE_URL (holds a password; not shown)")
    else:
        lines.append(f"DATABASE_URL={shlex.quote(endpoints.dsn)}")
    return lines


def status_table(servers: list[ServerStatus]) -> str:
    rows = [("SERVER", "ADDRESS", "MANAGED", "PID", "ANSWERS", "DETAIL")]
    for s in servers:
        managed = "local" if s.managed_locally else "external"
        pid = str(s.pid) if s.pid is not None else "-"
        rows.append((s.name, s.address, managed, pid, "yes" if s.answers else "no", s.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )


async def _up(args: argparse.Namespace) -> int:
    settings = load_settings()
    endpoints = await local.ensure_up(settings, progress=_progress)
    for line in endpoint_lines(settings, endpoints):
        print(line)
    return 0


async def _status(args: argparse.Namespace) -> int:
    servers = await local.status(load_settings())
    print(status_table(servers))
    down = [s.name for s in servers if s.managed_locally and not s.answers]
    return 3 if down else 0


async def _down(args: argparse.Namespace) -> int:
    await local.down(load_settings(), progress=_progress, purge=args.purge)
    return 0
