"""The main job's demo: bring the stack up, start the pipeline, run a scenario through it.

This is what `make demo` runs. It grows with the pipeline: each stage adds what it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from app.infra import prepare
from app.settings import Settings
from app.simulation.pacing import play
from app.simulation.scenarios import ScenarioName, Timeline, generate
from schemas.clock import SystemClock
from schemas.telemetry import InvalidEvent, parse_event
from streams.producer import TelemetryProducer

__all__ = ["run_demo"]

Progress = Callable[[str], None]


class TelemetryTap:
    """Reads the telemetry topic from now on and counts events by kind (and invalid ones)."""

    def __init__(self, settings: Settings) -> None:
        self.counts: Counter[str] = Counter()
        self._consumer = AIOKafkaConsumer(
            settings.topics.telemetry,
            bootstrap_servers=settings.bootstrap,
            group_id=f"alertpipe-demo-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
        )

    async def start(self) -> None:
        await self._consumer.start()
        # Make sure partitions are assigned (and positioned) before traffic starts.
        while not self._consumer.assignment():
            await self._consumer.getmany(timeout_ms=100)
        for tp in self._consumer.assignment():
            await self._consumer.position(tp)

    async def run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for record in records:
                    self._count(record.value)

    def _count(self, value: bytes) -> None:
        try:
            self.counts[parse_event(value).kind] += 1
        except InvalidEvent:
            self.counts["invalid"] += 1

    async def stop(self) -> None:
        await self._consumer.stop()

    def line(self) -> str:
        total = sum(self.counts.values())
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.counts.items()))
        return f"pipeline: {total:,} events validated ({kinds})"


async def _report(tap: TelemetryTap, progress: Progress, every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        progress(tap.line())


async def run_demo(
    settings: Settings,
    scenario: ScenarioName = "s1",
    timeline: Timeline | None = None,
    progress: Progress = print,
) -> Counter[str]:
    """Run the demo end to end; return what the pipeline saw, by kind."""
    started = time.monotonic()
    await prepare(settings, progress)
    timeline = timeline or Timeline(warmup_s=10.0, failure_s=20.0, rate=200.0)
    tap = TelemetryTap(settings)
    await tap.start()
    progress(f"demo: scenario {scenario} — {timeline.warmup_s:g} s healthy, deploy, failure")
    consume = asyncio.create_task(tap.run())
    report = asyncio.create_task(_report(tap, progress))
    try:
        clock = SystemClock()
        async with TelemetryProducer(settings.bootstrap, settings.topics.telemetry) as producer:
            events = generate(scenario, clock.now(), timeline)
            await play(events, producer, clock, rebase=False, progress=progress, label="simulate")
        await asyncio.sleep(1.0)  # let the last batch arrive before the summary
    finally:
        for task in (consume, report):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await tap.stop()
    progress(tap.line())
    progress(f"demo: done in {time.monotonic() - started:.0f} s")
    return tap.counts
