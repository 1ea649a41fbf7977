"""Alertmanager's alerts as severity decisions, so existing Prometheus rules get the plan's
response: each firing or resolved alert of a webhook becomes a ``Decision`` on the decisions
topic, where it joins incidents like stage 2's own (and counts toward the S4 cascade).

Why a decision rather than an incident recorded directly: docs/design.md record 30. How the
policy's ``alertmanager`` section maps labels and what a decision carries (``decision_id`` is
fingerprint, startsAt and status, so a repeated notification is recorded once; ``at_ms`` is
startsAt when firing, endsAt when resolved):
docs/policy.md, "Alertmanager's alerts".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import orjson

from schemas.alertmanager import AlertmanagerAlert, AlertmanagerWebhook
from schemas.decisions import Decision, Evidence
from streams.ingest.writer import Record
from streams.policy.sources import AlertmanagerPolicy

__all__ = ["Skipped", "decision_record", "to_decision", "to_decisions"]

METRIC = "alertmanager"


@dataclass(frozen=True)
class Skipped:
    index: int
    field: str
    reason: str


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _at_ms(alert: AlertmanagerAlert, now_ms: int) -> int:
    if alert.status == "resolved" and alert.ends_at is not None and alert.ends_at.year > 1:
        return _ms(alert.ends_at)
    return _ms(alert.starts_at) if alert.status == "firing" else now_ms


def to_decision(alert: AlertmanagerAlert, mapping: AlertmanagerPolicy, now_ms: int) -> Decision:
    """The decision of one alert that has a service (``mapping.service`` is not None)."""
    labels = alert.labels
    service = mapping.service(labels)
    assert service is not None
    severity = mapping.severity(labels)
    starts_ms = _ms(alert.starts_at)
    at_ms = _at_ms(alert, now_ms)
    firing = alert.status == "firing"
    rule = labels.get("alertname") or METRIC
    notes = alert.annotations
    return Decision(
        decision_id=f"{alert.fingerprint}:{starts_ms}:{alert.status}",
        fingerprint=alert.fingerprint,
        rule=rule,
        scope=dict(labels),
        service=service,
        state="firing" if firing else "resolved",
        previous="pending" if firing else "firing",
        severity=severity,
        scenario=mapping.scenario(labels),
        response=mapping.response(labels, severity),
        at_ms=at_ms,
        evidence=Evidence(
            metric=METRIC,
            window_start_ms=min(starts_ms, at_ms),
            window_end_ms=max(starts_ms, now_ms if firing else at_ms),
            observed=_number(notes.get("value")),
            comparison=">",
            threshold=_number(notes.get("threshold")) or 0.0,
            samples=1,
            min_samples=1,
        ),
        version=labels.get("version") or None,
        summary=(notes.get("summary") or notes.get("description") or f"{rule} on {service}")[:1000],
    )


def to_decisions(
    webhook: AlertmanagerWebhook, mapping: AlertmanagerPolicy, now_ms: int
) -> tuple[list[Decision], list[Skipped]]:
    decisions: list[Decision] = []
    skipped: list[Skipped] = []
    for index, alert in enumerate(webhook.alerts):
        if mapping.service(alert.labels) is None:
            names = ", ".join(mapping.service_labels)
            skipped.append(Skipped(index, "labels", f"no service label (one of {names})"))
            continue
        decisions.append(to_decision(alert, mapping, now_ms))
    return decisions, skipped


def decision_record(decision: Decision) -> Record:
    """The decisions topic's record, as stage 2 writes it (key: the service)."""
    return decision.service.encode(), orjson.dumps(decision.model_dump(mode="json"))
