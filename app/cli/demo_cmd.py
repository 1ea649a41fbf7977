"""``alertpipe demo``: the main job — stack up, pipeline on, a scenario of the plan through it."""

from __future__ import annotations

import argparse

from app.cli.config_cmd import load_settings
from app.demo import run_demo
from app.simulation.scenarios import SCENARIOS, Timeline

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        help="bring everything up and run a scenario of the plan through the pipeline",
        description="Start local Kafka and PostgreSQL when none are configured, declare "
        "topics, migrate the database, start the pipeline and send a scenario through it, "
        "printing what each stage does.",
    )
    parser.add_argument("--scenario", choices=SCENARIOS, default="s1")
    parser.add_argument("--warmup", type=float, default=10.0, help="healthy seconds (default 10)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds after the deploy (default 20)"
    )
    parser.set_defaults(handler=_demo)


async def _demo(args: argparse.Namespace) -> int:
    timeline = Timeline(warmup_s=args.warmup, failure_s=args.duration)
    await run_demo(load_settings(), args.scenario, timeline)
    return 0
