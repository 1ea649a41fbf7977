"""Health and metrics of every role running in this process.

``GET /health`` answers 200 when every role is ready and 503 otherwise, with each role's own
report — a readiness probe for load balancers and orchestrators. While Kafka or PostgreSQL
does not answer, ``waiting_for`` names it (the watches ``kafka`` and ``postgres`` and every
role that needs it say so too: ``streams.supervise``). ``GET /metrics`` renders the
same reports in the Prometheus text format (counters and gauges; a dict of numbers becomes
one series per key, labelled ``key`` unless ``LABEL_NAMES`` names the label, e.g.
``alertpipe_aggregator_dead_letters{reason="late"}``,
``alertpipe_outbox_dispatcher_failures{receiver="page"}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse

__all__ = ["LABEL_NAMES", "HealthReport", "render_metrics", "router"]

HealthReport = Callable[[], dict[str, dict[str, Any]]]

# The label of a dict-valued report field, by field name, where "key" would say nothing.
LABEL_NAMES: dict[str, str] = {"dead_letters": "reason", "failures": "receiver"}

router = APIRouter(tags=["health"])


def _report(request: Request) -> dict[str, dict[str, Any]]:
    report: HealthReport = request.app.state.health
    return report()


@router.get("/health")
async def health(request: Request, response: Response) -> dict[str, Any]:
    roles = _report(request)
    ok = all(report.get("ready", True) for report in roles.values())
    response.status_code = 200 if ok else 503
    waiting = sorted({name for report in roles.values() for name in report.get("waiting_for", ())})
    return {"status": "ok" if ok else "degraded", "waiting_for": waiting, "roles": roles}


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> str:
    return render_metrics(_report(request))


def _name(*parts: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", "_".join(("alertpipe", *parts))).lower()


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return None


def _escape(label: str) -> str:
    return label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _series(role: str, report: dict[str, Any]) -> Iterator[str]:
    for key, value in sorted(report.items()):
        name = _name(role, key)
        if isinstance(value, dict):
            label_name = LABEL_NAMES.get(key, "key")
            for label, item in sorted(value.items()):
                number = _number(item)
                if number is not None:
                    yield f'{name}{{{label_name}="{_escape(str(label))}"}} {number:g}'
            continue
        number = _number(value)
        if number is not None:
            yield f"{name} {number:g}"


def render_metrics(roles: dict[str, dict[str, Any]]) -> str:
    """Every numeric field of every role's health report, one Prometheus sample per line."""
    lines: list[str] = []
    for role, report in sorted(roles.items()):
        lines.extend(_series(role, report))
    return "\n".join(lines) + "\n"
