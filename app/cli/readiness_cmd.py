"""``alertpipe readiness check``: the plan's readiness checklist as a deploy gate, from a shell.

Exit 0 when the service is ready, 1 when it is not (each failed item says what would make it
pass), 2 when it cannot be judged (bad input, PostgreSQL or Kafka unreachable). Deploy
tooling runs it before it deploys; the check is recorded, with ``cli:<user>`` as its actor.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from aiokafka.errors import KafkaError

from app.cli.config_cmd import load_settings
from app.cli.database import migrated_pool
from app.errors import InfrastructureError
from app.pipeline import readiness_service
from app.policy import load_policy_file
from app.readiness.text import report_text
from handlers.readiness.checklist import Readiness
from schemas.clock import SystemClock
from schemas.errors import InputError, OperationalError

__all__ = ["register"]

_DESCRIPTION = """\
Judge whether SERVICE may deploy (VERSION): each item of the plan's readiness checklist —
rollback procedure tested, database backup created and tested, last stable version
identified, monitoring configured, alert thresholds set, team trained, communication plan
ready, DR drill completed — and the plan's baselines measured live (error rate, p95, CPU,
memory), each with its evidence and, when it fails, what would make it pass. The same check
as GET /v1/readiness/{service}; it is recorded, and a deploy of a version never checked
ready is a decision ("deployed while not ready"). Exit 0 ready, 1 not ready, 2 error.
See docs/readiness.md.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "readiness",
        help="the readiness checklist as a deploy gate",
        description="The plan's readiness checklist and pre-deployment baselines.",
    )
    sub = parser.add_subparsers(dest="readiness_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="may this service deploy? (exit 0 ready, 1 not ready, 2 error)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--service", required=True, help="the service to deploy")
    check.add_argument("--version", help="the version to deploy (recorded with the check)")
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json as GET /v1/readiness/{service} answers",
    )
    check.set_defaults(handler=_check)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment (a bare container)
        return "cli"


async def _judge(service: str, version: str | None) -> Readiness:
    settings = load_settings()
    async with migrated_pool(settings) as pool:
        policy = load_policy_file(settings.policy)
        gate = readiness_service(settings, pool, policy, SystemClock())
        try:
            return await gate.check(service, version, _actor())
        except (KafkaError, OSError) as error:
            raise InfrastructureError(f"cannot read the live panes from Kafka: {error}") from None


async def _check(args: argparse.Namespace) -> int:
    service = args.service.strip()
    if not service:
        print("alertpipe: error: --service: a service name, not blank", file=sys.stderr)
        return 2
    try:
        report = await _judge(service, args.version)
    except (InputError, OperationalError) as error:
        print(f"alertpipe: error: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report_text(report))
    return 0 if report.ready else 1
