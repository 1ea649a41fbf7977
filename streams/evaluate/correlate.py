"""Plan S4 across services: the cascade correlator's pure logic over the decisions stream.

It keeps the CRITICAL alerts currently firing (from any service) and breaches when
``min_critical`` of them were triggered within the window; once firing, it holds while that
many are still firing, and resolves through the same state machine as every rule. Its own
decisions (rule = the cascade's name) are ignored on the way back in.

A DR drill's decisions have a cascade of their own (``Cascade.drill``): a drill's CRITICAL
alerts never count toward the real one, nor the real ones toward a drill's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from schemas.decisions import Decision, Evidence
from schemas.severity import Severity
from streams.evaluate.decide import Subject, Versions, make_decision
from streams.evaluate.rules import Observation
from streams.evaluate.state import AlertRecord, Status, step
from streams.policy.model import CascadePolicy

__all__ = ["Cascade", "Member", "correlate", "decode_cascade", "encode_cascade"]

ALL_SERVICES = "*"


@dataclass(frozen=True)
class Member:
    """One CRITICAL alert that is firing."""

    fingerprint: str
    service: str
    rule: str
    fired_at_ms: int


@dataclass(frozen=True)
class Cascade:
    members: dict[str, Member] = field(default_factory=dict)
    record: AlertRecord = field(default_factory=AlertRecord)
    now_ms: int = 0
    drill: str | None = None


def _members_after(members: dict[str, Member], decision: Decision) -> dict[str, Member]:
    fired = decision.state == "firing" and decision.severity == Severity.CRITICAL
    if fired and decision.fingerprint in members:
        return members  # a turn between breaching and held: it fired when it first did
    if fired:
        member = Member(decision.fingerprint, decision.service, decision.rule, decision.at_ms)
        return {**members, decision.fingerprint: member}
    if decision.state in ("resolved", "inactive") and decision.fingerprint in members:
        return {k: v for k, v in members.items() if k != decision.fingerprint}
    return members


def _count(cascade: Cascade, policy: CascadePolicy) -> int:
    if cascade.record.state == "firing":
        return len(cascade.members)
    since = cascade.now_ms - policy.window_ms
    return sum(1 for m in cascade.members.values() if m.fired_at_ms > since)


def _subject(policy: CascadePolicy, drill: str | None) -> Subject:
    scope_id = ALL_SERVICES if drill is None else f"{ALL_SERVICES}|drill:{drill}"
    return Subject(
        rule=policy.name,
        severity=policy.severity,
        scenario=policy.scenario,
        response=policy.response,
        service=ALL_SERVICES,
        scope={"service": ALL_SERVICES},
        scope_id=scope_id,
        window_ms=policy.window_ms,
        drill=drill,
    )


def _evidence(count: int, cascade: Cascade, policy: CascadePolicy) -> Evidence:
    return Evidence(
        metric="critical_alerts",
        window_start_ms=cascade.now_ms - policy.window_ms,
        window_end_ms=cascade.now_ms,
        observed=float(count),
        comparison=">=",
        threshold=float(policy.min_critical),
        samples=count,
        min_samples=0,
    )


def correlate(
    cascade: Cascade, decision: Decision, policy: CascadePolicy
) -> tuple[Cascade, Decision | None]:
    """The correlator after one decision, and the S4 decision when its state changed."""
    if decision.rule == policy.name or decision.drill != cascade.drill:
        return cascade, None
    members = _members_after(cascade.members, decision)
    now = max(cascade.now_ms, decision.at_ms)
    current = Cascade(members, cascade.record, now, cascade.drill)
    count = _count(current, policy)
    status: Status = "breach" if count >= policy.min_critical else "clear"
    record, reason = step(cascade.record, status, policy, now)
    after = Cascade(members, record, now, cascade.drill)
    if record.sequence == cascade.record.sequence:
        return after, None
    services = sorted({m.service for m in members.values()})
    made = make_decision(
        _subject(policy, cascade.drill),
        cascade.record,
        record,
        reason,
        Observation(status, _evidence(count, after, policy)),
        Versions(),
        now,
    )
    summary = f"{made.summary}; services: {', '.join(services) or 'none'}"
    return after, made.model_copy(update={"summary": summary, "dry_run": policy.dry_run})


def encode_cascade(name: str, cascade: Cascade) -> dict[str, Any]:
    return {
        "kind": "cascade",
        "name": name,
        "members": [asdict(m) for m in cascade.members.values()],
        "record": asdict(cascade.record),
        "now_ms": cascade.now_ms,
        "drill": cascade.drill,
    }


def decode_cascade(value: dict[str, Any]) -> Cascade:
    members = [Member(**raw) for raw in value.get("members", [])]
    return Cascade(
        members={m.fingerprint: m for m in members},
        record=AlertRecord(**value["record"]),
        now_ms=int(value.get("now_ms", 0)),
        drill=value.get("drill"),
    )
