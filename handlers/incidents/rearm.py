"""Resolved by hand while alerts still fire: the incident resolves and its alerts are re-armed.

The resolution stands (a person may know what alertpipe cannot), but on its own it would
blind the pipeline: stage 2 publishes no new ``firing`` for an alert that never stopped
firing, so a fresh breach would meet no incident. So ``rearm`` says so and starts the grace
timer, ``turn`` tells whether a firing alert's turn back to breaching is such a breach, and
``redelivery`` re-delivers an alert still breaching when the grace ends. A new incident, not
the resolved one reopened: its rollback and escalation clock are spent or stopped. See
docs/response.md, "Resolving by hand", and docs/design.md record 28.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from handlers.config import ResponseConfig
from handlers.incidents.effects import Effects, TimelineEntry, TimerIntent
from handlers.incidents.incident import AlertEntry, Incident
from schemas.decisions import Decision

__all__ = [
    "REARMED",
    "RearmReason",
    "TurnOutcome",
    "is_turn",
    "rearm",
    "rearmed_alerts",
    "redelivery",
    "redelivery_id",
    "turn",
]

REARMED = "rearmed"  # the step a resolution that re-armed alerts records


class RearmReason(StrEnum):
    BREACH = "a re-armed alert breaches again after its incident was resolved by hand"
    STILL_BREACHING = "a re-armed alert still breaches at the end of the grace period"
    NOT_BREACHING = "no longer breaching at the end of the grace period: nothing to do"
    ELSEWHERE = "a newer incident already holds it"


# A turn is its open incident's to record ("update"), a re-armed alert's breach ("breach"),
# or nothing ("ignore").
TurnOutcome = Literal["update", "breach", "ignore"]


def rearmed_alerts(incident: Incident) -> list[AlertEntry]:
    """The alerts that still fire (or went silent while firing) as the incident resolves."""
    found = [a for a in incident.alerts.values() if a.state in ("firing", "no_data")]
    return sorted(found, key=lambda a: (-a.severity.rank, a.rule, a.fingerprint))


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def rearm(incident: Incident, now: float, cfg: ResponseConfig) -> Effects:
    """What resolving ``incident`` (already resolved) adds when some of its alerts still fire."""
    alerts = rearmed_alerts(incident)
    if not alerts:
        return Effects(incident)
    names = ", ".join(dict.fromkeys(a.rule for a in alerts))
    grace = _duration(cfg.rearm_grace_s)
    note = TimelineEntry(
        "status",
        f"re-armed: {names} still firing",
        reason=f"its next breach opens a new incident at once; still breaching {grace} after "
        "this resolution, it opens one then",
        evidence={"rearmed": [_described(a) for a in alerts], "grace_s": cfg.rearm_grace_s},
    )
    return Effects(
        incident.with_steps(REARMED),
        timeline=(note,),
        timers=(TimerIntent("rearm", now + cfg.rearm_grace_s),),
    )


def _described(alert: AlertEntry) -> dict[str, object]:
    return {
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "state": alert.state,
        "scope": dict(alert.scope),
    }


def is_turn(decision: Decision) -> bool:
    """A firing alert's turn between breaching and held (no change of state)."""
    return decision.previous == decision.state == "firing"


def turn(current: Incident | None, decision: Decision) -> TurnOutcome:
    """What a turn means: the open incident that holds the alert records it; with none, a
    turn back to breaching is a re-armed alert's next breach; a turn to held is nothing."""
    if current is not None and decision.fingerprint in current.alerts:
        return "update"
    return "breach" if decision.breaching else "ignore"


def redelivery_id(resolved: Incident, fingerprint: str) -> str:
    """Stable, so a timer fired twice (a crash before it was marked) re-delivers once."""
    return f"{fingerprint}:rearm:{resolved.id}"


def redelivery(
    resolved: Incident,
    latest: Decision | None,
    holder: str | None,
    now: float,
    cfg: ResponseConfig,
) -> tuple[Decision | None, RearmReason]:
    """At the end of the grace period: the re-armed alert's latest decision (``holder``: the
    incident it was applied to, if any) delivered again as a breach, when it still breaches
    and no newer incident holds it."""
    if holder is not None and holder != resolved.id:
        return None, RearmReason.ELSEWHERE
    if latest is None or latest.state != "firing" or latest.breaching is False:
        return None, RearmReason.NOT_BREACHING
    grace = _duration(cfg.rearm_grace_s)
    again = latest.model_copy(
        update={
            "decision_id": redelivery_id(resolved, latest.fingerprint),
            "previous": "firing",
            "breaching": True,
            "at_ms": int(now * 1000),
            "summary": f"{latest.summary} — still firing {grace} after {resolved.id} was "
            "resolved by hand",
        }
    )
    return again, RearmReason.STILL_BREACHING
