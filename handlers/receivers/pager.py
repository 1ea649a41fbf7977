"""Pager: PagerDuty Events API v2 (trigger / acknowledge / resolve).

Each paging tier is its own PagerDuty alert (``dedup_key`` the incident id, or
``<incident id>:<tier>``), sent with the routing key its route names for that tier, so an
escalation pages that person instead of folding into the alert already open; acknowledge and
resolve go to every tier that was paged (``handlers.incidents.notices``). Why: docs/design.md
record 33; the event's fields: docs/response.md, "PagerDuty Events API v2".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.outbox.retry import SendResult
from handlers.receivers.base import Outbound
from handlers.receivers.http import WebhookPoster
from handlers.receivers.routing import ConsoleLinks, Destinations
from schemas.clock import Clock
from schemas.paging import PAGE_TIERS, PageTier
from schemas.severity import Severity
from schemas.timestamps import to_rfc3339

__all__ = ["CLIENT", "SEVERITY", "PagerReceiver", "dedup_key", "pager_body"]

SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info"}
CLIENT = "alertpipe"
SUMMARY_MAX = 1024  # PagerDuty's limit on payload.summary
DEDUP_MAX = 255  # … and on dedup_key


def _tier(payload: Mapping[str, Any]) -> PageTier:
    named = payload.get("tier")
    return next((tier for tier in PAGE_TIERS if tier == named), "on_call")


def dedup_key(incident_id: str, tier: PageTier) -> str:
    key = incident_id if tier == "on_call" else f"{incident_id}:{tier}"
    return key[:DEDUP_MAX]


def _known(**fields: Any) -> dict[str, Any]:
    """The fields that have a value: PagerDuty takes an absent field, not a null one."""
    return {name: value for name, value in fields.items() if value not in (None, "", {})}


def _details(action: Outbound, tier: PageTier) -> dict[str, Any]:
    p = action.payload
    evidence: Mapping[str, Any] = p.get("evidence") or {}
    window = _known(
        start=_moment(evidence.get("window_start_ms")), end=_moment(evidence.get("window_end_ms"))
    )
    return _known(
        incident_id=action.incident_id,
        title=p.get("title"),
        tier=tier,
        escalate_to=p.get("contact"),
        rule=p.get("rule"),
        metric=evidence.get("metric"),
        observed=evidence.get("observed"),
        comparison=evidence.get("comparison"),
        threshold=evidence.get("threshold"),
        window=window,
        samples=evidence.get("samples"),
        min_samples=evidence.get("min_samples"),
        scope=p.get("scope"),
        version=p.get("version"),
        last_good_version=p.get("last_good_version"),
        idempotency_key=action.key,
    )


def _moment(ms: Any) -> str | None:
    return to_rfc3339(ms / 1000.0) if isinstance(ms, int | float) else None


def _component(scope: Mapping[str, Any] | None, service: str) -> str | None:
    """What in the service is failing: the worst alert's endpoint, queue, host …"""
    for name, value in (scope or {}).items():
        if name not in ("service", "key") and isinstance(value, str) and value != service:
            return value
    return None


def pager_body(
    action: Outbound,
    routing_key: str,
    *,
    links: ConsoleLinks | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    p = action.payload
    tier = _tier(p)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": p.get("event", "trigger"),
        "dedup_key": dedup_key(action.incident_id, tier),
    }
    if body["event_action"] != "trigger":
        return body
    service = str(p.get("service") or CLIENT)
    at = p.get("at") if isinstance(p.get("at"), int | float) else now
    links = links or ConsoleLinks()
    incident_url, review_url = links.incident(action.incident_id), links.review(action.incident_id)
    body["payload"] = _known(
        summary=str(p.get("summary") or p.get("title") or action.incident_id)[:SUMMARY_MAX],
        timestamp=to_rfc3339(at) if at is not None else None,
        source=service,
        severity=SEVERITY.get(str(p.get("severity")), "error"),
        component=_component(p.get("scope"), service),
        group=p.get("scenario"),
        **{"class": p.get("rule")},
        custom_details=_details(action, tier),
    )
    body["client"] = CLIENT
    if incident_url and review_url:
        body["client_url"] = incident_url
        body["links"] = [
            {"href": incident_url, "text": "the incident in alertpipe"},
            {"href": review_url, "text": "its post-incident review"},
        ]
    return body


class PagerReceiver:
    def __init__(
        self,
        poster: WebhookPoster,
        destinations: Destinations,
        links: ConsoleLinks | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = "pager"
        self._poster = poster
        self._destinations = destinations
        self._links = links or ConsoleLinks()
        self._clock = clock

    async def send(self, action: Outbound) -> SendResult:
        p = action.payload
        severity = _severity(p.get("severity"))
        _, key = self._destinations.routing_key(str(p.get("service")), severity, _tier(p))
        now = self._clock.now() if self._clock is not None else None
        body = pager_body(action, key, links=self._links, now=now)
        return await self._poster.post(body, action.key)


def _severity(value: Any) -> Severity:
    try:
        return Severity(str(value))
    except ValueError:
        return Severity.HIGH
