"""The metrics a rule can watch: their scope dimension, unit and what counts as a sample.

This is the policy's vocabulary. How each value is computed from a window lives in
``streams.evaluate.rules``; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.panes import Dimension

__all__ = ["MATCH_KEYS", "METRICS", "MetricInfo", "Unit"]

Unit = Literal["ratio", "ms", "percent", "count", "per_second"]
# How a rule's `confidence` is tested on the metric (``streams.evaluate.confidence``): a
# proportion of events among samples (Wilson bound), or a count against an expected count
# (one-sided Poisson test).
Test = Literal["proportion", "poisson"]


@dataclass(frozen=True)
class MetricInfo:
    name: str
    dimension: Dimension
    unit: Unit
    samples: str
    description: str
    over: Dimension | None = None  # a service metric computed over these scopes of it
    # The values the metric can take; a threshold outside them is a mistake (150% errors).
    low: float | None = 0.0
    high: float | None = None
    test: Test | None = None  # how `confidence` judges it; None: a rule cannot ask for one
    # Judged on the scope's whole known history (a backup's age), not on the rule's window:
    # the window only sets how often nothing new is "warming"; decisions do not name it.
    windowed: bool = True


_HIGHEST: dict[Unit, float | None] = {"ratio": None, "percent": 100.0}


def _m(
    name: str,
    dimension: Dimension,
    unit: Unit,
    samples: str,
    description: str,
    over: Dimension | None = None,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    test: Test | None = None,
    windowed: bool = True,
) -> MetricInfo:
    """A metric; by default it is never negative, and a percentage is at most 100."""
    high = _HIGHEST.get(unit) if high is None else high
    return MetricInfo(name, dimension, unit, samples, description, over, low, high, test, windowed)


def _age(name: str, samples: str, description: str) -> MetricInfo:
    """How long ago something last happened to a dataset (``streams.evaluate.backups``)."""
    return _m(name, "dataset", "ms", samples, description, windowed=False)


METRICS: dict[str, MetricInfo] = {
    m.name: m
    for m in (
        _m(
            "error_rate",
            "endpoint",
            "ratio",
            "requests",
            "5xx responses / requests",
            high=1.0,
            test="proportion",
        ),
        _m("p50_ms", "endpoint", "ms", "requests", "median latency"),
        _m("p95_ms", "endpoint", "ms", "requests", "95th percentile latency"),
        _m("p99_ms", "endpoint", "ms", "requests", "99th percentile latency"),
        _m("request_rate", "endpoint", "per_second", "seconds covered", "requests per second"),
        _m(
            "throughput_ratio",
            "endpoint",
            "ratio",
            "expected requests",  # the expected rate times the seconds of the window covered
            "request rate / expected rate (no data until a baseline exists)",
            test="poisson",
        ),
        _m("log_errors", "endpoint", "count", "log lines", "error and critical log lines"),
        _m("cpu_pct", "host", "percent", "resource samples", "latest CPU reading"),
        _m("cpu_max_pct", "host", "percent", "resource samples", "highest CPU reading"),
        _m("mem_pct", "host", "percent", "resource samples", "latest memory reading"),
        _m("mem_max_pct", "host", "percent", "resource samples", "highest memory reading"),
        _m("queue_depth", "queue", "count", "queue samples", "latest queue depth"),
        _m("queue_depth_max", "queue", "count", "queue samples", "highest queue depth"),
        _m(
            "queue_growth",
            "queue",
            "per_second",
            "queue samples",
            "depth change per second",
            low=None,  # a queue also shrinks
        ),
        _m("bot_crashes", "bot", "count", "bot panes", "transitions to a crash status"),
        _m("bot_offline", "bot", "count", "bot panes", "1 when the bot's last status is offline"),
        _m("integrity_failures", "check", "count", "checks", "failed integrity checks"),
        _m(
            "service_error_rate",
            "service",
            "ratio",
            "requests",
            "5xx responses / requests over every endpoint of the service",
            over="endpoint",
            high=1.0,
            test="proportion",
        ),
        _m("bots_offline", "service", "count", "bots known", "bots offline", over="bot"),
        _m("bot_errors", "service", "count", "bots known", "bots with errors", over="bot"),
        # Backups: ages at the evaluation's event time, from what the dataset ever reported
        # (kept across restarts); with none of the kind on record, since the dataset was first
        # seen — so a backup stream that stops, or never included the kind, still ages.
        _age(
            "backup_age",
            "successful backups on record",
            "time since the newest successful backup (any type) was taken",
        ),
        _age(
            "full_backup_age",
            "successful full backups on record",
            "time since the newest successful full backup was taken",
        ),
        _age(
            "offsite_backup_age",
            "successful off-site backups on record",
            "time since the newest successful off-site backup was taken",
        ),
        _age(
            "restore_test_age",
            "passed restore tests on record",
            "time since a restore test last passed",
        ),
        _m(
            "backup_failures",
            "dataset",
            "count",
            "backup types attempted",
            "backup types whose latest attempt failed",
            windowed=False,
        ),
    )
}

# Which scope fields a rule may match on, per dimension (the service always).
MATCH_KEYS: dict[Dimension, tuple[str, ...]] = {
    "endpoint": ("service", "endpoint"),
    "host": ("service", "host"),
    "queue": ("service", "queue"),
    "bot": ("service", "bot"),
    "check": ("service", "check"),
    "dataset": ("service", "dataset"),
    "service": ("service",),
}
