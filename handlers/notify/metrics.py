"""What the outbox's deliveries did, counted for /metrics: every settled attempt by receiver
and status, the receivers' failures by HTTP status (a pager answering 400 shows up at once),
and the time from a decision recorded to the first page sent.

``MeteredRecord`` wraps the pipeline's record stage: it counts a delivery once its settlement
is durable, so a count never runs ahead of the database.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from handlers.instruments import Histogram
from handlers.notify.stages import Delivery, DeliveryStage

__all__ = ["DeliveryStats", "MeteredRecord", "first_page"]

# A settlement's status as /metrics names it: "pending" after an attempt means a retry.
_STATUS = {"pending": "retry"}


def first_page(delivery: Delivery) -> bool:
    """A detection page: the page an incident opens with, or the first at a severity it rose
    to (``<incident>:page:trigger:detection:<severity>``); escalations and closing pages are
    not."""
    a = delivery.action
    return a.kind == "page" and a.key.startswith(f"{a.incident_id}:page:trigger:detection")


@dataclass
class DeliveryStats:
    settled: Counter[tuple[str, str]] = field(default_factory=Counter)  # (receiver, status)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (receiver, HTTP status)
    first_page_s: Histogram = field(default_factory=Histogram)

    def count(self, d: Delivery) -> None:
        settlement = d.settlement
        if settlement is None or (settlement.status == "held" and d.action.held):
            return  # a held call looked at again is no new settlement (handlers.notify.holds)
        receiver = d.action.kind
        self.settled[receiver, _STATUS.get(settlement.status, settlement.status)] += 1
        if settlement.status in ("pending", "failed") and settlement.timeline is not None:
            status = settlement.timeline.result.get("status")
            self.failures[receiver, str(status) if status is not None else "error"] += 1
        if settlement.status == "sent" and first_page(d):
            self.first_page_s.observe(max(0.0, d.now - d.action.created_at))


class MeteredRecord:
    def __init__(self, record: DeliveryStage, stats: DeliveryStats) -> None:
        self._record = record
        self._stats = stats

    async def exec(self, d: Delivery) -> Delivery:
        d = await self._record.exec(d)
        self._stats.count(d)
        return d
