"""The receiver contract: one outbound action in, a ``SendResult`` out (never an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.outbox.retry import SendResult
from schemas.incidents import ActionKind
from schemas.timestamps import to_rfc3339

__all__ = ["MISSED_TEXT_MAX", "Outbound", "Receiver", "with_missed"]

# Characters of one carried notice's text (its whole text is on its incident's timeline): 20
# carried notices (``CARRY_LIMIT``) then take ~11,000 characters, four of a Slack message's
# 3,000-character sections: they fit in one Slack message beside the notice's own text (a
# message cut at 50 blocks loses its end, where they are).
MISSED_TEXT_MAX = 500


@dataclass(frozen=True)
class Outbound:
    """An outbox action as a receiver sees it. ``key`` is the same on every attempt."""

    kind: ActionKind
    key: str
    incident_id: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1


class Receiver(Protocol):
    name: str

    async def send(self, action: Outbound) -> SendResult: ...


def with_missed(text: str, payload: Mapping[str, Any]) -> str:
    """``text``, then the earlier notices of its channel that could not be delivered at the
    time (``missed``, put there by the outbox's carry stage), oldest first, each cut to
    ``MISSED_TEXT_MAX`` characters."""
    missed = payload.get("missed") or []
    if not missed:
        return text
    lines = [f"• {to_rfc3339(m['at'])} [{m['incident_id']}] {_cut(str(m['text']))}" for m in missed]
    return "\n".join([text, "", "Earlier, not delivered at the time:", *lines])


def _cut(text: str) -> str:
    return text if len(text) <= MISSED_TEXT_MAX else text[: MISSED_TEXT_MAX - 1] + "…"
