"""Every rule of the default policy on hand-made windows: breach, its boundary, no data."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.panes import Dimension, Scope
from schemas.window import WindowStats
from streams.evaluate.backups import BackupTrack
from streams.evaluate.rules import EXTRACTORS, MetricInput, compare, observe
from streams.policy import METRICS, load_policy

POLICY = load_policy()
KEYS: dict[Dimension, str] = {
    "endpoint": "POST /api/message",
    "host": "web-1",
    "queue": "bot-tasks",
    "bot": "bot-1",
    "check": "chat_history",
    "dataset": "chat_messages",
    "service": "chat-api",
}


def _window(dimension: Dimension, **fields: Any) -> WindowStats:
    scope = Scope(service="chat-api", dimension=dimension, key=KEYS[dimension])
    return WindowStats(scope=scope, start_ms=0, end_ms=60_000, **fields)


def _bot(status: str, *transitions: str) -> WindowStats:
    steps = tuple((1.0, s) for s in (transitions or (status,)))
    return _window("bot", panes=1, bot_status=status, bot_transitions=steps)


def _input(rule: str, **fields: Any) -> MetricInput:
    dimension = POLICY.rule(rule).info.dimension
    names = ("covered_s", "expected_rps", "bot_windows", "service_requests", "backups")
    extra = {k: fields.pop(k) for k in names if k in fields}
    return MetricInput(window=_window(dimension, **fields), **extra)


R = {"requests": 100}


def _errors(requests: int, errors: int) -> dict[str, Any]:
    return {"requests": requests, "errors": errors, "error_rate": errors / requests}


OFFLINE3 = (_bot("offline"), _bot("crashed"), _bot("offline"), _bot("online"))
OFFLINE2 = (_bot("offline"), _bot("crashed"), _bot("online"))
ERRORS = (_bot("error", "online", "error"),)
END = 60_000  # every window here ends at 60 s: a backup's age is counted to there
MIN = 60_000


def _track(first_seen_ms: int = END - 30 * MIN, **fields: Any) -> dict[str, BackupTrack]:
    newest = fields.pop("newest", {})
    counts = {kind: 1 for kind in newest}
    track = BackupTrack(first_seen_ms, newest_ms=newest, succeeded=counts, **fields)
    return {"backups": track}


# (rule, window fields, expected status)
TABLE: list[tuple[str, dict[str, Any], str]] = [
    ("core-error-rate-critical", _errors(100, 10), "clear"),  # exactly 10%: not above
    ("core-error-rate-critical", _errors(100_000, 10_500), "breach"),  # 99.9% bound 10.2%
    ("core-error-rate-critical", _errors(1_000, 105), "clear"),  # above, bound 7.9%: noise
    ("core-error-rate-critical", _errors(19, 19), "no_data"),
    ("core-error-rate-critical", _errors(20, 10), "breach"),  # 50% of 20: bound 21.6%
    ("core-error-rate-high", _errors(100, 5), "clear"),
    ("core-error-rate-high", _errors(100_000, 5_400), "breach"),  # bound 5.18%
    ("core-error-rate-high", _errors(1_000, 60), "clear"),  # 6% of 1000: bound 4.1%
    ("core-error-rate-high", {"requests": 0}, "no_data"),
    # service-wide: (requests, 5xx) summed over every endpoint of the service
    ("service-error-rate-critical", {"service_requests": (1000, 200)}, "clear"),  # exactly 20%
    ("service-error-rate-critical", {"service_requests": (100_000, 21_000)}, "breach"),
    ("service-error-rate-critical", {"service_requests": (100, 30)}, "clear"),  # bound 18.1%
    ("service-error-rate-critical", {"service_requests": (60, 30)}, "breach"),  # bound 31.5%
    ("service-error-rate-critical", {"service_requests": (19, 19)}, "no_data"),
    ("service-error-rate-high", {"service_requests": (100_000, 5_400)}, "breach"),
    ("service-error-rate-high", {"service_requests": (1_000, 60)}, "clear"),
    ("service-error-rate-high", {"service_requests": (0, 0)}, "no_data"),
    # the default SLO (99%): burn 14.4x = 14.4% errors over 1 h (short window: own test)
    ("slo-availability-page-fast", {"service_requests": (100_000, 15_000)}, "breach"),
    ("slo-availability-page-fast", {"service_requests": (100_000, 14_400)}, "clear"),
    ("slo-availability-page-fast", {"service_requests": (10, 5)}, "no_data"),
    ("slo-availability-page-slow", {"service_requests": (100_000, 6_500)}, "breach"),
    ("slo-availability-ticket", {"service_requests": (1_000_000, 10_500)}, "breach"),
    ("slo-availability-ticket", {"service_requests": (1_000, 15)}, "clear"),  # 1.5%, not sure
    ("latency-p95-critical", {**R, "p95_ms": 10_000.0}, "clear"),
    ("latency-p95-critical", {**R, "p95_ms": 10_000.5}, "breach"),
    ("latency-p95-high", {**R, "p95_ms": 5_000.0}, "clear"),
    ("latency-p95-high", {**R, "p95_ms": 5_000.5}, "breach"),
    ("latency-p95-high", {"requests": 19, "p95_ms": 9_000.0}, "no_data"),
    # 60 expected: below 50% is not enough, it must be improbable (P(X <= k) < 1e-6)
    ("throughput-collapse", {"requests": 30, "covered_s": 30.0, "expected_rps": 2.0}, "clear"),
    ("throughput-collapse", {"requests": 27, "covered_s": 30.0, "expected_rps": 2.0}, "clear"),
    ("throughput-collapse", {"requests": 26, "covered_s": 30.0, "expected_rps": 2.0}, "breach"),
    ("throughput-collapse", {"requests": 0, "covered_s": 30.0, "expected_rps": 2.0}, "breach"),
    ("throughput-collapse", {"requests": 0, "covered_s": 19.0, "expected_rps": 2.0}, "breach"),
    ("throughput-collapse", {"requests": 0, "covered_s": 9.0, "expected_rps": 2.0}, "no_data"),
    # a quiet endpoint: 0.2 req/s expects 6 in 30 s; 2 of them is ordinary, 0 unprovable
    ("throughput-collapse", {"requests": 2, "covered_s": 30.0, "expected_rps": 0.2}, "no_data"),
    ("throughput-collapse", {"requests": 0, "covered_s": 30.0, "expected_rps": 0.2}, "no_data"),
    ("throughput-collapse", {"requests": 10, "covered_s": 30.0}, "no_data"),  # no baseline
    ("cpu-high", {"resource_samples": 10, "cpu_max": 80.0}, "clear"),
    ("cpu-high", {"resource_samples": 10, "cpu_max": 80.1}, "breach"),
    ("cpu-high", {"resource_samples": 2, "cpu_max": 99.0}, "no_data"),
    ("memory-high", {"resource_samples": 10, "mem_max": 85.0}, "clear"),
    ("memory-high", {"resource_samples": 10, "mem_max": 85.1}, "breach"),
    ("memory-high", {"resource_samples": 10, "cpu_max": 99.0}, "no_data"),  # no memory reading
    ("queue-depth-high", {"queue_samples": 5, "queue_depth_last": 100}, "clear"),
    ("queue-depth-high", {"queue_samples": 5, "queue_depth_last": 101}, "breach"),
    ("queue-depth-high", {"queue_samples": 2, "queue_depth_last": 500}, "no_data"),
    ("queue-growing", {"queue_samples": 60, "queue_slope": 0.5}, "clear"),
    ("queue-growing", {"queue_samples": 60, "queue_slope": 0.51}, "breach"),
    ("queue-growing", {"queue_samples": 9, "queue_slope": 3.0}, "no_data"),
    ("queue-growing", {"queue_samples": 60, "queue_slope": None}, "no_data"),
    ("queue-growing-with-bot-errors",
     {"queue_samples": 60, "queue_slope": 2.0, "bot_windows": ERRORS}, "breach"),
    ("queue-growing-with-bot-errors",
     {"queue_samples": 60, "queue_slope": 2.0, "bot_windows": (_bot("online"),)}, "clear"),
    ("queue-growing-with-bot-errors", {"queue_samples": 60, "queue_slope": 2.0}, "clear"),
    ("queue-growing-with-bot-errors",
     {"queue_samples": 60, "queue_slope": 0.5, "bot_windows": ERRORS}, "clear"),
    ("bot-crash", {"panes": 3, "bot_transitions": ((1.0, "online"), (2.0, "crashed"))}, "breach"),
    ("bot-crash", {"panes": 3, "bot_transitions": ((1.0, "online"), (2.0, "offline"))}, "clear"),
    ("bot-crash", {"panes": 0}, "no_data"),
    ("bots-offline", {"bot_windows": OFFLINE3}, "breach"),  # >= 3: exactly 3 breaches
    ("bots-offline", {"bot_windows": OFFLINE2}, "clear"),
    ("bots-offline", {"bot_windows": OFFLINE3[:2]}, "no_data"),  # 2 bots known < 3
    ("integrity-failure", {"integrity_checks": 2, "integrity_failures": 1}, "breach"),
    ("integrity-failure", {"integrity_checks": 5, "integrity_failures": 0}, "clear"),
    ("integrity-failure", {"integrity_checks": 0, "integrity_failures": 0}, "no_data"),
    # backups: ages at the window's end, whatever its length; exactly the RPO is not older
    ("backup-rpo-chat_messages", _track(newest={"wal": END - 10 * MIN}), "clear"),
    ("backup-rpo-chat_messages", _track(newest={"wal": END - 10 * MIN - 1}), "breach"),
    ("backup-rpo-chat_messages", _track(newest={"wal": END - 11 * MIN, "full": END - MIN}),
     "clear"),  # any successful type counts
    ("backup-rpo-chat_messages", _track(END - 10 * MIN), "clear"),  # none yet, seen 10 min ago
    ("backup-rpo-chat_messages", _track(END - 10 * MIN - 1), "breach"),  # none since seen
    ("backup-rpo-chat_messages", {}, "no_data"),  # no track: the scope has no backups at all
    ("backup-rpo-bot_state", _track(newest={"wal": END - 59 * MIN}), "clear"),
    ("backup-rpo-bot_state", _track(newest={"wal": END - 61 * MIN}), "breach"),
    ("backup-rpo-configuration", _track(newest={"full": END - 61 * MIN}), "breach"),
    ("backup-full-overdue", _track(newest={"full": END - 60 * MIN}), "clear"),
    ("backup-full-overdue", _track(END - 2 * 60 * MIN, newest={"wal": END}), "breach"),
    ("backup-offsite-overdue", _track(newest={"offsite": END - 6 * 60 * MIN - 1}), "breach"),
    ("backup-offsite-overdue", _track(newest={"offsite": END - 5 * 60 * MIN}), "clear"),
    ("restore-test-overdue", _track(tested_ms=END - 7 * 24 * 60 * MIN - 1), "breach"),
    ("restore-test-overdue", _track(tested_ms=END - 6 * 24 * 60 * MIN), "clear"),
    ("backup-failed", _track(latest_ms={"full": 0}, failing=("full",)), "breach"),
    ("backup-failed", _track(latest_ms={"full": 0, "wal": 1}), "clear"),
    ("backup-failed", {}, "no_data"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "fields", "status"), TABLE, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(TABLE)]
)
def test_default_rule(rule: str, fields: dict[str, Any], status: str) -> None:
    observation = observe(POLICY.rule(rule), _input(rule, **dict(fields)))
    assert observation.status == status


def test_every_default_rule_is_in_the_table() -> None:
    assert {rule.name for rule in POLICY.rules} == {row[0] for row in TABLE}


def test_every_metric_of_the_policy_vocabulary_can_be_computed() -> None:
    assert set(EXTRACTORS) == set(METRICS)


def test_evidence_names_window_value_threshold_and_samples() -> None:
    rule = POLICY.rule("core-error-rate-critical")
    observation = observe(rule, _input(rule.name, requests=400, error_rate=0.4))
    evidence = observation.evidence
    assert (evidence.metric, evidence.observed, evidence.threshold) == ("error_rate", 0.4, 0.1)
    assert (evidence.window_start_ms, evidence.window_end_ms) == (0, 60_000)
    assert (evidence.samples, evidence.min_samples, evidence.comparison) == (400, 20, ">")


@pytest.mark.parametrize(
    ("observed", "comparison", "threshold", "expected"),
    [
        (10.0, ">", 10.0, False),
        (10.0, ">=", 10.0, True),
        (10.0, "<", 10.0, False),
        (10.0, "<=", 10.0, True),
        (10.0, "==", 10.0, True),
        (10.0, "!=", 10.0, False),
    ],
)
def test_compare_boundaries(
    observed: float, comparison: Any, threshold: float, expected: bool
) -> None:
    assert compare(observed, comparison, threshold) is expected


def test_core_rules_watch_only_the_core_endpoints() -> None:
    rule = POLICY.rule("core-error-rate-critical")
    core = [Scope(service="s", dimension="endpoint", key=k) for k in (
        "POST /api/search", "POST /api/message", "POST /api/bot/launch")]  # fmt: skip
    assert all(rule.matches(scope) for scope in core)
    assert not rule.matches(Scope(service="s", dimension="endpoint", key="GET /api/history"))
    assert not rule.matches(Scope(service="s", dimension="host", key="POST /api/message"))


@pytest.mark.parametrize(
    ("long", "short", "status"),
    [
        ((100_000, 20_000), (5_000, 1_000), "breach"),  # both windows burn
        ((100_000, 20_000), (5_000, 100), "clear"),  # the short window has recovered
        ((100_000, 1_000), (5_000, 1_000), "clear"),  # a spike too short for the long one
        ((100_000, 20_000), (10, 5), "no_data"),  # the short window cannot be judged
    ],
)
def test_a_multi_window_rule_breaches_only_on_both_windows(
    long: tuple[int, int], short: tuple[int, int], status: str
) -> None:
    rule = POLICY.rule("slo-availability-page-fast")
    found = observe(
        rule,
        _input(rule.name, service_requests=long),
        _input(rule.name, service_requests=short),
    )
    assert found.status == status
    if status != "no_data":
        assert found.evidence.short_observed == pytest.approx(short[1] / short[0])
