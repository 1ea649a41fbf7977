"""A drill's actions go to the drill's receivers, marked "[DRILL]" and with the drill's id in
the HTTP layer's context (the header); real actions are untouched; control calls reach
production's receivers only for a drill started live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.receivers.drill import DrillReceivers, current_drill, route_drills
from schemas.incidents import ActionKind

KINDS: tuple[ActionKind, ...] = ("page", "chat", "status_page", "rollback")


@dataclass
class Seen:
    name: str
    sent: list[tuple[Outbound, str | None]] = field(default_factory=list)

    async def send(self, action: Outbound) -> SendResult:
        self.sent.append((action, current_drill()))
        return SendResult.success()


def _set(prefix: str) -> dict[ActionKind, Seen]:
    return {kind: Seen(f"{prefix}-{kind}") for kind in KINDS}


def _action(kind: ActionKind, drill: str | None = None, **payload: Any) -> Outbound:
    extra = {"drill": drill} if drill else {}
    return Outbound(kind, f"inc_1:{kind}", "inc_1", {"service": "chat-api", **payload, **extra})


async def _routed(live: bool) -> tuple[dict[str, Any], dict[ActionKind, Seen], ...]:
    production, routed = _set("prod"), _set("drill")

    async def is_live(drill: str) -> bool:
        return live

    routers = route_drills(production, DrillReceivers(routed, production), is_live)  # type: ignore[arg-type]
    return routers, production, routed  # type: ignore[return-value]


async def test_a_real_action_goes_to_production_as_it_is() -> None:
    routers, production, routed = await _routed(live=False)
    action = _action("chat", text="CRITICAL incident")
    await routers["chat"].send(action)
    assert production["chat"].sent == [(action, None)]
    assert not routed["chat"].sent


async def test_a_drills_actions_are_marked_and_routed_to_the_drill_receivers() -> None:
    routers, production, routed = await _routed(live=False)
    await routers["page"].send(_action("page", "drill_1", summary="CRITICAL: chat-api"))
    await routers["chat"].send(_action("chat", "drill_1", text="[DRILL] already marked"))
    await routers["rollback"].send(_action("rollback", "drill_1", to_version="2.3.9"))
    assert not any(seen.sent for seen in production.values())
    page, drill = routed["page"].sent[0]
    assert page.payload["summary"] == "[DRILL] CRITICAL: chat-api" and drill == "drill_1"
    assert routed["chat"].sent[0][0].payload["text"] == "[DRILL] already marked"  # once
    assert routed["rollback"].sent[0][1] == "drill_1"
    assert current_drill() is None  # the context ends with the send


async def test_a_live_drill_sends_control_calls_to_production_but_never_notifications() -> None:
    routers, production, routed = await _routed(live=True)
    await routers["rollback"].send(_action("rollback", "drill_1"))
    await routers["status_page"].send(_action("status_page", "drill_1", body="down"))
    assert [d for _, d in production["rollback"].sent] == ["drill_1"]
    assert not production["status_page"].sent and routed["status_page"].sent
