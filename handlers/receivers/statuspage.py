"""Status page: a Statuspage-style incident with its component status.

``status`` is investigating / identified / monitoring / resolved, ``impact_override`` none /
minor / major / critical, and ``components`` maps the service to operational /
degraded_performance / partial_outage / major_outage. Our incident id travels in
``metadata.alertpipe`` so the receiving side can map it to its own incident.
"""

from __future__ import annotations

from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, with_missed
from handlers.receivers.http import WebhookPoster

__all__ = ["StatusPageReceiver", "statuspage_body"]


def statuspage_body(action: Outbound) -> dict[str, Any]:
    p = action.payload
    service = str(p.get("service", ""))
    return {
        "incident": {
            "name": p.get("title", ""),
            "status": p.get("status", "investigating"),
            "impact_override": p.get("impact", "none"),
            "body": with_missed(str(p.get("body", "")), p),
            "components": {service: p.get("component_status", "operational")},
            "metadata": {"alertpipe": {"incident_id": action.incident_id, "key": action.key}},
        }
    }


class StatusPageReceiver:
    def __init__(self, poster: WebhookPoster) -> None:
        self.name = "status_page"
        self._poster = poster

    async def send(self, action: Outbound) -> SendResult:
        return await self._poster.post(statuspage_body(action), action.key)
