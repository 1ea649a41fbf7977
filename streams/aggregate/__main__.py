"""``python -m streams.aggregate``: run stage 1 alone, stopping gracefully on SIGTERM/SIGINT.

Configured by its flags only; their defaults are ``AggregatorConfig``'s. It reads no
``ALERTPIPE_*`` variable: those are read once, by ``app.settings`` (streams must not import
app), so ``alertpipe run --role aggregator`` is how to run this stage from the settings.
Exit status: 0 after a graceful stop, 1 when the stage failed (restart it: it resumes from
its last committed transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from streams.aggregate.config import AggregatorConfig
from streams.aggregate.service import Aggregator, AggregatorFailed, tune_gc
from streams.lifecycle import ServiceRole, StopIncomplete, run_roles

log = logging.getLogger("streams.aggregate")

_DEFAULTS = AggregatorConfig(bootstrap="")


def _parser() -> argparse.ArgumentParser:
    d = _DEFAULTS
    parser = argparse.ArgumentParser(prog="python -m streams.aggregate", description=__doc__)
    add = parser.add_argument
    add("--bootstrap", required=True, help="Kafka host:port[,host:port]")
    add("--telemetry-topic", default=d.telemetry_topic)
    add("--panes-topic", default=d.panes_topic)
    add("--dead-letter-topic", default=d.dead_letter_topic)
    add("--group", default=d.group_id)
    add("--pane-ms", type=int, default=d.pane_ms)
    add("--lateness-ms", type=int, default=d.allowed_lateness_ms)
    add("--idle-timeout-ms", type=int, default=d.idle_timeout_ms)
    add("--max-future-skew-ms", type=int, default=d.max_future_skew_ms)
    add("--commit-interval-ms", type=int, default=d.commit_interval_ms)
    add("--session-timeout-ms", type=int, default=d.session_timeout_ms)
    add("--instance-id", default=None, help="static group membership (KIP-345)")
    add("--log-level", default="INFO")
    return parser


def config_from(args: argparse.Namespace) -> AggregatorConfig:
    return AggregatorConfig(
        bootstrap=args.bootstrap,
        telemetry_topic=args.telemetry_topic,
        panes_topic=args.panes_topic,
        dead_letter_topic=args.dead_letter_topic,
        group_id=args.group,
        pane_ms=args.pane_ms,
        allowed_lateness_ms=args.lateness_ms,
        idle_timeout_ms=args.idle_timeout_ms,
        max_future_skew_ms=args.max_future_skew_ms,
        commit_interval_ms=args.commit_interval_ms,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=min(3_000, args.session_timeout_ms // 3),
        group_instance_id=args.instance_id,
    )


async def serve(config: AggregatorConfig) -> int:
    """Run until SIGTERM/SIGINT (graceful) or a failure (exit status 1)."""
    aggregator = Aggregator(config)
    try:
        late = await run_roles([ServiceRole("aggregator", aggregator, after_start=tune_gc)])
        if late:  # it failed while finishing its last batch: not a graceful stop
            raise late[0]
    except (AggregatorFailed, StopIncomplete):
        log.exception("stage 1 failed; restart it to resume from the last commit")
        return 1
    log.info("stopped gracefully: %s", aggregator.health())
    return 0


_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    return asyncio.run(serve(config_from(args)))


if __name__ == "__main__":
    sys.exit(main())
