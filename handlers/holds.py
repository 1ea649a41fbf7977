"""Automation holds: what stops the automated control actions of an incident right now — pure.

A maintenance window with ``hold_automation``, a global hold, or a silence with
``hold_automation`` holds the control lane (``handlers.actions.ACTIONS``); notifications are
never held. A held call stays in the outbox under its idempotency key and goes out once nothing
holds it, exactly once like any call, and a rollback starts no phase while held: holds are
enforced where effects leave, not when the incident is recorded (docs/design.md record 29).
A release (``release``) frees an incident from the holds on it *now*; a hold set later holds
it again. What each hold is and how it is set: docs/response.md, "Maintenance windows and
automation holds".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from handlers.incidents.effects import Effects, TimelineEntry
from handlers.incidents.incident import HoldRelease, Incident
from handlers.silences import Silence
from schemas.maintenance import MaintenanceWindow

__all__ = [
    "Automation",
    "GlobalHold",
    "HoldCause",
    "HoldSource",
    "Window",
    "WindowSource",
    "holding",
    "muting_window",
    "release",
]

WindowSource = Literal["policy", "api"]


@dataclass(frozen=True)
class Window:
    """A maintenance window as the responder knows it: from the policy or the API."""

    id: str
    spec: MaintenanceWindow
    source: WindowSource
    created_by: str = "policy"
    created_at: float | None = None

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class GlobalHold:
    """Every automated control action stops while this stands."""

    id: str
    reason: str
    created_by: str
    created_at: float
    lifted_at: float | None = None
    lifted_by: str | None = None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass(frozen=True)
class Automation:
    """What might hold automation, as loaded now (``HoldSource.automation``)."""

    windows: Sequence[Window] = ()
    holds: Sequence[GlobalHold] = ()  # the standing ones
    silences: Sequence[Silence] = ()  # active ones with hold_automation


class HoldSource(Protocol):
    async def automation(self, now: float) -> Automation: ...


HoldKind = Literal["window", "hold", "silence"]


@dataclass(frozen=True)
class HoldCause:
    """One thing that holds an incident's automation, named for people and by a stable key."""

    kind: HoldKind
    id: str
    name: str
    reason: str
    by: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def describe(self) -> str:
        what = {"window": "maintenance window", "hold": "global hold", "silence": "silence"}
        return f"{what[self.kind]} {self.name}"


def _window_cause(w: Window) -> HoldCause:
    return HoldCause("window", w.id, w.name, w.spec.comment or "maintenance", w.created_by)


def holding(
    automation: Automation,
    service: str,
    labels: Mapping[str, str],
    released: frozenset[str],
    now: float,
) -> list[HoldCause]:
    """Every hold on the automation of an incident of ``service`` (its notification
    ``labels``) at ``now``, except those an operator released it from."""
    found = [
        HoldCause("hold", h.id, h.id, h.reason, h.created_by) for h in automation.holds if h.active
    ]
    found += [
        _window_cause(w)
        for w in automation.windows
        if w.spec.hold_automation and w.spec.covers(service) and w.spec.active(now)
    ]
    found += [
        HoldCause("silence", s.id, s.id, s.comment or "silence", s.created_by)
        for s in automation.silences
        if s.hold_automation and s.mutes(labels, now)
    ]
    return [cause for cause in found if cause.key not in released]


def muting_window(automation: Automation, service: str, now: float) -> Window | None:
    """A window on now that covers ``service`` and mutes notifications, if any."""
    return next(
        (
            w
            for w in automation.windows
            if w.spec.notifications == "mute" and w.spec.covers(service) and w.spec.active(now)
        ),
        None,
    )


def release(
    incident: Incident, causes: Sequence[HoldCause], by: str, note: str | None, now: float
) -> Effects:
    """The operator's release: the incident's automation runs despite ``causes``."""
    added = tuple(HoldRelease(c.key, by, now, note or "") for c in causes)
    after = replace(incident, hold_releases=(*incident.hold_releases, *added))
    names = ", ".join(c.describe() for c in causes)
    entry = TimelineEntry(
        "human",
        f"automation released from {names} by {by}",
        actor=by,
        reason=note or "",
        result={"released": [c.key for c in causes]},
    )
    return Effects(after, timeline=(entry,))
