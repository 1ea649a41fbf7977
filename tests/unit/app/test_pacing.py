import asyncio

import pytest

from app.simulation.pacing import play
from schemas.clock import ManualClock
from schemas.telemetry import QueueEvent, TelemetryEvent


class Recorder:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[float, TelemetryEvent]] = []
        self.flushed = False

    async def send(self, event: TelemetryEvent) -> None:
        self.sent.append((self.clock.now(), event))

    async def flush(self) -> None:
        self.flushed = True


def _events(*offsets: float) -> list[TelemetryEvent]:
    return [
        QueueEvent(kind="queue", ts=1000.0 + o, service="s", queue="q", depth=i)
        for i, o in enumerate(offsets)
    ]


async def _drive(clock: ManualClock, task: asyncio.Task[object]) -> None:
    while not task.done():
        await asyncio.sleep(0)
        await clock.advance(0.5)


@pytest.mark.parametrize("speed", [1.0, 4.0])
async def test_rebased_to_now_keeping_gaps_scaled_by_speed(speed: float) -> None:
    clock = ManualClock(start=5_000.0)
    sink = Recorder(clock)
    task = asyncio.create_task(play(_events(0, 2, 10), sink, clock, speed=speed))
    await _drive(clock, task)
    stats = task.result()
    stamps = [event.ts for _, event in sink.sent]
    assert stamps == pytest.approx([5000.0, 5000.0 + 2 / speed, 5000.0 + 10 / speed])
    for sent_at, event in sink.sent:  # sent when due, never early
        assert event.ts <= sent_at < event.ts + 0.5 + 1e-9
    assert stats.sent == 3 and sink.flushed


async def test_unpaced_sends_at_once_and_keeps_timestamps() -> None:
    clock = ManualClock(start=5_000.0)
    sink = Recorder(clock)
    await play(_events(0, 50), sink, clock, rebase=False, paced=False)
    assert [event.ts for _, event in sink.sent] == [1000.0, 1050.0]
    assert {sent_at for sent_at, _ in sink.sent} == {5000.0}


async def test_speed_must_be_positive() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="speed"):
        await play(_events(0), Recorder(clock), clock, speed=0)
