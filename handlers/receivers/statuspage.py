"""Status page: Atlassian Statuspage's REST API.

An incident is created once and the id Statuspage answers with is kept
(``handlers.receivers.refs``); every later notice ``PATCH``es it. Statuspage has no
idempotency key, so a create whose answer may have been lost is not repeated blindly: the
retry first looks among the page's unresolved incidents for its
``metadata.alertpipe.incident_id`` (docs/design.md record 34). Settings, statuses and the
body: docs/response.md, "Atlassian Statuspage".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound, with_missed
from handlers.receivers.http import WebhookPoster
from handlers.receivers.refs import ReceiverRefs

__all__ = [
    "COMPONENT_STATUSES",
    "INCIDENT_STATUSES",
    "StatusPageReceiver",
    "statuspage_body",
]

RECEIVER = "status_page"
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
COMPONENT_STATUSES = (
    "operational",
    "under_maintenance",
    "degraded_performance",
    "partial_outage",
    "major_outage",
)
NAME_MAX = 255


def statuspage_body(
    action: Outbound, components: Mapping[str, str], *, create: bool
) -> dict[str, Any]:
    p = action.payload
    status = str(p.get("status", "investigating"))
    body = with_missed(str(p.get("body", "")), p)  # this incident's notices that failed
    incident: dict[str, Any] = {"status": status, "body": body}
    if create:
        incident["name"] = str(p.get("title") or f"Degraded service: {p.get('service')}")[:NAME_MAX]
        incident["metadata"] = {"alertpipe": {"incident_id": action.incident_id}}
        incident["deliver_notifications"] = True
    if status != "resolved":
        incident["impact_override"] = p.get("impact", "none")
    component = components.get(str(p.get("service", "")))
    if component is not None:
        incident["component_ids"] = [component]
        state = "operational" if status == "resolved" else p.get("component_status")
        incident["components"] = {component: state or "operational"}
    return {"incident": incident}


class StatusPageReceiver:
    def __init__(
        self, poster: WebhookPoster, refs: ReceiverRefs, components: Mapping[str, str]
    ) -> None:
        self.name = RECEIVER
        self._poster = poster
        self._refs = refs
        self._components = components

    async def send(self, action: Outbound) -> SendResult:
        page_incident = await self._refs.get(action.incident_id, RECEIVER)
        if page_incident is None and action.attempt > 1:
            page_incident = await self._created_before(action)
        if page_incident is not None:
            body = statuspage_body(action, self._components, create=False)
            return await self._poster.call("PATCH", body, action.key, f"/incidents/{page_incident}")
        return await self._create(action)

    async def _create(self, action: Outbound) -> SendResult:
        body = statuspage_body(action, self._components, create=True)
        result = await self._poster.call("POST", body, action.key, "/incidents")
        if not result.ok:
            return result
        created = result.answer.get("id") if isinstance(result.answer, dict) else None
        if not isinstance(created, str) or not created:
            return SendResult(False, False, "status_page: the answer named no incident id")
        await self._refs.put(action.incident_id, RECEIVER, created)
        return result

    async def _created_before(self, action: Outbound) -> str | None:
        """The page's unresolved incident an earlier attempt created, if it got that far."""
        found = await self._poster.call("GET", None, action.key, "/incidents/unresolved")
        if not found.ok or not isinstance(found.answer, list):
            return None
        for incident in found.answer:
            meta = incident.get("metadata") if isinstance(incident, dict) else None
            ours = (meta or {}).get("alertpipe") if isinstance(meta, dict) else None
            if isinstance(ours, dict) and ours.get("incident_id") == action.incident_id:
                page_incident = str(incident.get("id") or "")
                if page_incident:
                    await self._refs.put(action.incident_id, RECEIVER, page_incident)
                    return page_incident
        return None
