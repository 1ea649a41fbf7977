"""Receiver failures without I/O: counted by receiver (and HTTP status) with each one's failing
streak, in the one count /health, /metrics and the dead-pager watch read; a failed
notice carried into the next of its channel, and the dead-pager incident's open and close."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.actions import ACTIONS, CARRIED_KINDS
from handlers.config import DeliveryConfig
from handlers.incidents.incident import Incident
from handlers.notify.metrics import DeliveryStats, MeteredRecord, Streak
from handlers.notify.stages import CarryStage, Delivery, RetryStage
from handlers.outbox.ports import Claimed, Missed
from handlers.outbox.retry import SendResult
from handlers.pager_watch import PAGER_INCIDENT_SERVICE, pager_back, pager_down
from handlers.receivers.base import Outbound
from handlers.receivers.chat import chat_body
from handlers.receivers.statuspage import statuspage_body
from schemas.severity import Severity

NOW = 1_800_000_000.0


def _claimed(kind: str = "chat", incident_id: str = "inc_2", **payload: Any) -> Claimed:
    return Claimed(7, incident_id, "chat-api", kind, f"{incident_id}:{kind}", Severity.HIGH,
                   payload, 1, NOW - 1)  # fmt: skip


class Store:
    def __init__(self, missed: list[Missed]) -> None:
        self._missed = missed
        self.asked: list[tuple[str, bool]] = []

    async def missed(self, action: Claimed, *, same_incident: bool, limit: int) -> list[Missed]:
        self.asked.append((action.kind, same_incident))
        return self._missed[:limit]


class Receiver:
    name = "fake"

    def __init__(self, *results: SendResult) -> None:
        self.results = list(results)

    async def send(self, action: Outbound) -> SendResult:
        return self.results.pop(0)


MISSED = Missed(3, "inc_1", "inc_1:chat:opened:HIGH", NOW - 60, "HIGH incident inc_1 opened")


def test_pages_are_retried_until_delivered_and_other_notices_are_carried() -> None:
    assert [k for k, spec in ACTIONS.items() if spec.until_delivered] == ["page"]
    assert {"chat", "status_page", "pager_fallback"} == CARRIED_KINDS


async def test_the_carry_stage_puts_the_channels_failed_notices_into_the_next() -> None:
    store = Store([MISSED])
    carried = await CarryStage(store).exec(Delivery(_claimed(text="RESOLVED inc_2"), NOW))  # type: ignore[arg-type]
    assert carried.carried == (MISSED,)
    assert carried.action.payload["missed"] == [MISSED.as_payload()]
    assert store.asked == [("chat", False)]  # chat is one channel: every incident's
    body = chat_body(Outbound("chat", "k", "inc_2", carried.action.payload))
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert "[inc_1] HIGH incident inc_1 opened" in "\n".join(sections)  # in the message itself
    text = body["text"]
    assert text.splitlines() == [
        "RESOLVED inc_2",
        "",
        "Earlier, not delivered at the time:",
        "• 2027-01-15T07:59:00.000Z [inc_1] HIGH incident inc_1 opened",
    ]


async def test_a_status_page_update_carries_only_its_own_incidents() -> None:
    store = Store([])
    plain = Delivery(_claimed("status_page", body="Investigating"), NOW)
    assert await CarryStage(store).exec(plain) == plain  # type: ignore[arg-type]
    assert store.asked == [("status_page", True)]
    payload = {"body": "Resolved.", "missed": [MISSED.as_payload()]}
    for create in (False, True):  # an update of the stored incident, or its create that failed
        outbound = Outbound("status_page", "k", "inc_1", payload)
        body = statuspage_body(outbound, {}, create=create)["incident"]["body"]
        assert body.startswith("Resolved.\n\nEarlier") and "HIGH incident inc_1 opened" in body


async def test_pages_and_control_calls_carry_nothing() -> None:
    store = Store([MISSED])
    for kind in ("page", "breaker"):
        delivery = Delivery(_claimed(kind), NOW)
        assert await CarryStage(store).exec(delivery) == delivery  # type: ignore[arg-type]
    assert store.asked == []


async def test_a_sent_notice_settles_with_what_it_carried() -> None:
    stage = RetryStage({"chat": Receiver(SendResult.success(200))}, DeliveryConfig())
    done = await stage.exec(Delivery(_claimed(), NOW, carried=(MISSED,)))
    assert done.settlement is not None and done.settlement.carried == (3,)
    assert done.settlement.timeline is not None
    assert done.settlement.timeline.result["carried"] == [MISSED.key]


class Recorded:
    """The record stage, without a database: what it was handed."""

    def __init__(self) -> None:
        self.settled: list[str] = []

    async def exec(self, d: Delivery) -> Delivery:
        assert d.settlement is not None
        self.settled.append(d.settlement.status)
        return d


async def test_each_failed_attempt_is_counted_by_receiver_and_a_delivery_ends_the_streak() -> None:
    stats, recorded = DeliveryStats(), Recorded()
    results = [SendResult(False, True, "pager: HTTP 500", 500)] * 3 + [SendResult.success(202)]
    stage = RetryStage({"page": Receiver(*results)}, DeliveryConfig(max_attempts=2))
    record = MeteredRecord(recorded, stats)  # counted once recorded, as the dispatcher does
    page = _claimed("page", "inc_9", title="chat-api errors")
    for attempt, now in enumerate((NOW, NOW + 5, NOW + 30), start=1):
        d = Delivery(Claimed(**{**page.__dict__, "attempts": attempt}), now)
        done = await record.exec(await stage.exec(d))
        assert done.settlement is not None and done.settlement.status == "pending"
    assert stats.failures_by_receiver() == {"page": 3}
    assert stats.failures == {("page", "500"): 3}  # the same count, by HTTP status
    assert stats.settled == {("page", "retry"): 3}
    assert stats.failing_for("page", NOW + 40) == 40
    assert stats.streaks["page"].incidents == {"inc_9": "chat-api errors"}
    assert stats.streaks["page"].last_error == "pager: HTTP 500"
    await record.exec(await stage.exec(Delivery(page, NOW + 41)))
    assert stats.failing_for("page", NOW + 50) == 0 and stats.failures_by_receiver() == {"page": 3}
    assert stats.last_delivered_at["page"] == NOW + 41
    assert recorded.settled == ["pending", "pending", "pending", "sent"]


def test_the_dead_pager_incident_says_what_waits_and_reaches_every_other_channel() -> None:
    streak = Streak(NOW - 130, 9, "pager: timeout", {"inc_9": "chat-api errors"})
    effects = pager_down("inc_p", NOW, streak)
    incident = effects.incident
    assert (incident.service, incident.severity, incident.status) == (
        PAGER_INCIDENT_SERVICE,
        Severity.HIGH,
        "open",
    )
    assert [(a.kind, a.key) for a in effects.actions] == [
        ("chat", "inc_p:chat:pager_down"),
        ("pager_fallback", "inc_p:pager_fallback:pager_down"),
    ]
    text = effects.actions[0].payload["text"]
    assert "130 s, 9 failed attempts; last: pager: timeout" in text
    assert "inc_9 (chat-api errors)" in text
    assert [e.type for e in effects.events] == ["opened"]


@pytest.mark.parametrize("delivered_after_s", [5.0, 300.0])
def test_a_delivered_page_resolves_the_dead_pager_incident(delivered_after_s: float) -> None:
    opened = Incident("inc_p", PAGER_INCIDENT_SERVICE, Severity.HIGH, "open", "Pager", NOW, NOW)
    effects = pager_back(opened, NOW + delivered_after_s + 1, NOW + delivered_after_s)
    assert effects.incident.status == "resolved"
    assert effects.incident.resolved_at == NOW + delivered_after_s + 1
    assert [a.key for a in effects.actions] == [
        "inc_p:chat:pager_back",
        "inc_p:pager_fallback:pager_back",
    ]
    assert (
        f"{delivered_after_s:.0f} s after this incident opened"
        in (effects.actions[0].payload["text"])
    )
