"""``alertpipe simulate --scenario healthy|s1|s2|s3|s4``: traffic for the plan's scenarios."""

from __future__ import annotations

import argparse

from app.cli.config_cmd import load_settings
from app.infra import prepare_kafka
from app.simulation.pacing import play
from app.simulation.scenarios import SCENARIOS, Timeline, generate
from schemas.clock import SystemClock
from streams.producer import TelemetryProducer

__all__ = ["register"]

_DESCRIPTION = """\
Generate realistic telemetry for one scenario of the plan and send it to the telemetry
topic: a healthy warm-up on the old version, a deploy of a new version, then the failure.

  healthy  the deploy goes fine; nothing should alert
  s1       critical feature broken: 5xx on POST /api/message after the deploy
  s2       data corruption: the chat_history integrity check fails
  s3       performance degradation: p95 > 5 s, throughput < 50%, queue growing, CPU high
  s4       cascading failures: several services erroring, bots offline, queues growing
"""


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "simulate",
        help="send traffic for a scenario of the plan",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--scenario", choices=SCENARIOS, required=True, help="scenario of the plan to play"
    )
    parser.add_argument(
        "--warmup",
        type=_non_negative,
        default=30.0,
        help="healthy seconds before the deploy (default 30)",
    )
    parser.add_argument(
        "--duration", type=_non_negative, default=60.0, help="seconds after the deploy (default 60)"
    )
    parser.add_argument(
        "--rate",
        type=_non_negative,
        default=200.0,
        help="requests/s across the fleet (default 200)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="send the whole timeline at once, ending now, instead of in real time",
    )
    parser.set_defaults(handler=_simulate)


async def _simulate(args: argparse.Namespace) -> int:
    settings = load_settings()
    timeline = Timeline(
        warmup_s=args.warmup, failure_s=args.duration, rate=args.rate, seed=args.seed
    )
    await prepare_kafka(settings)
    clock = SystemClock()
    start = clock.now() - timeline.total_s if args.backfill else clock.now()
    print(
        f"simulate {args.scenario}: {timeline.warmup_s:g} s warm-up, deploy, "
        f"{timeline.failure_s:g} s after it, ~{timeline.rate:g} requests/s"
        + (" (backfilled)" if args.backfill else "")
    )
    async with TelemetryProducer(settings.bootstrap, settings.topics.telemetry) as producer:
        await play(
            generate(args.scenario, start, timeline),
            producer,
            clock,
            rebase=False,
            paced=not args.backfill,
            progress=print,
            label=f"simulate {args.scenario}",
        )
    return 0
