"""Control webhooks — circuit breaker, rollback, restore, bot restart: plain JSON, one shape.

    {"kind": "breaker", "action": "open", "target": "chat-api", "incident_id": "inc_…",
     "service": "chat-api", "idempotency_key": "inc_…:breaker:open:chat-api", …payload}

The ``Idempotency-Key`` header carries the same key: a receiver that has seen it must not act
again (a crash between sending and recording re-sends with the same key).

An ``integrity_check`` is the one call whose answer is a result: a 2xx answer with a JSON body
``{"ok": false, "detail": "…"}`` means the re-run check still fails, and the call fails (not
retryable — the rollback's verify fails and escalates). Any other 2xx answer passes.
"""

from __future__ import annotations

from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.receivers.http import WebhookPoster

__all__ = ["ControlReceiver", "control_body", "integrity_verdict"]

_NOT_SENT = frozenset({"title", "scenario"})


def control_body(action: Outbound) -> dict[str, Any]:
    extra = {k: v for k, v in action.payload.items() if k not in _NOT_SENT}
    return {
        "kind": action.kind,
        **extra,
        "incident_id": action.incident_id,
        "idempotency_key": action.key,
    }


class ControlReceiver:
    def __init__(self, name: str, poster: WebhookPoster) -> None:
        self.name = name
        self._poster = poster

    async def send(self, action: Outbound) -> SendResult:
        result = await self._poster.post(control_body(action), action.key)
        return integrity_verdict(result) if action.kind == "integrity_check" else result


def integrity_verdict(result: SendResult) -> SendResult:
    """A delivered integrity check fails when its answer says the check still fails."""
    answer = result.answer
    if not result.ok or not isinstance(answer, dict) or answer.get("ok") is not False:
        return result
    detail = str(answer.get("detail") or "no detail given")[:200]
    return SendResult(
        False, False, f"integrity_check: the check still fails: {detail}", result.status
    )
