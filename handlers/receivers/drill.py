"""Where a DR drill's effects go: every kind's drill receiver, chosen per action.

An action belongs to a drill when its payload names one (``payload["drill"]``, set by
``handlers.incidents.notices``). ``DrillRouter`` sends real actions to the production receiver
untouched and a drill's to the drill's receiver of its kind (``DrillReceivers``), marking human
text ``[DRILL]``; the ``X-Alertpipe-Drill`` header is added by ``handlers.receivers.http``
while ``drill_context`` is set, so no receiver's wire format needs to know about drills
(docs/design.md record 36). Where each kind goes: docs/drills.md, "Where a drill's effects go".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from handlers.actions import ACTIONS
from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, Receiver
from handlers.receivers.drill_header import DRILL_HEADER, current_drill, drill_context
from schemas.incidents import ActionKind

__all__ = [
    "DRILL_HEADER",
    "DRILL_MARK",
    "DrillReceivers",
    "DrillRouter",
    "current_drill",
    "drill_context",
    "marked",
    "route_drills",
]

DRILL_MARK = "[DRILL]"
# The payload fields a person reads (chat text, page summary, titles, status page body).
_HUMAN_TEXT = ("text", "summary", "title", "body")


def marked(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` with ``[DRILL]`` before each human text (once)."""
    found = dict(payload)
    for name in _HUMAN_TEXT:
        value = found.get(name)
        if isinstance(value, str) and not value.startswith(DRILL_MARK):
            found[name] = f"{DRILL_MARK} {value}"
    return found


@dataclass(frozen=True)
class DrillReceivers:
    """A drill's receivers by kind: ``routed`` (drill URLs, drill routing key, or console) and
    ``live`` (production's, for drills started with ``--live``: control calls only)."""

    routed: Mapping[ActionKind, Receiver]
    live: Mapping[ActionKind, Receiver]


class DrillRouter:
    """One kind's receiver: production's for real actions, the drill's for a drill's."""

    def __init__(
        self,
        kind: ActionKind,
        production: Receiver,
        drills: DrillReceivers,
        is_live: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.name = production.name
        self.kind = kind
        self._production = production
        self._drills = drills
        self._is_live = is_live

    async def send(self, action: Outbound) -> SendResult:
        drill = action.payload.get("drill")
        if not isinstance(drill, str):
            return await self._production.send(action)
        receiver = await self._receiver(drill)
        with drill_context(drill):
            return await receiver.send(replace(action, payload=marked(action.payload)))

    async def _receiver(self, drill: str) -> Receiver:
        control = not ACTIONS[self.kind].notification
        if control and await self._is_live(drill):
            return self._drills.live[self.kind]
        return self._drills.routed[self.kind]


def route_drills(
    production: Mapping[ActionKind, Receiver],
    drills: DrillReceivers,
    is_live: Callable[[str], Awaitable[bool]],
) -> dict[ActionKind, Receiver]:
    """Every kind's ``DrillRouter``."""
    return {
        kind: DrillRouter(kind, receiver, drills, is_live) for kind, receiver in production.items()
    }
