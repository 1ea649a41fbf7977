"""``alertpipe run [--role ROLE …]``: the pipeline as a long-running process."""

from __future__ import annotations

import argparse
import logging

from app.cli.config_cmd import load_settings
from app.infra import prepare
from app.pipeline import ROLES, RoleName, build_pipeline, needs_database
from streams.lifecycle import run_roles

__all__ = ["register"]

log = logging.getLogger("alertpipe")

_DESCRIPTION = """\
Run the pipeline until SIGTERM or SIGINT (then every role finishes its batch, commits and
stops, in reverse start order). Without --role every role runs in this one process; give
--role once or more to split them across processes (each role may run in several
processes at once: Kafka consumer groups and the database share the work).

  aggregator  stage 1: telemetry -> validated events -> closed panes, dead letters
  evaluator   stage 2: panes -> windows -> severity decisions (and the S4 correlator)
  responder   stages 3-4: incidents, escalation timers, rollbacks, receivers, incident events
  api         HTTP: incidents, acknowledge/resolve, silences, /health, /metrics

Every process serves /health (200 when each role is ready, 503 otherwise) and /metrics on
ALERTPIPE_HTTP_HOST:ALERTPIPE_HTTP_PORT. Local Kafka and PostgreSQL are brought up when
ALERTPIPE_KAFKA_BOOTSTRAP / ALERTPIPE_DATABASE_URL are unset; topics are declared and the
database migrated before the roles start.

A Kafka or PostgreSQL outage is ridden out: the roles that need the server wait and retry
(/health answers 503 naming it) and resume by themselves once it answers, for up to
ALERTPIPE_SUPERVISION__OUTAGE_BUDGET_S (5 min); a longer outage ends the process. SIGTERM
stops it within ALERTPIPE_SUPERVISION__STOP_TIMEOUT_S (10 s) plus 3 s, whatever state its
clients are in. Exit status: 0 after a graceful stop, 1 when a role failed, an outage
outlasted its budget or a stop had to be abandoned (restart it: every stage resumes from
its last commit).
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "run",
        help="run the pipeline (every role, or the ones given)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--role",
        action="append",
        choices=(*ROLES, "all"),
        help="a role to run (repeatable; default: all)",
    )
    parser.set_defaults(handler=_run)


def _roles(asked: list[str] | None) -> tuple[RoleName, ...]:
    if not asked or "all" in asked:
        return ROLES
    return tuple(role for role in ROLES if role in asked)


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    roles = _roles(args.role)
    await prepare(settings, database=needs_database(roles))
    pipeline = await build_pipeline(settings, roles)

    def started() -> None:
        url = pipeline.http.url if pipeline.http else "(no HTTP server)"
        print(f"alertpipe: running {', '.join(roles)}; {url}/health, {url}/metrics", flush=True)

    stop_s = settings.supervision.stop_timeout_s
    try:
        late = await run_roles(
            pipeline.roles,
            started=started,
            stop_timeout_s=stop_s,
            exit_after_s=stop_s + _EXIT_MARGIN_S,
        )
    except Exception:
        log.exception("a role failed; every role was stopped (restart to resume)")
        return 1
    finally:
        await pipeline.close()
    for failure in late:
        log.error("while stopping: %s", failure)
    return 1 if late else 0


# What the watchdog leaves after the roles' stop budget for the rest of the shutdown (closing
# the database pool, cancelling what was abandoned) before it ends the process.
_EXIT_MARGIN_S = 3.0
