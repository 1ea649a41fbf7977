"""Automation holds (windows, global holds, silences), releases, and their delivery stages —
pure, with an in-memory store and receiver."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from handlers.config import DeliveryConfig, HoldConfig
from handlers.holds import Automation, GlobalHold, Window, holding, muting_window, release
from handlers.incidents.incident import Incident
from handlers.notify.metrics import DeliveryStats
from handlers.notify.stages import Delivery
from handlers.outbox.dispatcher import delivery_pipeline
from handlers.outbox.ports import Claimed, Settlement
from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.silences import Matcher, Silence
from schemas.incidents import ActionKind
from schemas.maintenance import MaintenanceWindow
from schemas.severity import Severity

NOW = datetime(2026, 5, 2, 2, 30, tzinfo=UTC).timestamp()  # a Saturday, 02:30 UTC
LABELS = {"service": "chat-api", "severity": "CRITICAL", "rule": "error_rate"}


def _window(**fields: object) -> Window:
    spec = MaintenanceWindow.model_validate(
        {
            "name": "db-upgrade",
            "services": ["chat-*"],
            "time_intervals": [
                {"weekdays": ["saturday"], "times": [{"start_time": "02:00", "end_time": "04:00"}]}
            ],
            "comment": "postgres 16",
            **fields,
        }
    )
    return Window(f"policy:{spec.name}", spec, "policy")


WINDOW = _window()
GLOBAL = GlobalHold("hold_1", "load test", "ana", NOW - 60)
HOLDING_SILENCE = Silence(
    "sil_1", (Matcher("rule", "error_rate"),), NOW - 10, NOW + 10, "bob", "drill",
    hold_automation=True,
)  # fmt: skip


@pytest.mark.parametrize(
    ("automation", "service", "released", "held_by"),
    [
        (Automation(), "chat-api", frozenset(), []),
        (Automation(windows=[WINDOW]), "chat-api", frozenset(), ["window:policy:db-upgrade"]),
        (Automation(windows=[WINDOW]), "search-api", frozenset(), []),  # not its service
        (Automation(windows=[_window(hold_automation=False)]), "chat-api", frozenset(), []),
        (Automation(holds=[GLOBAL]), "anything", frozenset(), ["hold:hold_1"]),
        (Automation(silences=[HOLDING_SILENCE]), "chat-api", frozenset(), ["silence:sil_1"]),
        (
            Automation(silences=[replace(HOLDING_SILENCE, hold_automation=False)]),
            "chat-api",
            frozenset(),
            [],
        ),
        (
            Automation(windows=[WINDOW], holds=[GLOBAL]),
            "chat-api",
            frozenset({"window:policy:db-upgrade"}),
            ["hold:hold_1"],  # released from the window; the global hold still holds
        ),
    ],
)
def test_what_holds_an_incidents_automation(
    automation: Automation, service: str, released: frozenset[str], held_by: list[str]
) -> None:
    found = holding(automation, service, LABELS, released, NOW)
    assert [c.key for c in found] == held_by


def test_a_window_holds_only_while_it_is_on() -> None:
    automation = Automation(windows=[WINDOW])
    assert holding(automation, "chat-api", LABELS, frozenset(), NOW + 2 * 3600) == []
    lifted = Automation(holds=[replace(GLOBAL, lifted_at=NOW, lifted_by="ana")])
    assert holding(lifted, "chat-api", LABELS, frozenset(), NOW) == []


def test_a_window_mutes_notifications_unless_it_says_send() -> None:
    assert muting_window(Automation(windows=[WINDOW]), "chat-api", NOW) == WINDOW
    sending = _window(notifications="send")
    assert muting_window(Automation(windows=[sending]), "chat-api", NOW) is None


def test_a_release_records_who_let_it_run_and_why() -> None:
    incident = Incident("inc_1", "chat-api", Severity.CRITICAL, "open", "t", NOW, NOW)
    causes = holding(
        Automation(windows=[WINDOW], holds=[GLOBAL]), "chat-api", LABELS, frozenset(), NOW
    )
    effects = release(incident, causes, "ana", "the upgrade is done", NOW)
    assert effects.incident.released == {"window:policy:db-upgrade", "hold:hold_1"}
    [entry] = effects.timeline
    assert entry.actor == "ana" and entry.reason == "the upgrade is done"
    assert entry.message == (
        "automation released from global hold hold_1, maintenance window db-upgrade by ana"
    )


# --- the delivery stages -------------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.settled: list[Settlement] = []

    async def settle(self, action: Claimed, outcome: Settlement, now: float) -> None:
        self.settled.append(outcome)


class Receiver:
    def __init__(self) -> None:
        self.sent: list[Outbound] = []

    async def send(self, action: Outbound) -> SendResult:
        self.sent.append(action)
        return SendResult.success(200)


def _claimed(kind: ActionKind, **fields: object) -> Claimed:
    base = Claimed(1, "inc_1", "chat-api", kind, f"inc_1:{kind}", Severity.CRITICAL,
                   {"action": "open"}, 1, NOW - 1, LABELS)  # fmt: skip
    return replace(base, **fields)  # type: ignore[arg-type]


async def _deliver(action: Claimed, automation: Automation) -> tuple[Settlement, Receiver]:
    store, receiver = Store(), Receiver()
    receivers = dict.fromkeys(("page", "chat", "breaker", "rollback"), receiver)
    hold_cfg = HoldConfig(recheck_s=7)
    pipeline = delivery_pipeline(store, receivers, DeliveryConfig(), hold_cfg=hold_cfg)  # type: ignore[arg-type]
    await pipeline.exec(Delivery(action, NOW, automation=automation))
    [settled] = store.settled
    return settled, receiver


async def test_a_held_control_call_is_not_sent_and_is_looked_at_again() -> None:
    settled, receiver = await _deliver(_claimed("breaker"), Automation(windows=[WINDOW]))
    assert (settled.status, settled.next_at) == ("held", NOW + 7) and receiver.sent == []
    assert settled.reason == "held by maintenance window db-upgrade"
    assert settled.timeline is not None and settled.timeline.kind == "hold"
    again, _ = await _deliver(_claimed("breaker", held=True), Automation(windows=[WINDOW]))
    assert again.status == "held" and again.timeline is None  # said once, when first held


async def test_a_released_or_unheld_control_call_goes_out() -> None:
    released = _claimed("breaker", held=True, released=frozenset({"window:policy:db-upgrade"}))
    settled, receiver = await _deliver(released, Automation(windows=[WINDOW]))
    assert settled.status == "sent" and [o.key for o in receiver.sent] == ["inc_1:breaker"]


async def test_notifications_are_never_held_but_a_window_mutes_them() -> None:
    settled, receiver = await _deliver(_claimed("page"), Automation(holds=[GLOBAL]))
    assert settled.status == "sent"
    muted, receiver = await _deliver(_claimed("page"), Automation(windows=[WINDOW]))
    assert (muted.status, muted.reason) == ("muted", "muted by maintenance window db-upgrade")
    assert receiver.sent == []
    closing, receiver = await _deliver(_claimed("page", closing=True), Automation(windows=[WINDOW]))
    assert closing.status == "sent"  # a page that went out is always closed


async def test_a_dry_run_action_is_recorded_as_would_have_sent() -> None:
    for kind in ("page", "breaker"):
        settled, receiver = await _deliver(_claimed(kind, dry_run=True), Automation())
        assert (settled.status, settled.reason) == ("dry_run", "dry run: would have sent")
        assert receiver.sent == [] and settled.timeline is not None
        assert settled.timeline.message.endswith("would have been sent (dry run)")


def test_a_held_call_looked_at_again_is_counted_once() -> None:
    stats = DeliveryStats()
    held = Settlement("held", "held by global hold hold_1", NOW + 5)
    stats.count(Delivery(_claimed("breaker"), NOW, settlement=held))
    stats.count(Delivery(_claimed("breaker", held=True), NOW + 5, settlement=held))
    assert stats.settled == {("breaker", "held"): 1}
