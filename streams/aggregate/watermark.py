"""Event time of one partition: its watermark, which panes it has fired, which it has closed.

The watermark is the highest event time seen, each event's capped at its message (broker)
timestamp so that a producer with a fast clock cannot push it ahead (docs/design.md record 9).
A pane fires on time once ``end <= fired_before`` and is closed once ``end <= closed_before``
(watermark − allowed lateness, or more after the idle timeout) (record 25). Everything a pane
decision depends on is in these numbers, which is why they are checkpointed: a restarted
worker knows exactly which panes it already published. They advance per event, not per batch,
so a pane's content depends only on the order of events in the partition, never on batching.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NEVER", "PartitionTime"]

NEVER = -(2**62)  # "no event time yet": below every real epoch in ms


@dataclass
class PartitionTime:
    """Watermark state of one partition, in epoch milliseconds."""

    lateness_ms: int
    max_event_ms: int = NEVER
    closed_before: int = NEVER
    fired_before: int = NEVER  # every pane ending at or before this was published on time

    def admit(self, event_ms: int, pane_end_ms: int, message_ms: int = -1) -> bool:
        """Accept an event whose pane is still open (and advance, no further than the message
        timestamp when there is one); False means it is late. PartitionAggregator.process runs
        this same rule inline, on locals."""
        if pane_end_ms <= self.closed_before:
            return False
        mark = message_ms if event_ms > message_ms >= 0 else event_ms
        if mark > self.max_event_ms:
            self.max_event_ms = mark
            self.closed_before = max(self.closed_before, mark - self.lateness_ms)
        return True

    def is_closed(self, pane_end_ms: int) -> bool:
        return pane_end_ms <= self.closed_before

    @property
    def fire_through(self) -> int:
        """Panes ending at or before this are due to fire (on time, or closed by idleness)."""
        return max(self.max_event_ms, self.closed_before)

    def close_through(self, pane_end_ms: int) -> None:
        """Mark every pane ending at or before ``pane_end_ms`` closed (the idle timeout)."""
        self.closed_before = max(self.closed_before, pane_end_ms)

    @property
    def watermark_ms(self) -> int:
        return self.max_event_ms - self.lateness_ms
