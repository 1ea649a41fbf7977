"""``python -m streams.evaluate``: the evaluator (and the cascade correlator) as a process.

Configured by its arguments only; their defaults are ``EvaluatorConfig``'s and
``CorrelatorConfig``'s. It reads no ``ALERTPIPE_*`` variable: those are read once, by
``app.settings`` (streams must not import app), so ``alertpipe run --role evaluator`` is how
to run this stage from the settings. Prints one JSON line per lifecycle event (``ready``,
``stopped``) on stdout; SIGTERM and SIGINT stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from streams.evaluate.correlator import Correlator, CorrelatorConfig
from streams.evaluate.service import Evaluator, EvaluatorConfig
from streams.lifecycle import Service, ServiceRole, run_roles
from streams.policy import PolicyInvalid, load_policy

_EVALUATOR = EvaluatorConfig(bootstrap="")
_CORRELATOR = CorrelatorConfig(bootstrap="")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ev = _EVALUATOR
    parser = argparse.ArgumentParser(
        prog="python -m streams.evaluate",
        description="Stage 2: merge panes into windows, evaluate the policy, publish decisions.",
    )
    add = parser.add_argument
    add("--bootstrap", required=True, help="Kafka host:port[,host:port]")
    add("--policy", default=None, help="policy YAML (default: the built-in plan)")
    add("--panes-topic", default=ev.panes_topic)
    add("--decisions-topic", default=ev.decisions_topic)
    add("--state-topic", default=ev.state_topic)
    add("--group", default=ev.group_id, help="consumer group of the evaluator")
    add(
        "--transactional-prefix",
        default=None,
        help="producer of partition P: PREFIX.PANES_TOPIC.P (default: GROUP)",
    )
    add("--correlator-group", default=_CORRELATOR.group_id)
    add("--role", choices=("evaluator", "correlator", "all"), default="all")
    add("--idle-after-ms", type=int, default=ev.idle_after_ms)
    add("--rebuild-margin-ms", type=int, default=ev.rebuild_margin_ms)
    add("--session-timeout-ms", type=int, default=ev.session_timeout_ms)
    add("--offset-reset", choices=("latest", "earliest"), default=ev.auto_offset_reset)
    add("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> dict[str, _Service]:
    policy = load_policy(args.policy)
    services: dict[str, _Service] = {}
    if args.role in ("evaluator", "all"):
        config = EvaluatorConfig(
            bootstrap=args.bootstrap,
            panes_topic=args.panes_topic,
            decisions_topic=args.decisions_topic,
            state_topic=args.state_topic,
            group_id=args.group,
            transactional_prefix=args.transactional_prefix or args.group,
            auto_offset_reset=args.offset_reset,
            idle_after_ms=args.idle_after_ms,
            rebuild_margin_ms=args.rebuild_margin_ms,
            session_timeout_ms=args.session_timeout_ms,
        )
        services["evaluator"] = Evaluator(config, policy)
    if args.role in ("correlator", "all") and policy.cascade.enabled:
        correlator = CorrelatorConfig(
            bootstrap=args.bootstrap,
            decisions_topic=args.decisions_topic,
            state_topic=args.state_topic,
            panes_topic=args.panes_topic,
            group_id=args.correlator_group,
            transactional_id=args.correlator_group,
        )
        services["correlator"] = Correlator(correlator, policy.cascade_as_run())
    return services


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class _Service(Service, Protocol):
    async def wait_ready(self) -> None: ...


class _Announcer:
    """Says ``ready`` once every service has joined its group. A role itself, so a signal or a
    failure while the services are still joining stops the process as it would later."""

    name = "announcer"

    def __init__(self, services: Iterable[_Service]) -> None:
        self._services = list(services)
        self._stopped = asyncio.Event()
        self._said = False

    async def start(self) -> None:
        return None

    async def run(self) -> None:
        await asyncio.gather(*(service.wait_ready() for service in self._services))
        _say("ready", pid=os.getpid())
        self._said = True
        await self._stopped.wait()

    async def stop(self) -> None:
        self._stopped.set()

    def health(self) -> dict[str, Any]:
        return {"ready": self._said}


async def serve(services: Mapping[str, _Service]) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until a service fails (exit 1: restart it, it
    resumes from its last committed transaction)."""
    roles = [ServiceRole(name, service) for name, service in services.items()]
    try:
        failures = await run_roles([*roles, _Announcer(services.values())])
    except Exception as error:  # run_roles stopped every service before re-raising it
        failures = [error]
    for failure in failures:
        logging.getLogger("streams.evaluate").error("stopped by a failure: %r", failure)
    _say("stopped", failed=bool(failures))
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    try:
        services = build(args)
    except PolicyInvalid as error:
        print(f"policy: {error.report()}", file=sys.stderr)
        return 2
    return asyncio.run(serve(services))


if __name__ == "__main__":
    sys.exit(main())
