"""Builders for Decision and PaneSummary messages, as stage 2 and stage 1 would send them."""

from __future__ import annotations

import time
from typing import Any

from schemas.decisions import Decision, Evidence
from schemas.panes import LatencySketch, PaneSummary, RequestStats, Scope
from schemas.severity import Severity

__all__ = ["decision", "healthy_pane"]

_RESPONSE = {
    Severity.CRITICAL: "rollback",
    Severity.HIGH: "investigate",
    Severity.MEDIUM: "notify",
    Severity.LOW: "record",
}


def decision(
    service: str = "chat-api",
    severity: Severity = Severity.CRITICAL,
    state: str = "firing",
    *,
    rule: str = "error_rate_critical",
    metric: str = "error_rate",
    seq: int = 1,
    at: float | None = None,
    fingerprint: str | None = None,
    **extra: Any,
) -> Decision:
    fp = fingerprint or f"{rule}|{service}"
    at_ms = int((time.time() if at is None else at) * 1000)
    fields: dict[str, Any] = {
        "decision_id": f"{fp}:{seq}",
        "fingerprint": fp,
        "rule": rule,
        "scope": {"endpoint": "POST /api/search"},
        "service": service,
        "state": state,
        "previous": "pending" if state == "firing" else "firing",
        "severity": severity,
        "response": _RESPONSE[severity],
        "at_ms": at_ms,
        "evidence": Evidence(
            metric=metric,
            window_start_ms=at_ms - 60_000,
            window_end_ms=at_ms,
            observed=0.25,
            comparison=">",
            threshold=0.10,
            samples=400,
            min_samples=20,
        ),
        "version": "2.4.0",
        "last_good_version": "2.3.9",
        "summary": f"{severity.value}: {rule} on {service}",
    }
    fields.update(extra)
    return Decision(**fields)


def healthy_pane(service: str, start_ms: int, requests: int = 50, errors: int = 0) -> PaneSummary:
    scope = Scope(service=service, dimension="service", key=service)
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        requests=RequestStats(
            count=requests,
            errors=errors,
            latency=LatencySketch(alpha=0.01, offset=300, counts=[requests]),
            min_ms=20.0,
            max_ms=80.0,
        ),
    )
