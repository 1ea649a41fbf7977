"""Send a time-ordered event stream at the pace its timestamps set.

Shared by `replay` and `simulate`. ``speed`` N plays N times faster: the gaps between
timestamps shrink N-fold *in the events too*, so event time stays in step with the wall
clock (a 10-minute recording at ``--speed 10`` arrives as one minute of 10× denser traffic)
and no stage sees events from the future.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from schemas.clock import Clock
from schemas.telemetry import TelemetryEvent

__all__ = ["PlayStats", "Sender", "play"]

_AHEAD_S = 0.005  # only sleep when more than 5 ms ahead of schedule
_PROGRESS_EVERY_S = 2.0


class Sender(Protocol):
    async def send(self, event: TelemetryEvent) -> None: ...

    async def flush(self) -> None: ...


@dataclass
class PlayStats:
    sent: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


def _rebased(event: TelemetryEvent, ts: float) -> TelemetryEvent:
    return event.model_copy(update={"ts": ts})


async def play(
    events: Iterable[TelemetryEvent],
    sender: Sender,
    clock: Clock,
    *,
    speed: float = 1.0,
    rebase: bool = True,
    paced: bool = True,
    total: int | None = None,
    progress: Callable[[str], None] | None = None,
    label: str = "play",
) -> PlayStats:
    """Send ``events``; with ``rebase`` the first lands at now, later ones keep their gaps / speed.

    With ``paced=False`` everything is sent at once (timestamps untouched unless rebased).
    """
    if speed <= 0:
        raise ValueError("speed must be > 0")
    stats = PlayStats()
    started = clock.now()
    origin: float | None = None
    next_report = time.monotonic() + _PROGRESS_EVERY_S
    for event in events:
        origin = event.ts if origin is None else origin
        offset = (event.ts - origin) / speed
        if rebase:
            event = _rebased(event, started + offset)
        if paced:
            ahead = started + offset - clock.now()
            if ahead > _AHEAD_S:
                await clock.sleep(ahead)
        await sender.send(event)
        stats.sent += 1
        stats.first_ts = event.ts if stats.first_ts is None else stats.first_ts
        stats.last_ts = event.ts
        if progress is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + _PROGRESS_EVERY_S
            progress(_progress_line(label, stats, total))
    await sender.flush()
    if progress is not None:
        progress(_progress_line(label, stats, total) + " — done")
    return stats


def _progress_line(label: str, stats: PlayStats, total: int | None) -> str:
    span = (stats.last_ts or 0.0) - (stats.first_ts or 0.0)
    of_total = f"/{total:,} ({100 * stats.sent / total:.0f}%)" if total else ""
    return f"{label}: {stats.sent:,}{of_total} events sent, {span:.1f} s of event time"
