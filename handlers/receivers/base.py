"""The receiver contract: one outbound action in, a ``SendResult`` out (never an exception)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from handlers.outbox.retry import SendResult
from schemas.incidents import ActionKind

__all__ = ["Outbound", "Receiver"]


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
