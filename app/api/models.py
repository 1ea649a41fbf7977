"""Request and response bodies of the incidents and silences API."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.drills.store import DrillScenario
from handlers.silences import Matcher, MatchOp, Silence, SilenceState
from schemas.timestamps import Instant

__all__ = [
    "AckIn",
    "DebriefIn",
    "DecisionIn",
    "DrillIn",
    "HoldIn",
    "MatcherIn",
    "ReleaseIn",
    "ResolveIn",
    "ReviewPatch",
    "SilenceIn",
    "SilenceOut",
    "SilencePatch",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Before authentication, writes named their actor in the body. The actor is now the
# authenticated principal; the old fields are still accepted (so old clients keep working) and
# ignored, and marked deprecated in the OpenAPI document.
_IGNORED = "ignored: the actor is the authenticated principal (kept so old clients still work)"


def _ignored_actor() -> Any:
    return Field(default=None, min_length=1, max_length=200, description=_IGNORED, deprecated=True)


class AckIn(_In):
    by: str | None = _ignored_actor()
    note: str | None = Field(
        default=None, max_length=4000, description="with a note, a HIGH incident's rollback holds"
    )


class ResolveIn(_In):
    by: str | None = _ignored_actor()
    note: str | None = Field(default=None, max_length=4000)


class DecisionIn(_In):
    action: Literal["rollback", "dismiss"]
    by: str | None = _ignored_actor()
    note: str | None = Field(default=None, max_length=4000)


class MatcherIn(_In):
    name: str = Field(min_length=1, max_length=200, description="service, severity, rule, …")
    value: str = Field(max_length=1000)
    op: MatchOp = "="

    def to_matcher(self) -> Matcher:
        return Matcher(self.name, self.value, self.op)


class SilenceIn(_In):
    matchers: list[MatcherIn] = Field(min_length=1)
    starts_at: Instant | None = Field(default=None, description="default: now")
    ends_at: Instant
    created_by: str | None = _ignored_actor()
    comment: str = Field(default="", max_length=4000)
    hold_automation: bool = Field(
        default=False,
        description="also hold the matching incidents' control actions (breaker, rollback, "
        "restore, bot restart) while it is active",
    )

    @field_validator("matchers")
    @classmethod
    def _regex_compiles(cls, matchers: list[MatcherIn]) -> list[MatcherIn]:
        for n, m in enumerate(matchers):
            try:
                m.to_matcher()
            except re.error as error:
                raise ValueError(
                    f"matcher {n} ({m.name}): bad regular expression: {error}"
                ) from None
        return matchers


class SilencePatch(_In):
    matchers: list[MatcherIn] | None = Field(default=None, min_length=1)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    comment: str | None = Field(default=None, max_length=4000)
    hold_automation: bool | None = None


class SilenceOut(BaseModel):
    id: str
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    updated_by: str | None = Field(description="who last changed or expired it")
    comment: str
    state: SilenceState
    hold_automation: bool = Field(description="it holds the matching incidents' automation")

    @staticmethod
    def of(silence: Silence, now: float) -> SilenceOut:
        return SilenceOut(
            id=silence.id,
            matchers=[{"name": m.name, "value": m.value, "op": m.op} for m in silence.matchers],
            starts_at=datetime.fromtimestamp(silence.starts_at, UTC),
            ends_at=datetime.fromtimestamp(silence.ends_at, UTC),
            created_by=silence.created_by,
            updated_by=silence.updated_by,
            comment=silence.comment,
            state=silence.state(now),
            hold_automation=silence.hold_automation,
        )


class DrillIn(_In):
    scenario: DrillScenario = Field(description="the plan's scenario to drill")
    service: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="play the scenario's failing service under this name",
    )
    live: bool = Field(
        default=False,
        description="send the drill's control calls to the production URLs (default: the "
        "drill URLs, or the console)",
    )


class DebriefIn(_In):
    """The drill's debrief; each field given replaces the one stored (audited)."""

    lessons: str | None = Field(default=None, max_length=20_000)
    went_well: str | None = Field(default=None, max_length=20_000)
    went_wrong: str | None = Field(default=None, max_length=20_000)
    actions: str | None = Field(default=None, max_length=20_000)


class ReviewPatch(_In):
    """What people add to a review draft; each field given replaces the one stored (audited);
    the draft regenerated from evidence keeps them."""

    root_cause: str | None = Field(default=None, max_length=20_000)
    lessons: str | None = Field(default=None, max_length=20_000)
    owners: dict[str, str] | None = Field(
        default=None,
        description="corrective action (fix_bug, add_monitoring, add_regression_test, "
        "update_runbooks) → its owner",
    )
    due: dict[str, str] | None = Field(
        default=None, description="corrective action → its due date (free text, e.g. 2026-01-31)"
    )


class ReleaseIn(_In):
    note: str | None = Field(
        default=None, max_length=4000, description="why its automation may run now"
    )


class HoldIn(_In):
    reason: str = Field(min_length=1, max_length=1000, description="why automation stops")
