"""What the outbox's deliveries did: the one place they are counted.

Every settled attempt by receiver and status, the receivers' failures by HTTP status (a pager
answering 400 shows up at once), and the time from a decision recorded to the first page sent
— for ``/metrics`` (``app.api.metrics.delivery_families``). Every failed attempt (a retry or a
give-up) also opens or extends its receiver's *failing streak*, which its next delivered
action ends: the dead-pager watch (``handlers.pager_watch``) reads it, and the outbox
dispatcher's ``/health`` report shows the failures by receiver. Counts are this process's
since it started; each failure is also on its incident's timeline, which is durable.

``MeteredRecord`` wraps the pipeline's record stage: it counts a delivery once its settlement
is durable, so a count never runs ahead of the database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from handlers.instruments import Histogram
from handlers.notify.stages import Delivery, DeliveryStage

__all__ = ["DeliveryStats", "MeteredRecord", "Streak", "first_page"]

# A settlement's status as /metrics names it: "pending" after an attempt means a retry.
_STATUS = {"pending": "retry"}


def first_page(delivery: Delivery) -> bool:
    """A detection page: the page an incident opens with, or the first at a severity it rose
    to (``<incident>:page:trigger:detection:<severity>``); escalations and closing pages are
    not."""
    a = delivery.action
    return a.kind == "page" and a.key.startswith(f"{a.incident_id}:page:trigger:detection")


@dataclass
class Streak:
    """A receiver failing since ``since`` (epoch s), with nothing delivered in between."""

    since: float
    failures: int = 0
    last_error: str | None = None
    incidents: dict[str, str] = field(default_factory=dict)  # waiting: id → title


@dataclass
class DeliveryStats:
    settled: Counter[tuple[str, str]] = field(default_factory=Counter)  # (receiver, status)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (receiver, HTTP status)
    first_page_s: Histogram = field(default_factory=Histogram)
    streaks: dict[str, Streak] = field(default_factory=dict)  # by receiver, while failing
    last_delivered_at: dict[str, float] = field(default_factory=dict)  # by receiver

    def count(self, d: Delivery) -> None:
        settlement = d.settlement
        if settlement is None or (settlement.status == "held" and d.action.held):
            return  # a held call looked at again is no new settlement (handlers.notify.holds)
        receiver = d.action.kind
        self.settled[receiver, _STATUS.get(settlement.status, settlement.status)] += 1
        if settlement.status in ("pending", "failed") and settlement.timeline is not None:
            status = settlement.timeline.result.get("status")
            self.failures[receiver, str(status) if status is not None else "error"] += 1
            self._failed(d, settlement.error)
        if settlement.status == "sent":
            self.streaks.pop(receiver, None)
            self.last_delivered_at[receiver] = d.now
            if first_page(d):
                self.first_page_s.observe(max(0.0, d.now - d.action.created_at))

    def _failed(self, d: Delivery, error: str | None) -> None:
        a = d.action
        streak = self.streaks.setdefault(a.kind, Streak(d.now))
        streak.failures += 1
        streak.last_error = error
        streak.incidents[a.incident_id] = str(a.payload.get("title") or "")

    def failing_for(self, receiver: str, now: float) -> float:
        """How long ``receiver`` has been failing (0: it is not)."""
        streak = self.streaks.get(receiver)
        return 0.0 if streak is None else now - streak.since

    def failures_by_receiver(self) -> dict[str, int]:
        """Failed attempts by receiver, every HTTP status together (for ``/health``)."""
        found: Counter[str] = Counter()
        for (receiver, _), n in self.failures.items():
            found[receiver] += n
        return dict(sorted(found.items()))


class MeteredRecord:
    def __init__(self, record: DeliveryStage, stats: DeliveryStats) -> None:
        self._record = record
        self._stats = stats

    async def exec(self, d: Delivery) -> Delivery:
        d = await self._record.exec(d)
        self._stats.count(d)
        return d
