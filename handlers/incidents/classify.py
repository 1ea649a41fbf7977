"""Grouping, scenario classification and the plan's response choice — pure, each with a reason.

should_join(incident, decision_at, cfg)      -> (bool, GroupReason)
reason_text(reason, cfg)                     -> str (with the configured durations)
classify(decision, cascade, cfg)             -> (Scenario | None, ScenarioReason)
response_for(severity, scenario, hint)       -> (ResponseKind, ResponseReason)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from handlers.config import ResponseConfig
from handlers.incidents.incident import Incident
from handlers.incidents.notices import duration_text
from schemas.decisions import Decision, Response
from schemas.severity import Scenario, Severity

__all__ = [
    "Cascade",
    "GroupReason",
    "ResponseKind",
    "ResponseReason",
    "ScenarioReason",
    "classify",
    "reason_text",
    "response_for",
    "should_join",
]

ResponseKind = Literal[
    "record", "notify", "investigate", "page", "rollback", "restore_data", "emergency_stop"
]

_LATENCY_OR_THROUGHPUT = ("latency", "p95", "p99", "throughput", "rate_vs_expected", "rps")
_DATA = ("integrity", "data", "messages_missing")


class GroupReason(StrEnum):
    NO_OPEN_INCIDENT = "no open incident for the service"
    SAME_ALERT = "the alert already belongs to the open incident"
    CLOSE_IN_TIME = "same service, close in time"
    TOO_LATE = "same service, but later than the grouping window"


class ScenarioReason(StrEnum):
    FROM_DECISION = "scenario given by the evaluation stage"
    CASCADE = "cascade: many critical alerts across services in a short window"
    DATA = "data integrity signal"
    PERFORMANCE = "latency or throughput signal"
    FEATURE_BROKEN = "critical error signal on the service"
    NONE = "not one of the plan's scenarios"


class ResponseReason(StrEnum):
    S4 = "S4 cascading failures: emergency stop, roll back at once"
    S2 = "S2 data corruption: stop bots, isolate, restore last good backup"
    PAGE = "page on-call, no rollback: the code is not at fault (e.g. a backup is overdue)"
    CRITICAL = "CRITICAL: no investigation, roll back now"
    HIGH = "HIGH: page, investigate {investigation}, roll back if it still breaches then"
    MEDIUM = "MEDIUM: notify, wait for a human decision"
    LOW = "LOW: record"


@dataclass(frozen=True)
class Cascade:
    """Firing CRITICAL alerts across every service in the cascade window (this one included)."""

    critical_alerts: int = 0
    services: int = 0


def should_join(
    incident: Incident | None, decision: Decision, cfg: ResponseConfig
) -> tuple[bool, GroupReason]:
    if incident is None or not incident.is_open:
        return False, GroupReason.NO_OPEN_INCIDENT
    if decision.fingerprint in incident.alerts:
        return True, GroupReason.SAME_ALERT
    if decision.at_ms / 1000.0 - incident.last_decision_at <= cfg.group_window_s:
        return True, GroupReason.CLOSE_IN_TIME
    return False, GroupReason.TOO_LATE


def _mentions(decision: Decision, words: tuple[str, ...]) -> bool:
    text = f"{decision.rule} {decision.evidence.metric}".lower()
    return any(word in text for word in words)


def classify(
    decision: Decision, cascade: Cascade, cfg: ResponseConfig
) -> tuple[Scenario | None, ScenarioReason]:
    """The plan's scenario for a firing decision."""
    critical = decision.severity is Severity.CRITICAL
    if critical and (
        cascade.critical_alerts >= cfg.cascade_min_alerts
        or cascade.services >= cfg.cascade_min_services
    ):
        return "S4", ScenarioReason.CASCADE
    if decision.scenario is not None:
        return decision.scenario, ScenarioReason.FROM_DECISION
    if decision.response == "restore_data" or (critical and _mentions(decision, _DATA)):
        return "S2", ScenarioReason.DATA
    if decision.response == "emergency_stop":
        return "S4", ScenarioReason.FROM_DECISION
    if decision.severity >= Severity.HIGH and _mentions(decision, _LATENCY_OR_THROUGHPUT):
        return "S3", ScenarioReason.PERFORMANCE
    if critical:
        return "S1", ScenarioReason.FEATURE_BROKEN
    return None, ScenarioReason.NONE


def reason_text(reason: ResponseReason, cfg: ResponseConfig) -> str:
    """The reason as people read it, with the configured durations."""
    return reason.value.format(investigation=duration_text(cfg.investigation_s))


def response_for(
    severity: Severity, scenario: Scenario | None, hint: Response | None = None
) -> tuple[ResponseKind, ResponseReason]:
    """The plan's response for an incident's severity and scenario."""
    if scenario == "S4" or hint == "emergency_stop":
        return "emergency_stop", ResponseReason.S4
    if scenario == "S2" or hint == "restore_data":
        return "restore_data", ResponseReason.S2
    if hint == "page":
        return "page", ResponseReason.PAGE
    if severity is Severity.CRITICAL:
        return "rollback", ResponseReason.CRITICAL
    if severity is Severity.HIGH:
        return "investigate", ResponseReason.HIGH
    if severity is Severity.MEDIUM:
        return "notify", ResponseReason.MEDIUM
    return "record", ResponseReason.LOW
