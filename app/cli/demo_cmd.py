"""``alertpipe demo``: the main job — stack up, pipeline on, a scenario of the plan through it."""

from __future__ import annotations

import argparse
import logging

from app.cli.config_cmd import load_settings
from app.demo import run_demo
from app.simulation.scenarios import SCENARIOS, Timeline

__all__ = ["register"]

_DESCRIPTION = """\
Start local Kafka and PostgreSQL when none are configured, declare topics, migrate the
database, run every role of the pipeline in this process and play a scenario of the plan
through it as a drill: the plan's clock is compressed (--compress), receivers without a URL
print what they would send, and a fleet control plane on loopback plays the deploy tooling
(the simulated services recover once alertpipe rolls them back). Ends when every incident
of the run is resolved, or --duration seconds after the deploy, with each incident's
timeline and its rollback phases against the plan.
"""


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="bring everything up and run a scenario of the plan through the pipeline",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--scenario", choices=SCENARIOS, default="s1", help="scenario of the plan (default s1)")
    add("--warmup", type=_positive, default=30.0, help="healthy seconds before the deploy (30)")
    add(
        "--duration",
        type=_positive,
        default=None,
        help="at most this long after the deploy (150; 40 for healthy)",
    )
    add("--compress", type=_positive, default=10.0, help="divide the plan's clock by this (10)")
    add("--rate", type=_positive, default=200.0, help="requests/s across the fleet (200)")
    parser.set_defaults(handler=_demo)


async def _demo(args: argparse.Namespace) -> int:
    # The demo prints its own feed of decisions and incidents; the stages' logs are noise here.
    for name in ("streams", "handlers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # retried, self-healing warnings
    duration = args.duration or (40.0 if args.scenario == "healthy" else 150.0)
    timeline = Timeline(warmup_s=args.warmup, failure_s=duration, rate=args.rate)
    result = await run_demo(
        load_settings(), args.scenario, timeline, compress=args.compress, max_s=duration
    )
    return 0 if result.incidents or args.scenario == "healthy" else 1
