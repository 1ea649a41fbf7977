"""Error budgets, wire version 1: what stage 2 reports for each SLO and scope, once a minute.

Carried on the evaluator's compacted state topic (key ``slo:{slo}|{scope id}``, kind
``slo``); the responder records the latest of each in PostgreSQL and ``GET /slos`` serves
them. ``budget_remaining`` is ``1 - errors / (requests × (1 - objective))`` over the period
counted so far: 1 is untouched, 0 spent, below 0 overspent; null without requests.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SloBudget"]


class SloBudget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1] = 1
    slo: str
    service: str
    scope: dict[str, str] = Field(description="the service, and the endpoint for per-endpoint SLOs")
    scope_id: str
    objective: float = Field(gt=0, lt=1, description="share of requests that must not be 5xx")
    period_ms: int = Field(gt=0)
    at_ms: int = Field(description="event time of the evaluation (a minute end)")
    since_ms: int = Field(description="start of the counted period: the period, or first seen")
    requests: int = Field(ge=0)
    errors: int = Field(ge=0)
    budget_remaining: float | None = Field(description="1 untouched, 0 spent, < 0 overspent")
    burn_rates: dict[str, float | None] = Field(
        default_factory=dict,
        description='error rate / (1 - objective) over each alert window ("1h", "5m" …)',
    )
