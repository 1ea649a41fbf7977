"""Read a JSONL recording of telemetry for `alertpipe replay`.

The whole file is validated before anything is sent, so a typo on line 90,000 is reported
up front (with its line number and field) instead of after half a replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from schemas.errors import InputError
from schemas.telemetry import InvalidEvent, TelemetryEvent, parse_event

__all__ = ["Recording", "read_recording"]

_SHOWN_ERRORS = 10


@dataclass
class Recording:
    events: list[TelemetryEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "line N: reason"
    reordered: bool = False


def read_recording(path: Path, *, skip_invalid: bool = False) -> Recording:
    """Parse and validate every line; raise InputError listing bad lines unless skipping."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected JSON Lines, one event per line)")
    recording = Recording()
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                recording.events.append(parse_event(line))
            except InvalidEvent as error:
                recording.skipped.append(f"line {number}: {error.reason}")
    if recording.skipped and not skip_invalid:
        shown = "\n  ".join(recording.skipped[:_SHOWN_ERRORS])
        more = len(recording.skipped) - _SHOWN_ERRORS
        tail = f"\n  … and {more} more" if more > 0 else ""
        raise InputError(
            f"{path}: {len(recording.skipped)} invalid line(s); fix them or pass "
            f"--skip-invalid:\n  {shown}{tail}"
        )
    ordered = sorted(recording.events, key=lambda event: event.ts)
    recording.reordered = ordered != recording.events
    recording.events = ordered
    return recording
