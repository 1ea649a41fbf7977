"""How alerts and metrics from other tools map onto alertpipe's: the policy's ``alertmanager``
and ``otlp`` sections. Their format and defaults: docs/policy.md, "Alertmanager's alerts" and
"OTLP gauges: queues and bots".

A bot gauge either carries the status as its value (``states`` maps each number), or, like
OpenTelemetry's state metrics, one data point per status with the value 1 for the current one
(``state_attribute`` names the attribute holding the status).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.decisions import Response
from schemas.severity import Scenario, Severity
from schemas.telemetry import BOT_STATUSES, BotStatus
from streams.policy.matchers import Patterns, SeverityName, check_patterns, matches_all

__all__ = ["AlertOverride", "AlertmanagerPolicy", "BotGauge", "OtlpPolicy", "QueueGauge"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _plan_responses() -> dict[Severity, Response]:
    return {
        Severity.CRITICAL: "rollback",
        Severity.HIGH: "investigate",
        Severity.MEDIUM: "notify",
        Severity.LOW: "record",
    }


def _alertmanager_severities() -> dict[str, Severity]:
    return {
        "critical": Severity.CRITICAL,
        "page": Severity.CRITICAL,
        "error": Severity.HIGH,
        "high": Severity.HIGH,
        "warning": Severity.MEDIUM,
        "medium": Severity.MEDIUM,
        "info": Severity.LOW,
        "low": Severity.LOW,
    }


class AlertOverride(_Model):
    """What one kind of alert (matched on its labels) becomes, where the defaults will not do."""

    match: dict[str, Patterns] = Field(min_length=1)
    severity: SeverityName | None = None
    scenario: Scenario | None = None
    response: Response | None = None

    @field_validator("match")
    @classmethod
    def _valid_patterns(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        return check_patterns(value)

    def takes(self, labels: dict[str, str]) -> bool:
        return matches_all(self.match, labels)


class AlertmanagerPolicy(_Model):
    """Alertmanager's alerts as decisions (``POST /v1/alertmanager``)."""

    service_labels: tuple[str, ...] = Field(default=("service", "job"), min_length=1)
    severity_label: str = "severity"
    severities: dict[str, SeverityName] = Field(default_factory=_alertmanager_severities)
    default_severity: SeverityName = Severity.MEDIUM
    responses: dict[SeverityName, Response] = Field(default_factory=_plan_responses)
    alerts: tuple[AlertOverride, ...] = ()

    @field_validator("severities")
    @classmethod
    def _lower_case(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        return {label.lower(): severity for label, severity in value.items()}

    @field_validator("responses")
    @classmethod
    def _every_severity(cls, value: dict[Severity, Response]) -> dict[Severity, Response]:
        return {**_plan_responses(), **value}

    def override(self, labels: dict[str, str]) -> AlertOverride | None:
        return next((o for o in self.alerts if o.takes(labels)), None)

    def service(self, labels: dict[str, str]) -> str | None:
        return next((labels[n] for n in self.service_labels if labels.get(n, "").strip()), None)

    def severity(self, labels: dict[str, str]) -> Severity:
        override = self.override(labels)
        if override is not None and override.severity is not None:
            return override.severity
        value = labels.get(self.severity_label, "").strip().lower()
        return self.severities.get(value, self.default_severity)

    def response(self, labels: dict[str, str], severity: Severity) -> Response:
        override = self.override(labels)
        if override is not None and override.response is not None:
            return override.response
        return self.responses[severity]

    def scenario(self, labels: dict[str, str]) -> Scenario | None:
        override = self.override(labels)
        return override.scenario if override is not None else None


class QueueGauge(_Model):
    """An OTLP gauge (or sum) whose data points are queue depths."""

    metric: str = Field(min_length=1)
    attribute: str = Field(default="queue.name", min_length=1)


class BotGauge(_Model):
    """An OTLP gauge whose data points are bot states."""

    metric: str = Field(min_length=1)
    attribute: str = Field(default="bot.id", min_length=1)
    states: dict[int, BotStatus] = Field(default_factory=dict)
    state_attribute: str | None = None

    @model_validator(mode="after")
    def _one_way_to_read(self) -> BotGauge:
        if bool(self.states) == bool(self.state_attribute):
            raise ValueError(
                "states: give either `states` (each value's status) or `state_attribute` "
                "(the attribute naming the status of the data point whose value is 1)"
            )
        return self

    def status(self, value: float, attributes: dict[str, Any]) -> BotStatus | None:
        if self.state_attribute is not None:
            named = attributes.get(self.state_attribute)
            return named if value == 1 and named in BOT_STATUSES else None
        return self.states.get(int(value)) if float(value).is_integer() else None


class OtlpPolicy(_Model):
    """Which OTLP gauges are queue depths and bot states (CPU and memory are known by their
    semantic-convention names)."""

    queues: tuple[QueueGauge, ...] = ()
    bots: tuple[BotGauge, ...] = ()

    def queue(self, metric: str) -> QueueGauge | None:
        return next((q for q in self.queues if q.metric == metric), None)

    def bot(self, metric: str) -> BotGauge | None:
        return next((b for b in self.bots if b.metric == metric), None)
