"""Severity decisions, wire version 1: what stage 2 (evaluate) publishes to ``alerts.decisions``.

Only state changes are published. ``fingerprint`` is stable per (rule, scope) so consumers
can group and dedup; ``decision_id`` is unique per state change (fingerprint + sequence).
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
    version: str | None = Field(default=None, description="version in effect when decided")
    last_good_version: str | None = Field(
        default=None, description="last version of the service that ran healthy"
    )
    post_deploy: bool = Field(default=False, description="inside a post-deploy window")
    summary: str = Field(default="", description="one line for humans")
    drill: str | None = Field(
        default=None, description="the DR drill that caused it; absent for real traffic"
    )
