"""Pager: PagerDuty Events API v2 (trigger / acknowledge / resolve).

``dedup_key`` is the incident id, so every page of one incident (detection, escalations,
acknowledge, resolve) lands on one pager alert; the escalation target goes in
``custom_details.escalate_to``. Severity: CRITICAL→critical, HIGH→error, MEDIUM→warning,
LOW→info.
"""

from __future__ import annotations

from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.receivers.http import WebhookPoster

__all__ = ["PagerReceiver", "pager_body"]

SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info"}


def pager_body(action: Outbound, routing_key: str | None = None) -> dict[str, Any]:
    p = action.payload
    body: dict[str, Any] = {
        "event_action": p.get("event", "trigger"),
        "dedup_key": action.incident_id,
        "client": "alertpipe",
    }
    if routing_key:
        body["routing_key"] = routing_key
    if body["event_action"] == "trigger":
        body["payload"] = {
            "summary": str(p.get("summary") or p.get("title") or action.incident_id)[:1024],
            "source": p.get("service", "alertpipe"),
            "severity": SEVERITY.get(str(p.get("severity")), "error"),
            "component": p.get("service"),
            "group": p.get("scenario"),
            "custom_details": {
                "incident_id": action.incident_id,
                "escalate_to": p.get("contact"),
                "title": p.get("title"),
                "idempotency_key": action.key,
            },
        }
    return body


class PagerReceiver:
    def __init__(self, poster: WebhookPoster, routing_key: str | None = None) -> None:
        self.name = "pager"
        self._poster = poster
        self._routing_key = routing_key

    async def send(self, action: Outbound) -> SendResult:
        return await self._poster.post(pager_body(action, self._routing_key), action.key)
