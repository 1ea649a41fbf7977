"""Severity decisions, wire version 1: what stage 2 (evaluate) publishes to ``alerts.decisions``.

Only state changes are published, and a firing alert's turns between breaching and held
(clear on its latest window, kept firing by ``keep_firing_for``): ``previous`` and ``state``
are both ``firing`` then, and ``breaching`` says which way it turned. ``fingerprint`` is
stable per (rule, scope) so consumers can group and dedup; ``decision_id`` is unique per
published change (fingerprint + sequence).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.severity import Scenario, Severity

__all__ = ["AlertState", "Decision", "Evidence", "Response"]

AlertState = Literal["inactive", "pending", "firing", "resolved", "no_data"]

Response = Literal[
    "record",  # LOW: write it down
    "notify",  # MEDIUM: tell humans, wait for a decision
    "investigate",  # HIGH: page, investigation window, then roll back if unresolved
    "page",  # page on-call, never roll back: the code is not at fault (a stale backup)
    "rollback",  # CRITICAL: page, open breaker, roll back now
    "scale_up",  # resources: scale-up / investigate notice
    "restart_bot",  # bot crash: restart it
    "restore_data",  # S2: stop bots, isolate, restore last good backup
    "emergency_stop",  # S4: every breaker open, roll back at once
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Evidence(_Model):
    """Why: the window, what was observed, and what it was compared with."""

    metric: str
    window_start_ms: int
    window_end_ms: int
    observed: float | None = Field(description="None when there was no data")
    comparison: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    samples: int = Field(ge=0)
    min_samples: int = Field(ge=0)
    confidence: float | None = Field(
        default=None, description="the rule's one-sided confidence, when it asks for one"
    )
    tolerance: float | None = Field(
        default=None,
        description="proportions: a bound within this share of the threshold of the observed "
        "value makes the estimate precise enough for the observed value to decide",
    )
    bound: float | None = Field(
        default=None,
        description="proportions: the Wilson bound at that confidence compared with the "
        "threshold (lower for >, upper for <)",
    )
    p_value: float | None = Field(
        default=None,
        description="counts: P(X <= observed) for the expected count (one-sided Poisson test)",
    )
    short_window_start_ms: int | None = Field(
        default=None, description="multi-window rules: the short window, ending with this one"
    )
    short_observed: float | None = Field(
        default=None, description="multi-window rules: the value on the short window"
    )


class Decision(_Model):
    v: Literal[1] = 1
    decision_id: str = Field(description="{fingerprint}:{sequence}: unique per state change")
    fingerprint: str = Field(description="stable hash of rule and scope")
    rule: str
    scope: dict[str, str]
    service: str
    state: AlertState
    previous: AlertState
    severity: Severity
    scenario: Scenario | None = None
    response: Response
    at_ms: int = Field(description="event time of the state change")
    evidence: Evidence
    breaching: bool | None = Field(
        default=None,
        description="whether the condition held on the latest window: false for a firing "
        "alert held by keep_firing_for (previous and state both firing), null with no data",
    )
    version: str | None = Field(default=None, description="version in effect when decided")
    last_good_version: str | None = Field(
        default=None, description="last version of the service that ran healthy"
    )
    post_deploy: bool = Field(default=False, description="inside a post-deploy window")
    summary: str = Field(default="", description="one line for humans")
    drill: str | None = Field(
        default=None, description="the DR drill that caused it; absent for real traffic"
    )
    dry_run: bool = Field(
        default=False,
        description="its rule (or policy) is on trial: the responder records the incident and "
        "its actions as 'would have sent' and sends nothing",
    )
