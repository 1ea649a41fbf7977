"""Alertmanager's alerts as decisions: severity, service and response from labels through the
policy's mapping, the fingerprint kept, one decision per state change (a repeat is the same)."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.alertmanager import AlertmanagerWebhook
from schemas.decisions import Decision
from schemas.severity import Severity
from streams.ingest.alertmanager import decision_record, to_decisions
from streams.policy import parse_policy
from streams.policy.sources import AlertmanagerPolicy

NOW_MS = 1_795_626_100_000


def _alert(status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", **labels},
        "annotations": {"summary": "5xx above 10%", "value": "0.23", "threshold": "0.1"},
        "startsAt": "2026-11-25T17:00:00Z",
        "endsAt": "2026-11-25T17:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "9d0e0d8e0d2f0ac3",
    }


def _webhook(*alerts: dict[str, Any]) -> AlertmanagerWebhook:
    return AlertmanagerWebhook.model_validate(
        {"version": "4", "status": "firing", "receiver": "alertpipe", "alerts": list(alerts)}
    )


def test_a_firing_alert_is_a_decision_with_its_fingerprint_and_evidence() -> None:
    (decision,), skipped = to_decisions(
        _webhook(_alert(severity="critical", service="chat-api", version="2.4.0")),
        AlertmanagerPolicy(),
        NOW_MS,
    )
    assert skipped == []
    assert decision.fingerprint == "9d0e0d8e0d2f0ac3"
    assert decision.decision_id == "9d0e0d8e0d2f0ac3:1795626000000:firing"
    assert (decision.service, decision.rule, decision.state) == (
        "chat-api",
        "HighErrorRate",
        "firing",
    )
    assert (decision.severity, decision.response) == (Severity.CRITICAL, "rollback")
    assert decision.at_ms == 1_795_626_000_000 and decision.version == "2.4.0"
    assert decision.scope["severity"] == "critical" and decision.summary == "5xx above 10%"
    e = decision.evidence
    assert (e.metric, e.observed, e.threshold, e.window_start_ms, e.window_end_ms) == (
        "alertmanager",
        0.23,
        0.1,
        1_795_626_000_000,
        NOW_MS,
    )
    key, value = decision_record(decision)
    assert key == b"chat-api" and Decision.model_validate_json(value) == decision


def test_resolved_is_at_its_end_and_a_repeat_is_the_same_decision() -> None:
    mapping = AlertmanagerPolicy()
    (resolved,), _ = to_decisions(_webhook(_alert("resolved", job="chat-api")), mapping, NOW_MS)
    assert (resolved.state, resolved.previous, resolved.at_ms) == (
        "resolved",
        "firing",
        1_795_626_300_000,
    )
    assert resolved.service == "chat-api"  # job, when there is no service label
    (first,), _ = to_decisions(_webhook(_alert(service="a")), mapping, NOW_MS)
    (again,), _ = to_decisions(_webhook(_alert(service="a")), mapping, NOW_MS + 60_000)
    assert first.decision_id == again.decision_id


def test_the_mapping_in_the_policy_maps_severity_and_response_with_overrides() -> None:
    policy = parse_policy(
        """
rules:
  - {name: r, metric: error_rate, comparison: ">", threshold: 1%, min_samples: 1, for: 0s,
     keep_firing_for: 0s, window: 1m, severity: LOW, response: record}
alertmanager:
  service_labels: [app]
  severities: {P1: critical, P3: low}
  default_severity: high
  alerts:
    - match: {alertname: "Checkout*"}
      severity: CRITICAL
      scenario: S1
      response: rollback
"""
    )
    mapping = policy.alertmanager
    (p1, p3, unknown, checkout), skipped = to_decisions(
        _webhook(
            _alert(app="a", severity="p1"),
            _alert(app="a", severity="P3"),
            _alert(app="a"),
            {**_alert(app="a", severity="P3"), "labels": {"alertname": "CheckoutSlow", "app": "a"}},
            _alert(service="b"),  # service is not a service label here
        ),
        mapping,
        NOW_MS,
    )
    assert [(d.severity, d.response) for d in (p1, p3, unknown)] == [
        (Severity.CRITICAL, "rollback"),
        (Severity.LOW, "record"),
        (Severity.HIGH, "investigate"),
    ]
    assert (checkout.severity, checkout.scenario, checkout.response) == (
        Severity.CRITICAL,
        "S1",
        "rollback",
    )
    assert [(s.index, s.field, s.reason) for s in skipped] == [
        (4, "labels", "no service label (one of app)")
    ]


def test_the_webhook_model_refuses_another_version() -> None:
    raw = orjson.dumps({"version": "3", "status": "firing", "alerts": []})
    try:
        AlertmanagerWebhook.model_validate_json(raw)
    except ValueError as error:
        assert "version" in str(error)
    else:
        raise AssertionError("version 3 was taken")
