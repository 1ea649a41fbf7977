"""One telemetry partition's aggregation: records in, pane revisions and dead letters out.

Pure (no I/O, time passed in), so the whole exactly-once story can be tested without Kafka:
feed records, checkpoint, build a new aggregator from the checkpoint, feed it the same records
from the committed offset, and it produces only what had not been produced yet. Per record:
validate (bad → dead letter), refuse a timestamp too far ahead of the message's own
(``future_ts``) or for a closed pane (``late``), else count it; after a batch, panes the
watermark passed fire on time, and late events make refinements due (at most one per pane
per transaction, and one at its close); a partition quiet for the idle timeout fires and
closes all its panes (docs/telemetry.md, "Panes: on time, then refinements"). A revision is
the offset of the last record handled, so a restart never reuses one (docs/design.md record
25). Skew and watermark go by the stored message timestamp, never the wall clock, so a replay
gets the first run's verdicts (record 9; with CreateTime, Kafka 4 brokers refuse timestamps
over ``log.message.timestamp.after.max.ms``, 1 h, ahead).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from orjson import JSONDecodeError

from schemas.sketch import DEFAULT_MAPPING, Mapping
from schemas.telemetry import InvalidEvent
from schemas.timestamps import to_rfc3339
from streams.aggregate.checkpoint import Checkpoint
from streams.aggregate.deadletter import (
    FUTURE,
    LATE,
    UNPROCESSABLE,
    DeadLetter,
    Record,
    dead_letter,
    invalid_code,
)
from streams.aggregate.metrics import AggregatorMetrics
from streams.aggregate.panes import Pane, ScopeKey, scope_id
from streams.aggregate.validate import decode, read_record
from streams.aggregate.watermark import PartitionTime

log = logging.getLogger(__name__)

__all__ = ["ClosedPane", "PaneRules", "PartitionAggregator"]


@dataclass(frozen=True)
class PaneRules:
    """The event-time rules (AggregatorSettings carries the same names)."""

    pane_ms: int = 1000
    allowed_lateness_ms: int = 5000
    idle_timeout_ms: int = 3000
    max_future_skew_ms: int = 60_000


@dataclass(frozen=True)
class ClosedPane:
    """A pane ready to publish: key = its scope id, value = PaneSummary JSON, on the panes
    partition its *service* hashes to (``partition_key``), so that stage 2 sees every scope
    of a service together."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    pane_id: str
    partition_key: bytes
    revision: int = 0


Group = dict[ScopeKey, Pane]  # the panes of one start time


class PartitionAggregator:
    """Open panes, watermark and pending output of one partition."""

    def __init__(
        self,
        topic: str,
        partition: int,
        rules: PaneRules,
        checkpoint: Checkpoint | None = None,
        start_offset: int | None = None,
        *,
        metrics: AggregatorMetrics | None = None,
        mapping: Mapping = DEFAULT_MAPPING,
    ) -> None:
        self.topic, self.partition, self.rules, self.mapping = topic, partition, rules, mapping
        self.metrics = metrics if metrics is not None else AggregatorMetrics()
        self.time = PartitionTime(rules.allowed_lateness_ms)
        self.replay_to = -1  # records up to here were handled before: rebuild only
        self.position = start_offset  # next offset to handle (None: wherever Kafka starts)
        if checkpoint is not None:
            self._restore(checkpoint)
        self.groups: dict[int, Group] = {}
        self.first_offset: dict[int, int] = {}  # per group: offset of its earliest event
        self.panes: list[ClosedPane] = []
        self.refined: dict[int, Pane] = {}  # fired panes with late events since (by id())
        self.live_fired = False  # a pane of live data fired since the service last looked
        self.dead_letters: list[DeadLetter] = []
        self.last_activity_ms: float | None = None

    def _restore(self, checkpoint: Checkpoint) -> None:
        self.replay_to = checkpoint.processed_to
        self.time.max_event_ms = checkpoint.max_event_ms
        self.time.closed_before = checkpoint.closed_before
        self.time.fired_before = checkpoint.fired_before

    # --- input ----------------------------------------------------------------------------

    def process(self, records: Iterable[Record], now_ms: float) -> None:
        """Handle records in offset order, then fire (and close) the panes the watermark passed."""
        # The hot loop: attributes read once into locals, common case first, rare cases
        # (rejections, new panes) in methods, counters updated per batch, not per event.
        pane_ms, skew, lateness = (
            self.rules.pane_ms,
            self.rules.max_future_skew_ms,
            self.time.lateness_ms,
        )
        groups, position, replay_to = self.groups, self.position, self.replay_to
        # The watermark rule of PartitionTime.admit, on locals (written back after the loop).
        max_event, closed_before = self.time.max_event_ms, self.time.closed_before
        fired, refined = self.time.fired_before, self.refined  # firing waits for the batch end
        handled = accepted = replayed = 0
        for record in records:
            offset = record.offset
            if position is not None and offset < position:
                continue  # handled already: a fetch that overlaps must not count twice
            position = offset + 1
            handled += 1
            if offset <= replay_to:
                replayed += 1
            try:
                kind, service, dimension, key, ts, a, b, c, drill = read_record(record.value or b"")
            except (InvalidEvent, JSONDecodeError) as error:
                self._invalid(record, offset <= replay_to, error)
                continue
            except Exception as error:  # nothing a producer sends may stop the stage
                self._unprocessable(record, offset <= replay_to, error)
                continue
            event_ms, stamp = int(ts * 1000.0 + 0.5), record.timestamp
            if event_ms > stamp + skew and stamp >= 0:
                self._future(record, offset <= replay_to, ts)
                continue
            start = event_ms - event_ms % pane_ms
            end = start + pane_ms
            if end <= closed_before:
                self._late(record, offset <= replay_to, event_ms, start, closed_before)
                continue
            # Capped at the message (broker) time: see the module docstring. A record without a
            # timestamp (-1) leaves event time alone.
            mark = stamp if event_ms > stamp >= 0 else event_ms
            if mark > max_event:
                max_event = mark
                if mark - lateness > closed_before:
                    closed_before = mark - lateness
            group = groups.get(start)
            if group is None:
                group = self._new_group(start, offset)
            scope = (service, dimension, key, drill)
            pane = group.get(scope)
            if pane is None:
                pane = group[scope] = Pane(scope, start, self.mapping)
                if end <= fired and offset <= replay_to:  # rebuilt: published before the restart
                    pane.revision = replay_to
            try:
                if kind == "request":
                    pane.add_request(a, b, c)
                else:
                    pane.add(kind, ts, a, b, c)
            except Exception as error:  # a value the pane cannot hold: a dead letter, not a crash
                self._unprocessable(record, offset <= replay_to, error)
                continue
            if offset > replay_to:  # a replayed event was counted before the restart
                accepted += 1
                if end <= fired:  # published already: a refinement is due
                    refined[id(pane)] = pane
        self.position = position
        self.time.max_event_ms, self.time.closed_before = max_event, closed_before
        self._count(handled, accepted, replayed)
        if handled:
            self.last_activity_ms = now_ms
        self.close_ready(now_ms)

    def _count(self, handled: int, accepted: int, replayed: int) -> None:
        metrics = self.metrics
        metrics.events += handled - replayed
        metrics.accepted += accepted
        metrics.replayed += replayed

    def _new_group(self, start: int, offset: int) -> Group:
        group: Group = {}
        self.groups[start] = group
        self.first_offset[start] = offset  # offsets only grow: the group's earliest event
        return group

    # --- rejections -----------------------------------------------------------------------

    def _invalid(self, record: Record, replaying: bool, error: Exception) -> None:
        if not isinstance(error, InvalidEvent):  # undecodable: decode() words the reason
            try:
                decode(record.value)
            except InvalidEvent as reason:
                error = reason
        assert isinstance(error, InvalidEvent)
        code = invalid_code(error.reason, error.field, error.problem)
        self._reject(record, replaying, code, error.reason, error.field)

    def _unprocessable(self, record: Record, replaying: bool, error: Exception) -> None:
        log.error("offset %s: could not aggregate a valid-looking event: %r", record.offset, error)
        reason = f"could not be aggregated: {type(error).__name__}: {error}"[:500]
        self._reject(record, replaying, UNPROCESSABLE, reason, None)

    def _future(self, record: Record, replaying: bool, ts: float) -> None:
        skew = self.rules.max_future_skew_ms
        reason = f"ts: {to_rfc3339(ts)} is more than {skew} ms ahead of the message timestamp"
        self._reject(record, replaying, FUTURE, reason, "ts")

    def _late(
        self, record: Record, replaying: bool, event_ms: int, start: int, closed_before: int
    ) -> None:
        end = start + self.rules.pane_ms
        reason = (
            f"late: event time {event_ms} ms is in pane [{start}, {end}), "
            f"closed when the partition's panes up to {closed_before} ms were"
        )
        self._reject(record, replaying, LATE, reason, "ts")

    def _reject(
        self, record: Record, replaying: bool, code: str, reason: str, field: str | None
    ) -> None:
        if replaying:
            return  # dead-lettered before the restart, in the committed transaction
        self.dead_letters.append(
            dead_letter(record, self.topic, self.partition, code, reason, field)
        )
        self.metrics.dead_letters[code] += 1

    # --- closing --------------------------------------------------------------------------

    def close_ready(self, now_ms: float | None = None) -> None:
        """Fire every open pane that ends at or before the watermark (on time: published,
        kept open), and close those past the allowed lateness (a last refinement if due).
        A pane that fired within a pane interval of ``now_ms`` (the wall clock: live data,
        not a backlog) sets ``live_fired``: it should go out without waiting for the next
        scheduled transaction."""
        pane_ms, time_ = self.rules.pane_ms, self.time
        due = time_.fire_through
        for start in sorted(self.groups):
            end = start + pane_ms
            if end > due:
                break
            if end > time_.fired_before:
                self._fire(start)
                if now_ms is not None and end >= now_ms - pane_ms:
                    self.live_fired = True
            if time_.is_closed(end):
                self._close(start)
        time_.fired_before = max(time_.fired_before, due)

    def close_idle(self, now_ms: float) -> bool:
        """Fire and close every open pane when the partition has been quiet for the idle
        timeout."""
        if not self.groups or self.last_activity_ms is None:
            return False
        if now_ms - self.last_activity_ms < self.rules.idle_timeout_ms:
            return False
        self.time.close_through(max(self.groups) + self.rules.pane_ms)
        self.close_ready(now_ms)
        return True

    def _fire(self, start: int) -> None:
        """The on-time firing of the panes of one start (those not published yet)."""
        for pane in self.groups[start].values():
            if pane.revision is None:
                self._emit(pane)

    def _close(self, start: int) -> None:
        group = self.groups.pop(start)
        del self.first_offset[start]
        for pane in group.values():
            if self.refined.pop(id(pane), None) is not None:
                self._emit(pane)

    def _refine(self) -> None:
        """The refinements due: one revision of each fired pane that got late events."""
        for pane in self.refined.values():
            self._emit(pane)
        self.refined.clear()

    def _emit(self, pane: Pane) -> None:
        if pane.revision is not None:
            self.metrics.refinements += 1
        else:
            self.metrics.panes += 1
        pane.revision = max(0, (self.position or 0) - 1)
        self.panes.append(self._published(pane))

    def _published(self, pane: Pane) -> ClosedPane:
        summary = pane.summary(self.rules.pane_ms, self.partition)
        if "truncated" in summary:
            self.metrics.truncated.update(summary["truncated"])
        pane_id: str = summary["pane_id"]
        # Key = service: every pane of a service lands on one partition of the panes topic,
        # so stage 2 can join a service's endpoints, bots and deploys locally.
        revision = str(pane.revision).encode()
        headers = [
            ("scope", scope_id(pane.scope).encode()),
            ("pane_id", pane_id.encode()),
            ("revision", revision),
        ]
        scope = scope_id(pane.scope).encode()
        value = orjson.dumps(summary)
        return ClosedPane(
            scope, value, headers, pane_id, pane.scope[0].encode(), pane.revision or 0
        )

    # --- output and progress --------------------------------------------------------------

    def take(self) -> tuple[list[ClosedPane], list[DeadLetter]]:
        """Hand over the pending output (to be produced in the next transaction), with the
        refinements due."""
        self._refine()
        panes, letters = self.panes, self.dead_letters
        self.panes, self.dead_letters = [], []
        return panes, letters

    @property
    def pending(self) -> int:
        """Pane revisions and dead letters waiting for the next transaction."""
        return len(self.panes) + len(self.refined) + len(self.dead_letters)

    @property
    def open_panes(self) -> int:
        return sum(len(group) for group in self.groups.values())

    def commit_point(self) -> tuple[int, Checkpoint] | None:
        """(offset to commit, checkpoint) for the output taken so far; None before any record."""
        if self.position is None:
            return None
        offset = min(self.first_offset.values(), default=self.position)
        checkpoint = Checkpoint(
            processed_to=max(self.position - 1, self.replay_to),
            max_event_ms=self.time.max_event_ms,
            closed_before=self.time.closed_before,
            fired_before=self.time.fired_before,
        )
        return offset, checkpoint
