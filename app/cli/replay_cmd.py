"""``alertpipe replay FILE.jsonl``: send a recording again, rebased to now."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.config_cmd import load_settings
from app.infra import prepare_kafka
from app.simulation.pacing import play
from app.simulation.replay import read_recording
from schemas.clock import SystemClock
from streams.producer import TelemetryProducer

__all__ = ["register"]


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "replay",
        help="send a JSONL recording of telemetry, rebased to now",
        description="Validate FILE (one telemetry event per line), then send it to the "
        "telemetry topic. Timestamps are rebased so the first event is 'now' and the gaps "
        "are kept; --speed N plays N times faster (gaps shrink N-fold, in the events too, "
        "so event time stays in step with the wall clock).",
    )
    parser.add_argument(
        "file", type=Path, metavar="FILE.jsonl", help="the recording: one JSON event per line"
    )
    parser.add_argument("--speed", type=_positive, default=1.0, help="time factor (default 1)")
    parser.add_argument(
        "--skip-invalid", action="store_true", help="skip invalid lines instead of refusing"
    )
    parser.add_argument(
        "--no-rebase", action="store_true", help="keep original timestamps, send at once"
    )
    parser.set_defaults(handler=_replay)


async def _replay(args: argparse.Namespace) -> int:
    settings = load_settings()
    recording = read_recording(args.file, skip_invalid=args.skip_invalid)
    for line in recording.skipped:
        print(f"replay: skipped {line}")
    if recording.reordered:
        print("replay: the file was not in timestamp order; sending it sorted by ts")
    await prepare_kafka(settings)
    async with TelemetryProducer(settings.bootstrap, settings.topics.telemetry) as producer:
        await play(
            recording.events,
            producer,
            SystemClock(),
            speed=args.speed,
            rebase=not args.no_rebase,
            paced=not args.no_rebase,
            total=len(recording.events),
            progress=print,
            label="replay",
        )
    return 0
