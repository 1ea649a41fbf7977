"""``python -m streams.evaluate``: the evaluator (and the cascade correlator) as a process.

Reads its configuration from arguments or the usual ``ALERTPIPE_*`` variables, without
importing ``app``. Prints one JSON line per lifecycle event (``ready``, ``stopped``) on
stdout; SIGTERM and SIGINT stop it gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import Protocol

from streams.evaluate.correlator import Correlator, CorrelatorConfig
from streams.evaluate.service import Evaluator, EvaluatorConfig
from streams.policy import PolicyInvalid, load_policy

_EVAL = "ALERTPIPE_EVALUATOR__"


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    prefix = _env("ALERTPIPE_GROUP_PREFIX", "alertpipe")
    parser = argparse.ArgumentParser(
        prog="python -m streams.evaluate",
        description="Stage 2: merge panes into windows, evaluate the policy, publish decisions.",
    )
    add = parser.add_argument
    add("--bootstrap", default=_env("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    add("--policy", default=os.environ.get("ALERTPIPE_POLICY") or None, help="policy YAML")
    add("--panes-topic", default=_env("ALERTPIPE_TOPICS__PANES", "metrics.panes"))
    add("--decisions-topic", default=_env("ALERTPIPE_TOPICS__DECISIONS", "alerts.decisions"))
    add("--state-topic", default=_env("ALERTPIPE_EVALUATOR__STATE_TOPIC", "alerts.state"))
    add("--group", default=f"{prefix}-evaluator", help="consumer group of the evaluator")
    add(
        "--transactional-prefix",
        default=os.environ.get(f"{_EVAL}TRANSACTIONAL_PREFIX") or None,
        help="producer of partition P: PREFIX.PANES_TOPIC.P (default: GROUP)",
    )
    add("--correlator-group", default=f"{prefix}-correlator")
    add("--role", choices=("evaluator", "correlator", "all"), default="all")
    add("--idle-after-ms", type=int, default=int(_env(f"{_EVAL}IDLE_AFTER_MS", "2000")))
    add("--rebuild-margin-ms", type=int, default=int(_env(f"{_EVAL}REBUILD_MARGIN_MS", "30000")))
    add("--session-timeout-ms", type=int, default=int(_env(f"{_EVAL}SESSION_TIMEOUT_MS", "10000")))
    add(
        "--offset-reset",
        choices=("latest", "earliest"),
        default=_env(f"{_EVAL}OFFSET_RESET", "latest"),
    )
    add("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> list[_Service]:
    policy = load_policy(args.policy)
    services: list[_Service] = []
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
        services.append(Evaluator(config, policy))
    if args.role in ("correlator", "all") and policy.cascade.enabled:
        correlator = CorrelatorConfig(
            bootstrap=args.bootstrap,
            decisions_topic=args.decisions_topic,
            state_topic=args.state_topic,
            panes_topic=args.panes_topic,
            group_id=args.correlator_group,
            transactional_id=args.correlator_group,
        )
        services.append(Correlator(correlator, policy.cascade))
    return services


def _say(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class _Service(Protocol):
    async def start(self) -> None: ...
    async def run(self) -> None: ...
    async def stop(self) -> None: ...
    async def wait_ready(self) -> None: ...


async def serve(services: list[_Service]) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until a service fails (exit 1: restart it, it
    resumes from its last committed transaction)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    for service in services:
        await service.start()
    runs = [asyncio.create_task(service.run()) for service in services]
    await asyncio.gather(*(service.wait_ready() for service in services))
    _say("ready", pid=os.getpid())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, *runs], return_when=asyncio.FIRST_COMPLETED)
    for service in services:
        await service.stop()
    outcomes = await asyncio.gather(*runs, return_exceptions=True)
    failures = [o for o in outcomes if isinstance(o, BaseException)]
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
