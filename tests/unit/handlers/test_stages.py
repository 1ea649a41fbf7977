"""The notification pipeline's stages with an in-memory store and receiver (no I/O)."""

from __future__ import annotations

from typing import get_args

from handlers.config import DeliveryConfig
from handlers.incidents.effects import NOTIFICATION_KINDS
from handlers.notify.stages import Delivery
from handlers.outbox.dispatcher import LANES, delivery_pipeline
from handlers.outbox.ports import Claimed, Settlement
from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.silences import Inhibitor, Matcher, Silence
from schemas.incidents import ActionKind
from schemas.severity import Severity

NOW = 1_800_000_000.0
OK = SendResult.success(200)
SILENCE = Silence("sil_1", (Matcher("service", "chat-api"),), NOW - 10, NOW + 10, "ana")


class Store:
    def __init__(self) -> None:
        self.settled: list[Settlement] = []

    async def settle(self, action: Claimed, outcome: Settlement, now: float) -> None:
        self.settled.append(outcome)


class Receiver:
    name = "fake"

    def __init__(self, result: SendResult) -> None:
        self.result = result
        self.sent: list[Outbound] = []

    async def send(self, action: Outbound) -> SendResult:
        self.sent.append(action)
        return self.result


def _action(
    kind: str = "page",
    closing: bool = False,
    severity: Severity = Severity.HIGH,
    incident_id: str = "inc_1",
) -> Claimed:
    return Claimed(
        1,
        incident_id,
        "chat-api",
        kind,
        "k",
        severity,
        {},
        1,
        NOW - 1,
        {"service": "chat-api"},
        closing,
    )


async def _run(action: Claimed, result: SendResult = OK, **kw: object) -> tuple[str, int]:
    store, receiver = Store(), Receiver(result)
    pipeline = delivery_pipeline(
        store, dict.fromkeys(("page", "breaker"), receiver), DeliveryConfig()
    )
    await pipeline.exec(Delivery(action, NOW, **kw))
    return store.settled[0].status, len(receiver.sent)


async def test_silence_mutes_a_notification_but_not_a_control_action_nor_a_closing_page() -> None:
    assert await _run(_action(), silences=[SILENCE]) == ("muted", 0)
    assert await _run(_action("breaker"), silences=[SILENCE]) == ("sent", 1)
    assert await _run(_action(closing=True), silences=[SILENCE]) == ("sent", 1)


async def test_inhibition_by_a_critical_incident_of_the_service() -> None:
    critical = [Inhibitor("inc_9", "chat-api", Severity.CRITICAL)]
    assert await _run(_action(), inhibitors=critical) == ("inhibited", 0)
    assert await _run(_action(severity=Severity.CRITICAL), inhibitors=critical) == ("sent", 1)


async def test_an_incident_raised_to_critical_does_not_inhibit_its_own_queued_notices() -> None:
    """inc_1 paged at HIGH, then became CRITICAL before the page went out: its HIGH page still
    goes (it is the incident's own first page, not a lesser one drowned by it); another
    incident's HIGH page of the same service is inhibited."""
    raised = [Inhibitor("inc_1", "chat-api", Severity.CRITICAL)]
    assert await _run(_action(incident_id="inc_1"), inhibitors=raised) == ("sent", 1)
    assert await _run(_action(incident_id="inc_2"), inhibitors=raised) == ("inhibited", 0)


async def test_retry_stage_reports_the_next_move() -> None:
    assert await _run(_action(), SendResult(False, True, "HTTP 503", 503)) == ("pending", 1)
    assert await _run(_action(), SendResult(False, False, "HTTP 400", 400)) == ("failed", 1)


def test_every_action_kind_is_claimed_by_exactly_one_lane() -> None:
    """A kind in no lane would never be sent; one in two could be sent twice at once."""
    lanes = list(LANES.values())
    assert sorted(k for kinds in lanes for k in kinds) == sorted(get_args(ActionKind))
    assert LANES["control"].isdisjoint(NOTIFICATION_KINDS)
