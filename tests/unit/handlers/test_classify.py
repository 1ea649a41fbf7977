"""Grouping, scenario classification and response choice: table-tested, with reasons."""

from __future__ import annotations

import pytest

from handlers.config import ResponseConfig
from handlers.incidents.classify import (
    Cascade,
    GroupReason,
    ResponseReason,
    ScenarioReason,
    classify,
    response_for,
    should_join,
)
from handlers.incidents.incident import AlertEntry, Incident
from schemas.severity import Severity
from tests.support.decisions import decision

CFG = ResponseConfig(group_window_s=300)
T0 = 1_800_000_000.0


def _incident(status: str = "open", last: float = T0) -> Incident:
    entry = AlertEntry("known", "r", "firing", Severity.HIGH, last)
    return Incident(
        "inc_1", "chat-api", Severity.HIGH, status, "t", last, last, alerts={"known": entry}
    )


@pytest.mark.parametrize(
    ("incident", "at", "fingerprint", "join", "reason"),
    [
        (None, T0, "x", False, GroupReason.NO_OPEN_INCIDENT),
        (_incident("resolved"), T0, "x", False, GroupReason.NO_OPEN_INCIDENT),
        (_incident(), T0 + 10_000, "known", True, GroupReason.SAME_ALERT),
        (_incident(), T0 + 299, "x", True, GroupReason.CLOSE_IN_TIME),
        (_incident("mitigated"), T0 + 10, "x", True, GroupReason.CLOSE_IN_TIME),
        (_incident(), T0 + 301, "x", False, GroupReason.TOO_LATE),
    ],
)
def test_should_join(
    incident: Incident | None, at: float, fingerprint: str, join: bool, reason: GroupReason
) -> None:
    d = decision(at=at, fingerprint=fingerprint)
    assert should_join(incident, d, CFG) == (join, reason)


@pytest.mark.parametrize(
    ("kwargs", "cascade", "expected"),
    [
        ({}, Cascade(1, 1), ("S1", ScenarioReason.FEATURE_BROKEN)),
        ({}, Cascade(5, 1), ("S4", ScenarioReason.CASCADE)),
        ({}, Cascade(2, 3), ("S4", ScenarioReason.CASCADE)),
        ({"scenario": "S2"}, Cascade(), ("S2", ScenarioReason.FROM_DECISION)),
        (
            {"rule": "integrity_failed", "metric": "integrity"},
            Cascade(),
            ("S2", ScenarioReason.DATA),
        ),
        (
            {"severity": Severity.HIGH, "rule": "p95_latency", "metric": "p95_ms"},
            Cascade(),
            ("S3", ScenarioReason.PERFORMANCE),
        ),
        (
            {"severity": Severity.HIGH, "metric": "throughput"},
            Cascade(9, 9),
            ("S3", ScenarioReason.PERFORMANCE),
        ),
        ({"severity": Severity.MEDIUM, "metric": "cpu"}, Cascade(), (None, ScenarioReason.NONE)),
    ],
)
def test_classify(kwargs: dict, cascade: Cascade, expected: tuple) -> None:
    severity = kwargs.pop("severity", Severity.CRITICAL)
    assert classify(decision(severity=severity, **kwargs), cascade, CFG) == expected


@pytest.mark.parametrize(
    ("severity", "scenario", "hint", "kind", "reason"),
    [
        (Severity.CRITICAL, "S1", None, "rollback", ResponseReason.CRITICAL),
        (Severity.CRITICAL, "S3", None, "rollback", ResponseReason.CRITICAL),
        (Severity.HIGH, "S3", None, "investigate", ResponseReason.HIGH),
        (Severity.MEDIUM, None, None, "notify", ResponseReason.MEDIUM),
        (Severity.LOW, None, None, "record", ResponseReason.LOW),
        (Severity.CRITICAL, "S2", None, "restore_data", ResponseReason.S2),
        (Severity.CRITICAL, "S4", None, "emergency_stop", ResponseReason.S4),
        (Severity.HIGH, None, "emergency_stop", "emergency_stop", ResponseReason.S4),
    ],
)
def test_response_for(
    severity: Severity, scenario: str | None, hint: str | None, kind: str, reason: ResponseReason
) -> None:
    assert response_for(severity, scenario, hint) == (kind, reason)
