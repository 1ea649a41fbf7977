"""``python -m streams.aggregate``: run stage 1 alone, stopping gracefully on SIGTERM/SIGINT.

Flags default to the same environment variables the app reads (``ALERTPIPE_KAFKA_BOOTSTRAP``,
``ALERTPIPE_TOPICS__TELEMETRY``, ``ALERTPIPE_AGGREGATOR__PANE_MS`` …) without importing
``app`` (streams must not depend on it). Exit status: 0 after a graceful stop, 1 when the
stage failed (restart it: it resumes from its last committed transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from streams.aggregate.config import AggregatorConfig
from streams.aggregate.service import Aggregator, AggregatorFailed, tune_gc

log = logging.getLogger("streams.aggregate")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"ALERTPIPE_{name}", default)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m streams.aggregate", description=__doc__)
    add = parser.add_argument
    add("--bootstrap", default=_env("KAFKA_BOOTSTRAP", "127.0.0.1:19092"))
    add("--telemetry-topic", default=_env("TOPICS__TELEMETRY", "telemetry"))
    add("--panes-topic", default=_env("TOPICS__PANES", "metrics.panes"))
    add("--dead-letter-topic", default=_env("TOPICS__DEAD_LETTER", "telemetry.dlq"))
    add("--group", default=_env("GROUP_PREFIX", "alertpipe") + "-aggregate")
    rule = "AGGREGATOR__"
    add("--pane-ms", type=int, default=int(_env(rule + "PANE_MS", "1000")))
    add("--lateness-ms", type=int, default=int(_env(rule + "ALLOWED_LATENESS_MS", "5000")))
    add("--idle-timeout-ms", type=int, default=int(_env(rule + "IDLE_TIMEOUT_MS", "3000")))
    add("--max-future-skew-ms", type=int, default=int(_env(rule + "MAX_FUTURE_SKEW_MS", "60000")))
    add("--commit-interval-ms", type=int, default=100)
    add("--session-timeout-ms", type=int, default=10_000)
    add("--instance-id", default=None, help="static group membership (KIP-345)")
    add("--log-level", default=os.environ.get("LOG_LEVEL", "INFO"))
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await aggregator.start()
    tune_gc()
    running = asyncio.create_task(aggregator.run())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    await aggregator.stop()
    try:
        await running
    except AggregatorFailed:
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
