"""Decisions: a state change of one (rule, scope), with evidence, versions and a stable id.

``fingerprint`` is stable per (rule, scope); ``decision_id`` is ``{fingerprint}:{sequence}``
where the sequence counts the alert's state changes, so a decision re-made after a crash
carries the same id as the first attempt and consumers can dedup on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from schemas.decisions import Decision, Evidence, Response
from schemas.panes import Scope
from schemas.severity import Scenario, Severity
from streams.evaluate.rules import decided_by_tolerance
from streams.evaluate.state import AlertRecord, Reason, Status
from streams.policy.durations import format_duration
from streams.policy.metrics import METRICS
from streams.policy.model import scope_fields

__all__ = [
    "Observed",
    "RuleLike",
    "Subject",
    "Versions",
    "fingerprint",
    "make_decision",
    "scope_label",
]


def fingerprint(rule: str, scope_id: str) -> str:
    """Stable per (rule, scope): 16 hex digits of SHA-256."""
    return hashlib.sha256(f"{rule}\x1f{scope_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Subject:
    """What a decision is about: the rule's identity and response, and the scope."""

    rule: str
    severity: Severity
    scenario: Scenario | None
    response: Response
    service: str
    scope: dict[str, str]
    scope_id: str
    window_ms: int
    drill: str | None = None  # a DR drill's scope: its decisions say so

    @classmethod
    def of(cls, rule: RuleLike, scope: Scope) -> Subject:
        return cls(
            rule=rule.name,
            severity=rule.severity,
            scenario=rule.scenario,
            response=rule.response,
            service=scope.service,
            scope=scope_fields(scope),
            scope_id=scope.id,
            window_ms=rule.window_ms,
            drill=scope.drill,
        )


class RuleLike(Protocol):
    """The parts of a rule a decision needs (``Rule`` and ``CascadePolicy`` have them)."""

    @property
    def name(self) -> str: ...
    @property
    def severity(self) -> Severity: ...
    @property
    def scenario(self) -> Scenario | None: ...
    @property
    def response(self) -> Response: ...
    @property
    def window_ms(self) -> int: ...


class Observed(Protocol):
    """What the evaluation found on the latest window (``rules.Observation`` has it)."""

    @property
    def status(self) -> Status: ...
    @property
    def evidence(self) -> Evidence: ...


# Whether the condition held on the latest window; no data can say neither.
_BREACHING: dict[Status, bool | None] = {"breach": True, "clear": False, "no_data": None}


@dataclass(frozen=True)
class Versions:
    current: str | None = None
    last_good: str | None = None
    post_deploy: bool = False


def _format(value: float | None, metric: str) -> str:
    if value is None:
        return "no data"
    unit = METRICS[metric].unit if metric in METRICS else "count"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "ms":
        if abs(value) >= 120_000:  # a backup's age: minutes, hours, days
            return format_duration(round(abs(value) / 1000) * 1000)
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"
    if unit == "percent":
        return f"{value:.1f}%"
    return f"{value:g}"


def scope_label(scope: dict[str, str]) -> str:
    return " ".join(scope[key] for key in scope)


def _strength(evidence: Evidence) -> str:
    """How sure the comparison is, when the rule asks for a confidence."""
    if evidence.confidence is None:
        return ""
    level = f"{evidence.confidence * 100:g}%"
    if evidence.bound is not None:
        bound = _format(evidence.bound, evidence.metric)
        if decided_by_tolerance(
            evidence.observed, evidence.bound, evidence.comparison, evidence.threshold,
            evidence.tolerance,
        ):  # fmt: skip
            share = f"{evidence.tolerance * 100:g}%" if evidence.tolerance is not None else ""
            return f" (bound {bound} at {level}, within {share} of the threshold: precise)"
        return f" (bound {bound} at {level})"
    if evidence.p_value is not None:
        return f" (p {evidence.p_value:.2g}, needs < {1 - evidence.confidence:.2g})"
    return ""


def _summary(subject: Subject, state: str, evidence: Evidence, reason: Reason) -> str:
    observed = _format(evidence.observed, evidence.metric) + _strength(evidence)
    if evidence.short_window_start_ms is not None:
        short = format_duration(evidence.window_end_ms - evidence.short_window_start_ms)
        observed += f" and {_format(evidence.short_observed, evidence.metric)} over {short},"
    threshold = _format(evidence.threshold, evidence.metric)
    info = METRICS.get(evidence.metric)
    window = f" over {format_duration(subject.window_ms)}" if info is None or info.windowed else ""
    return (
        f"{subject.severity} {state}: {evidence.metric} {observed} {evidence.comparison} "
        f"{threshold}{window} on {scope_label(subject.scope)} ({reason})"
    )


def make_decision(
    subject: Subject,
    before: AlertRecord,
    after: AlertRecord,
    reason: Reason,
    observation: Observed,
    versions: Versions,
    at_ms: int,
) -> Decision:
    """The decision for a state change ``before`` → ``after`` at event time ``at_ms`` (or a
    firing alert's turn between breaching and held)."""
    print_ = fingerprint(subject.rule, subject.scope_id)
    evidence = observation.evidence
    return Decision(
        decision_id=f"{print_}:{after.sequence}",
        fingerprint=print_,
        rule=subject.rule,
        scope=subject.scope,
        service=subject.service,
        state=after.state,
        previous=before.state,
        severity=subject.severity,
        scenario=subject.scenario,
        response=subject.response,
        at_ms=at_ms,
        evidence=evidence,
        breaching=_BREACHING[observation.status],
        version=versions.current,
        last_good_version=versions.last_good,
        post_deploy=versions.post_deploy,
        summary=_summary(subject, after.state, evidence, reason),
        drill=subject.drill,
    )
