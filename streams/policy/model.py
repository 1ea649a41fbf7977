"""The policy: rules that turn windows into severity decisions, and the plan's other numbers.

Every number of the plan is a field here with the plan's value as the default in the shipped
``default.yaml``; nothing in the evaluator is a hidden constant. Durations are written as
"30s", "1m"; thresholds in the metric's unit, with "10%" and "5s" accepted where they fit.

Scope matchers: a value is exact ("POST /api/message"), a glob when it contains ``*`` or
``?`` ("web-*"), or a regular expression after ``re:`` ("re:POST /api/(search|message)"); a
list matches when any of its values does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from schemas.decisions import Response
from schemas.panes import Scope
from schemas.rollback import PhaseRetries
from schemas.severity import Scenario, Severity
from streams.policy.durations import (
    format_duration,
    format_value,
    parse_duration_ms,
    parse_percent,
    parse_threshold,
)
from streams.policy.errors import FieldInvalid
from streams.policy.maintenance import DryRun, Windows
from streams.policy.matchers import Patterns, SeverityName, check_patterns, value_matches
from streams.policy.metrics import MATCH_KEYS, METRICS, MetricInfo
from streams.policy.routes import Routes
from streams.policy.sources import AlertmanagerPolicy, OtlpPolicy

__all__ = [
    "WORKBOOK_ALERTS",
    "BackupCheck",
    "BackupPolicy",
    "BotPolicy",
    "BurnAlert",
    "CascadePolicy",
    "Comparison",
    "Condition",
    "DatasetObjective",
    "DeployPolicy",
    "ExpectedRate",
    "PhaseRetries",
    "Policy",
    "Readiness",
    "RollbackPolicy",
    "Rule",
    "RuleDefaults",
    "SloPolicy",
    "ThroughputPolicy",
    "scope_fields",
]

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0)]
Fraction = Annotated[float, BeforeValidator(lambda v: parse_percent(v, as_fraction=True))]
Percent = Annotated[float, BeforeValidator(lambda v: parse_percent(v, as_fraction=False))]


def _a_share(value: float) -> float:
    if not 0.0 < value < 1.0:
        raise ValueError(f"expected a tolerance above 0% and below 100%, got {value:g}")
    return value


# A rule's or an SLO's ``tolerance``: a share of the threshold, above 0% and below 100%.
Tolerance = Annotated[Fraction, AfterValidator(_a_share)]
RuleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=100)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def scope_fields(scope: Scope) -> dict[str, str]:
    """A scope as the fields a matcher sees: {"service": …, "endpoint": …}."""
    fields = {"service": scope.service}
    if scope.dimension != "service":
        fields[scope.dimension] = scope.key
    return fields


def _check_range(info: MetricInfo, threshold: float) -> None:
    """A threshold the metric can never reach on one side is a typo (150% errors, -5 ms)."""
    low, high = info.low, info.high
    if (low is None or threshold >= low) and (high is None or threshold <= high):
        return
    shown = format_value(threshold, info.unit)
    if high is None:
        expected = f"{format_value(low or 0.0, info.unit)} or more"
    else:
        expected = f"from {format_value(low or 0.0, info.unit)} to {format_value(high, info.unit)}"
    raise ValueError(
        f"expected a threshold {expected} ({info.name} is {info.description}), got {shown}"
    )


# Which comparisons a confidence test can back: a bound on the right side of the threshold.
_CONFIDENT_COMPARISONS: dict[str, tuple[str, ...]] = {
    "proportion": (">", ">=", "<", "<="),
    "poisson": ("<", "<="),
}


def _metric_info(value: str) -> MetricInfo:
    info = METRICS.get(value)
    if info is None:
        raise ValueError(f"expected one of {', '.join(METRICS)}, got {value!r}")
    return info


class Condition(_Model):
    """metric comparison threshold, e.g. ``error_rate > 10%``."""

    metric: str
    comparison: Comparison
    threshold: float

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        _metric_info(value)
        return value

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold_in_unit(cls, value: Any, info: ValidationInfo) -> float:
        metric = info.data.get("metric")
        if metric not in METRICS:
            # The metric is unknown (reported on its own): its unit is too, so the threshold
            # cannot be judged — not a second, misleading error.
            return value if isinstance(value, int | float) else 0.0
        threshold = parse_threshold(value, METRICS[metric].unit)
        _check_range(METRICS[metric], threshold)
        return threshold

    @property
    def info(self) -> MetricInfo:
        return METRICS[self.metric]


class Rule(Condition):
    """One alerting rule: when the condition holds on a matching scope's window, alert."""

    name: RuleName
    description: str = ""
    match: dict[str, Patterns] = Field(default_factory=dict)
    window_ms: DurationMs = Field(alias="window", gt=0)
    min_samples: int = Field(ge=0)
    for_ms: DurationMs = Field(alias="for")
    keep_firing_for_ms: DurationMs = Field(alias="keep_firing_for")
    severity: SeverityName
    scenario: Scenario | None = None
    response: Response
    also: tuple[Condition, ...] = ()
    # The breach must hold at this one-sided confidence, not just on the observed value
    # (``streams.evaluate.confidence``: a Wilson bound, or a Poisson test with the ratio).
    confidence: Fraction | None = None
    # Proportions: where the estimate is precise — its bound at ``confidence`` within
    # ``tolerance`` × threshold of the observed value — the observed value decides, as it does
    # without a confidence. High volume then breaches at the crossing; low volume still needs
    # the bound past the threshold (docs/detection-quality.md, "Precise enough to decide").
    tolerance: Tolerance | None = None
    # Multi-window: the condition must hold on this shorter window (ending at the same time)
    # as well, so that an alert resets soon after the problem stops (SRE workbook, ch. 5).
    short_window_ms: DurationMs | None = Field(default=None, alias="short_window", gt=0)
    # Set on the rules an SLO generates (``SloPolicy``): evaluated at minute ends on rolled-up
    # panes (1 s → 1 min → 1 h → 1 day), so that windows of hours and days hold no 1 s panes.
    slo: str | None = None
    dry_run: DryRun = False

    # Field validators, not a model validator: they see the metric (validated first) and
    # still run when another field of the rule is wrong, so every mistake is reported at once.
    @field_validator("match")
    @classmethod
    def _match_fits_metric(
        cls, value: dict[str, tuple[str, ...]], info: ValidationInfo
    ) -> dict[str, tuple[str, ...]]:
        metric = METRICS.get(info.data.get("metric", ""))
        allowed = MATCH_KEYS[metric.dimension] if metric else ()
        for key in value:
            if metric is not None and key not in allowed:
                raise FieldInvalid(
                    key,
                    f"metric {metric.name} is per {metric.dimension}; "
                    f"expected match keys among {', '.join(allowed)}",
                )
        return check_patterns(value)

    @field_validator("also")
    @classmethod
    def _also_fits_metric(
        cls, value: tuple[Condition, ...], info: ValidationInfo
    ) -> tuple[Condition, ...]:
        metric = METRICS.get(info.data.get("metric", ""))
        if metric is None:
            return value  # the unknown metric is reported on its own
        for n, extra in enumerate(value):
            if extra.info.dimension not in (metric.dimension, "service"):
                raise FieldInvalid(
                    f"{n}.metric",
                    f"{extra.metric} is per {extra.info.dimension}; expected "
                    f"a metric per {metric.dimension} or per service",
                )
        return value

    @field_validator("confidence")
    @classmethod
    def _confidence_fits_metric(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        if not 0.5 <= value < 1.0:
            raise ValueError(
                f"expected a confidence from 50% up to (not including) 100%, got {value:g}"
            )
        metric = METRICS.get(info.data.get("metric", ""))
        if metric is None:
            return value  # the unknown metric is reported on its own
        allowed = _CONFIDENT_COMPARISONS.get(metric.test) if metric.test else None
        if allowed is None:
            testable = ", ".join(m.name for m in METRICS.values() if m.test)
            raise ValueError(f"{metric.name} has no confidence test; expected one of {testable}")
        if info.data.get("comparison", allowed[0]) not in allowed:
            raise ValueError(
                f"a confidence on {metric.name} tests comparisons "
                f"{', '.join(allowed[:-1])} and {allowed[-1]} only"
            )
        return value

    @field_validator("tolerance")
    @classmethod
    def _tolerance_needs_a_bound(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        metric = METRICS.get(info.data.get("metric", ""))
        if metric is not None and metric.test != "proportion":
            rates = ", ".join(m.name for m in METRICS.values() if m.test == "proportion")
            raise ValueError(
                f"{metric.name} has no Wilson bound to tolerate; expected one of {rates}"
            )
        if "confidence" in info.data and info.data["confidence"] is None:
            raise ValueError("a tolerance qualifies a confidence; set confidence as well")
        return value

    @field_validator("short_window_ms")
    @classmethod
    def _short_is_shorter(cls, value: int | None, info: ValidationInfo) -> int | None:
        window = info.data.get("window_ms")
        if value is not None and window is not None and value >= window:
            raise ValueError(
                f"expected a short window shorter than the window ({format_duration(window)}), "
                f"got {format_duration(value)}"
            )
        return value

    @property
    def dimension(self) -> str:
        return self.info.dimension

    @property
    def windows_ms(self) -> tuple[int, ...]:
        """The window, and the short window when it has one."""
        return (
            (self.window_ms,)
            if self.short_window_ms is None
            else (
                self.window_ms,
                self.short_window_ms,
            )
        )

    def matches(self, scope: Scope) -> bool:
        """Whether this rule watches ``scope`` (its dimension and every matcher agree)."""
        if scope.dimension != self.info.dimension:
            return False
        fields = scope_fields(scope)
        return all(
            any(value_matches(pattern, fields.get(key, "")) for pattern in patterns)
            for key, patterns in self.match.items()
        )

    def watches_service(self, service: str) -> bool:
        """Whether some scope of ``service`` can match (its service matcher, if any, does)."""
        patterns = self.match.get("service")
        return patterns is None or any(value_matches(p, service) for p in patterns)


class RuleDefaults(_Model):
    """Values a rule takes when it does not set them."""

    window_ms: DurationMs = Field(default=60_000, alias="window", gt=0)
    min_samples: int = Field(default=1, ge=0)
    for_ms: DurationMs = Field(default=0, alias="for")
    keep_firing_for_ms: DurationMs = Field(default=0, alias="keep_firing_for")

    def as_yaml_fields(self) -> dict[str, Any]:
        return {
            "window": f"{self.window_ms}ms",
            "min_samples": self.min_samples,
            "for": f"{self.for_ms}ms",
            "keep_firing_for": f"{self.keep_firing_for_ms}ms",
        }


class Readiness(_Model):
    """The plan's pre-deploy baselines: a service is ready when every value is below these,
    measured live over ``window`` (the readiness gate, ``alertpipe readiness check``); a
    deploy that did not pass the gate is a decision of ``unready_deploy`` severity."""

    error_rate: Fraction = 0.01
    p95_ms: float = Field(default=1000.0, gt=0)
    cpu_pct: Percent = 50.0
    mem_pct: Percent = 60.0
    window_ms: DurationMs = Field(default=600_000, alias="window", gt=0)
    min_samples: int = Field(default=100, ge=0)
    unready_deploy: SeverityName = Severity.MEDIUM

    @field_validator("p95_ms", mode="before")
    @classmethod
    def _p95_in_ms(cls, value: Any) -> float:
        return parse_threshold(value, "ms")


class DeployPolicy(_Model):
    """Deploy awareness: the post-deploy window and what makes a version "known good"."""

    post_deploy_window_ms: DurationMs = Field(default=900_000, alias="post_deploy_window")
    healthy_for_ms: DurationMs = Field(default=20_000, alias="healthy_for")
    unhealthy_at: SeverityName = Severity.HIGH


class ExpectedRate(_Model):
    """A configured expected request rate for matching endpoints (wins over a learned one)."""

    match: dict[str, Patterns] = Field(default_factory=dict)
    rps: float = Field(gt=0)

    @field_validator("match")
    @classmethod
    def _valid_patterns(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for key in value:
            if key not in MATCH_KEYS["endpoint"]:
                raise FieldInvalid(key, "expected match keys among service, endpoint")
        return check_patterns(value)

    def matches(self, scope: Scope) -> bool:
        fields = scope_fields(scope)
        return scope.dimension == "endpoint" and all(
            any(value_matches(p, fields.get(key, "")) for p in patterns)
            for key, patterns in self.match.items()
        )


class ThroughputPolicy(_Model):
    """Expected throughput: learned per endpoint from healthy traffic, or configured."""

    half_life_ms: DurationMs = Field(default=600_000, alias="half_life", gt=0)
    min_history_ms: DurationMs = Field(default=20_000, alias="min_history")
    # A learned downward trend lowers the expected rate to no less than this share of the
    # decayed average (``streams.evaluate.baseline``); 100%: the average alone, no trend.
    trend_floor: Fraction = 0.5
    expected: tuple[ExpectedRate, ...] = ()

    @field_validator("trend_floor")
    @classmethod
    def _floor_is_a_share(cls, value: float) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"expected a share of the average from 0% to 100%, got {value:.0%}")
        return value

    def configured(self, scope: Scope) -> float | None:
        for rate in self.expected:
            if rate.matches(scope):
                return rate.rps
        return None


class BotPolicy(_Model):
    """Which bot statuses count as offline, as an error, and as a crash."""

    offline: tuple[str, ...] = ("offline", "crashed")
    errors: tuple[str, ...] = ("error", "crashed")
    crash: tuple[str, ...] = ("crashed",)


class CascadePolicy(_Model):
    """Plan S4 across services: ``min_critical`` CRITICAL alerts triggered within the window.

    Once firing, it holds while that many CRITICAL alerts are still firing.
    """

    enabled: bool = True
    name: RuleName = "cascading-failures"
    window_ms: DurationMs = Field(default=120_000, alias="window", gt=0)
    min_critical: int = Field(default=5, ge=1)
    for_ms: DurationMs = Field(default=0, alias="for")
    keep_firing_for_ms: DurationMs = Field(default=0, alias="keep_firing_for")
    severity: SeverityName = Severity.CRITICAL
    scenario: Scenario | None = "S4"
    response: Response = "emergency_stop"
    dry_run: DryRun = False


class RollbackPolicy(_Model):
    """How the response retries a rollback's phases (the plan: "never loop"); the phases and
    their retry counts are ``schemas.rollback``'s, shared with the responder's settings."""

    phase_retries: PhaseRetries = Field(default_factory=PhaseRetries)


class BurnAlert(_Model):
    """One multi-window burn-rate alert of an SLO: the error budget is burning ``burn_rate``
    times faster than the objective allows, over the long window and the short one."""

    name: RuleName
    burn_rate: float = Field(gt=0)
    long_window_ms: DurationMs = Field(alias="long_window", gt=0)
    short_window_ms: DurationMs = Field(alias="short_window", gt=0)
    severity: SeverityName
    response: Response

    @model_validator(mode="after")
    def _short_is_shorter(self) -> BurnAlert:
        if self.short_window_ms >= self.long_window_ms:
            raise FieldInvalid("short_window", "expected a short window shorter than long_window")
        return self


def _workbook(name: str, burn: float, long: str, short: str, severity: str) -> BurnAlert:
    response = "investigate" if severity == "HIGH" else "record"
    return BurnAlert.model_validate(
        {
            "name": name,
            "burn_rate": burn,
            "long_window": long,
            "short_window": short,
            "severity": severity,
            "response": response,
        }
    )


# The SRE workbook's multi-window, multi-burn-rate alerts (ch. 5, "Alerting on SLOs"): a page
# when 2% of a 30-day budget burns in 1 h or 5% in 6 h, a ticket when 10% burns in 3 days.
# A page is HIGH here (the severity that pages), a ticket LOW (recorded, nobody woken).
WORKBOOK_ALERTS = (
    _workbook("page-fast", 14.4, "1h", "5m", "HIGH"),
    _workbook("page-slow", 6.0, "6h", "30m", "HIGH"),
    _workbook("ticket", 1.0, "3d", "6h", "LOW"),
)

Objective = Annotated[float, BeforeValidator(lambda v: parse_percent(v, as_fraction=True))]


class SloPolicy(_Model):
    """A service level objective: ``objective`` of requests are not 5xx over ``period``, per
    service (over all its endpoints) or per endpoint. It generates one rule per burn-rate
    alert (named ``slo-{name}-{alert}``), and stage 2 reports its error budget remaining."""

    name: RuleName
    description: str = ""
    per: Literal["service", "endpoint"] = "service"
    match: dict[str, Patterns] = Field(default_factory=dict)
    objective: Objective
    period_ms: DurationMs = Field(default=30 * 86_400_000, alias="period", gt=0)
    min_samples: int = Field(default=20, ge=0, description="requests in each window")
    # As for any error-rate rule: the burn must be sure at this confidence (a few failing
    # requests of a quiet service are not a burning budget). None: the observed rate decides.
    confidence: Fraction | None = 0.999
    # As for the built-in error-rate rules: at volumes where the bound is within 10% of the
    # threshold of the observed burn, the observed burn decides (the workbook's own rule).
    tolerance: Tolerance | None = 0.1
    keep_firing_for_ms: DurationMs = Field(default=0, alias="keep_firing_for")
    alerts: tuple[BurnAlert, ...] = WORKBOOK_ALERTS

    @field_validator("objective")
    @classmethod
    def _a_real_objective(cls, value: float) -> float:
        if not 0.0 < value < 1.0:
            raise ValueError(f"expected an objective above 0% and below 100%, got {value:g}")
        return value

    @field_validator("match")
    @classmethod
    def _match_fits_per(
        cls, value: dict[str, tuple[str, ...]], info: ValidationInfo
    ) -> dict[str, tuple[str, ...]]:
        allowed = MATCH_KEYS[info.data.get("per", "service")]
        for key in value:
            if key not in allowed:
                raise FieldInvalid(key, f"expected match keys among {', '.join(allowed)}")
        return check_patterns(value)

    @model_validator(mode="after")
    def _tolerance_needs_a_confidence(self) -> SloPolicy:
        # The default tolerance follows a confidence switched off (``rules`` drops it); one
        # written out without a confidence would say something the rules cannot do.
        explicit = "tolerance" in self.model_fields_set and self.tolerance is not None
        if self.confidence is None and explicit:
            raise FieldInvalid(
                "tolerance", "a tolerance qualifies a confidence; set confidence as well"
            )
        return self

    @model_validator(mode="after")
    def _burns_are_reachable(self) -> SloPolicy:
        for n, alert in enumerate(self.alerts):
            if alert.burn_rate * self.budget > 1.0:
                raise FieldInvalid(
                    f"alerts.{n}.burn_rate",
                    f"{alert.burn_rate:g}x the {self.budget * 100:g}% budget is an error rate "
                    "above 100%: the alert could never fire",
                )
        return self

    @property
    def budget(self) -> float:
        """The error budget: the share of requests allowed to fail (99.9% -> 0.001)."""
        return round(1.0 - self.objective, 12)

    @property
    def metric(self) -> str:
        return "service_error_rate" if self.per == "service" else "error_rate"

    def rules(self) -> list[dict[str, Any]]:
        """The burn-rate alerts as rule fields (validated like any rule of the file)."""
        objective = f"{self.objective * 100:g}%"
        return [
            {
                "name": f"slo-{self.name}-{alert.name}",
                "description": (
                    f"SLO {self.name} ({objective} over {format_duration(self.period_ms)}): "
                    f"budget burning {alert.burn_rate:g}x over "
                    f"{format_duration(alert.long_window_ms)} and "
                    f"{format_duration(alert.short_window_ms)}"
                ),
                "match": dict(self.match),
                "metric": self.metric,
                "comparison": ">",
                "threshold": round(alert.burn_rate * self.budget, 12),
                "window": f"{alert.long_window_ms}ms",
                "short_window": f"{alert.short_window_ms}ms",
                "min_samples": self.min_samples,
                "confidence": self.confidence,
                "tolerance": self.tolerance if self.confidence is not None else None,
                "for": "0s",
                "keep_firing_for": f"{self.keep_firing_for_ms}ms",
                "severity": alert.severity.value,
                "response": alert.response,
                "slo": self.name,
            }
            for alert in self.alerts
        ]


# How a backup problem is answered, by the severity chosen for it: never a rollback (the code
# is not at fault), a page when it is HIGH, a chat notice waiting for a human when MEDIUM.
_BACKUP_RESPONSES: dict[Severity, Response] = {
    Severity.HIGH: "page",
    Severity.MEDIUM: "notify",
    Severity.LOW: "record",
}


def _not_critical(value: Severity) -> Severity:
    if value is Severity.CRITICAL:
        raise ValueError(
            "expected LOW, MEDIUM or HIGH: CRITICAL asks for a rollback, and a backup problem "
            "is not the code's (HIGH pages)"
        )
    return value


BackupSeverity = SeverityName  # checked by _not_critical where it is used


class DatasetObjective(_Model):
    """The plan's recovery objectives for one dataset: at most ``rpo`` of data lost (its
    newest successful backup must be younger), back within ``rto`` after a restore began."""

    dataset: RuleName
    description: str = ""
    rpo_ms: DurationMs = Field(alias="rpo", gt=0)
    rto_ms: DurationMs = Field(alias="rto", gt=0)
    severity: BackupSeverity

    _check = field_validator("severity")(_not_critical)


class BackupCheck(_Model):
    """One part of the backup schedule, for every dataset: it must have happened within
    ``every`` (0: not checked), at this severity."""

    every_ms: DurationMs = Field(alias="every")
    severity: BackupSeverity

    _check = field_validator("severity")(_not_critical)


def _check(every: str, severity: str) -> BackupCheck:
    return BackupCheck.model_validate({"every": every, "severity": severity})


def _objective(dataset: str, rpo: str, rto: str, severity: str, why: str) -> DatasetObjective:
    fields = {"dataset": dataset, "rpo": rpo, "rto": rto, "severity": severity}
    return DatasetObjective.model_validate({**fields, "description": why})


# The plan's numbers: RPO chat messages 10 min, bot state and configuration 1 h; RTO critical
# data 10 min, non-critical 1 h; full backups hourly, off-site every 6 h, a restore tested
# weekly. default.yaml says why each severity is what it is.
PLAN_DATASETS = (
    _objective("chat_messages", "10m", "10m", "HIGH", "users' messages: critical data"),
    _objective("bot_state", "1h", "1h", "MEDIUM", "bots' state: non-critical, rebuilt"),
    _objective("configuration", "1h", "1h", "MEDIUM", "settings: non-critical, rarely changes"),
)


class BackupPolicy(_Model):
    """The plan's backup schedule and recovery objectives, per dataset. It generates rules
    (``backup-rpo-<dataset>``, ``backup-full-overdue``, ``backup-offsite-overdue``,
    ``restore-test-overdue``, ``backup-failed``) judged on every dataset scope of every
    service, in event time; the responder reads the objectives when it restores."""

    enabled: bool = True
    datasets: tuple[DatasetObjective, ...] = PLAN_DATASETS
    full: BackupCheck = Field(default_factory=lambda: _check("1h", "MEDIUM"))
    offsite: BackupCheck = Field(default_factory=lambda: _check("6h", "MEDIUM"))
    restore_test: BackupCheck = Field(default_factory=lambda: _check("7d", "LOW"))
    failed: BackupSeverity = Severity.MEDIUM
    full_system_rto_ms: DurationMs = Field(default=1_800_000, alias="full_system_rto", gt=0)

    _failed = field_validator("failed")(_not_critical)

    @field_validator("datasets")
    @classmethod
    def _unique_datasets(
        cls, datasets: tuple[DatasetObjective, ...]
    ) -> tuple[DatasetObjective, ...]:
        seen: set[str] = set()
        for n, objective in enumerate(datasets):
            if objective.dataset in seen:
                raise FieldInvalid(f"{n}.dataset", "expected each dataset once")
            seen.add(objective.dataset)
        return datasets

    def objective(self, dataset: str) -> DatasetObjective | None:
        return next((d for d in self.datasets if d.dataset == dataset), None)

    def rules(self) -> list[dict[str, Any]]:
        """The generated rules, as rule fields (validated like any rule of the file)."""
        if not self.enabled:
            return []
        found = [
            _backup_rule(
                f"backup-rpo-{d.dataset}",
                f"newest successful backup of {d.dataset} older than its RPO "
                f"({format_duration(d.rpo_ms)}): more data than the plan allows would be lost"
                + (f" ({d.description})" if d.description else ""),
                "backup_age",
                d.rpo_ms,
                d.severity,
                {"dataset": d.dataset},
            )
            for d in self.datasets
        ]
        for name, metric, check, what in (
            ("backup-full-overdue", "full_backup_age", self.full, "full backup"),
            ("backup-offsite-overdue", "offsite_backup_age", self.offsite, "off-site backup"),
            ("restore-test-overdue", "restore_test_age", self.restore_test, "passed restore test"),
        ):
            if check.every_ms:
                why = f"no {what} for longer than {format_duration(check.every_ms)}"
                found.append(_backup_rule(name, why, metric, check.every_ms, check.severity))
        why = "a dataset's latest backup of some type failed"
        found.append(_backup_rule("backup-failed", why, "backup_failures", 0, self.failed))
        return found


def _backup_rule(
    name: str,
    description: str,
    metric: str,
    threshold: int,
    severity: Severity,
    match: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Judged on the dataset's whole history (the window is only its evaluation's step); no
    sample minimum (nothing on record ages from when the dataset was first seen); resolved as
    soon as a new backup clears it."""
    return {
        "name": name,
        "description": description,
        "match": match or {},
        "metric": metric,
        "comparison": ">",
        "threshold": threshold,
        "window": "1s",
        "min_samples": 0,
        "for": "0s",
        "keep_firing_for": "0s",
        "severity": severity.value,
        "response": _BACKUP_RESPONSES[severity],
    }


def _backup_rules(raw: Any) -> list[dict[str, Any]]:
    """The rules of the backup section (its own problems are reported against ``backups``)."""
    try:
        return BackupPolicy.model_validate(raw if isinstance(raw, dict) else {}).rules()
    except ValueError:
        return []


def _slo_rules(raw: Any) -> list[dict[str, Any]]:
    """The rules of the valid SLOs (an invalid one is reported against ``slos`` on its own)."""
    found: list[dict[str, Any]] = []
    for entry in raw if isinstance(raw, list) else ():
        try:
            found.extend(SloPolicy.model_validate(entry).rules())
        except ValueError:
            continue
    return found


def _valid_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    found = RuleDefaults().as_yaml_fields()
    for key, value in raw.items():
        try:
            found.update(
                (k, v)
                for k, v in RuleDefaults.model_validate({key: value}).as_yaml_fields().items()
                if k == key
            )
        except ValueError:
            continue
    return found


class Policy(_Model):
    """A whole policy file."""

    version: Literal[1] = 1
    name: str = "policy"
    defaults: RuleDefaults = Field(default_factory=RuleDefaults)
    readiness: Readiness = Field(default_factory=Readiness)
    deploys: DeployPolicy = Field(default_factory=DeployPolicy)
    throughput: ThroughputPolicy = Field(default_factory=ThroughputPolicy)
    bots: BotPolicy = Field(default_factory=BotPolicy)
    cascade: CascadePolicy = Field(default_factory=CascadePolicy)
    rollback: RollbackPolicy = Field(default_factory=RollbackPolicy)
    backups: BackupPolicy = Field(default_factory=BackupPolicy)
    slos: tuple[SloPolicy, ...] = ()
    # Where incidents are sent, and what other tools' alerts and gauges mean (issue 16).
    routes: Routes = Field(default_factory=Routes)
    alertmanager: AlertmanagerPolicy = Field(default_factory=AlertmanagerPolicy)
    otlp: OtlpPolicy = Field(default_factory=OtlpPolicy)
    rules: tuple[Rule, ...] = Field(default=(), validate_default=True)
    # streams/policy/maintenance.py: windows, and dry run for the whole policy
    maintenance: Windows = ()
    dry_run: DryRun = False

    @model_validator(mode="before")
    @classmethod
    def _add_backup_rules(cls, data: Any) -> Any:
        """The backup section's rules join the rules, after the file's own (and the plan's
        schedule applies to a file without the section)."""
        if not isinstance(data, dict):
            return data
        rules = data.get("rules", [])
        if not isinstance(rules, list) or not rules:
            return data  # a file without rules of its own is refused as such (a typo, mostly)
        return {**data, "rules": [*rules, *_backup_rules(data.get("backups"))]}

    @model_validator(mode="before")
    @classmethod
    def _add_slo_rules(cls, data: Any) -> Any:
        """Each SLO's burn-rate alerts join the rules, after the file's own."""
        if not isinstance(data, dict) or not data.get("slos"):
            return data
        rules = data.get("rules", [])
        if not isinstance(rules, list):
            return data
        return {**data, "rules": [*rules, *_slo_rules(data["slos"])]}

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            return data
        raw_defaults = data.get("defaults") or {}
        if not isinstance(raw_defaults, dict):
            return data
        try:
            defaults = RuleDefaults.model_validate(raw_defaults).as_yaml_fields()
        except ValueError:
            # Reported against `defaults` by the normal validation; the rules take the valid
            # keys (and the built-in values for the rest), so that they don't also report
            # every defaulted field as missing.
            defaults = _valid_defaults(raw_defaults)
        rules = [{**defaults, **rule} if isinstance(rule, dict) else rule for rule in data["rules"]]
        return {**data, "rules": rules}

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        if not rules:
            raise ValueError("expected at least one rule (a policy without rules never alerts)")
        seen: dict[str, int] = {}
        for n, rule in enumerate(rules):
            if rule.name in seen:
                raise FieldInvalid(
                    f"{n}.name", f"expected a unique name; rule #{seen[rule.name] + 1} has it too"
                )
            seen[rule.name] = n
        return rules

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def is_dry_run(self, rule: Rule | CascadePolicy) -> bool:
        """Whether ``rule``'s decisions are a trial (the policy's or the rule's ``dry_run``)."""
        return self.dry_run or rule.dry_run

    def cascade_as_run(self) -> CascadePolicy:
        """The cascade rule as the correlator runs it: on trial with the whole policy too."""
        return self.cascade.model_copy(update={"dry_run": self.is_dry_run(self.cascade)})

    @field_validator("slos")
    @classmethod
    def _unique_slos(cls, slos: tuple[SloPolicy, ...]) -> tuple[SloPolicy, ...]:
        seen: set[str] = set()
        for n, slo in enumerate(slos):
            if slo.name in seen:
                raise FieldInvalid(f"{n}.name", "expected a unique SLO name")
            seen.add(slo.name)
        return slos

    def slo(self, name: str) -> SloPolicy:
        for slo in self.slos:
            if slo.name == name:
                return slo
        raise KeyError(name)

    @property
    def longest_window_ms(self) -> int:
        """How much 1 s pane history the rules need (the evaluator keeps at least this); an
        SLO's windows are served by roll-ups instead."""
        return max((rule.window_ms for rule in self.rules if rule.slo is None), default=0)
