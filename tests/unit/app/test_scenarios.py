from collections import Counter
from itertools import groupby

import pytest

from app.settings import AggregatorSettings
from app.simulation.scenarios import BACKUP_SCHEDULE, DATASETS, SCENARIOS, Timeline, generate
from schemas.decisions import Decision
from schemas.telemetry import (
    BackupEvent,
    BotEvent,
    DeployEvent,
    IntegrityEvent,
    QueueEvent,
    RequestEvent,
    RestoreTestEvent,
    encode_event,
)
from streams.aggregate.partition import PaneRules
from streams.evaluate.engine import Evaluation
from streams.policy import load_policy
from tests.unit.streams.aggregate.telemetry_factory import BASE_MS, run_all

START = 1_795_626_000.0
SHORT = Timeline(warmup_s=20, failure_s=20, rate=200, seed=3)


def _events(name: str, timeline: Timeline = SHORT) -> list:
    return list(generate(name, START, timeline))  # type: ignore[arg-type]


def _error_rate(events: list, route: str, after: bool) -> float:
    deploy_at = START + SHORT.warmup_s + 1
    chosen = [
        e
        for e in events
        if isinstance(e, RequestEvent) and e.endpoint == route and (e.ts >= deploy_at) == after
    ]
    return sum(e.status >= 500 for e in chosen) / len(chosen)


@pytest.mark.parametrize("name", SCENARIOS)
def test_events_are_time_ordered_and_inside_the_timeline(name: str) -> None:
    events = _events(name)
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)
    assert stamps[0] >= START and stamps[-1] < START + SHORT.total_s


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_covers_the_plans_signals(name: str) -> None:
    kinds = Counter(e.kind for e in _events(name))
    assert {"request", "resource", "queue", "bot", "integrity", "deploy"} <= set(kinds)
    requests = kinds["request"]
    assert 0.8 * SHORT.rate * SHORT.total_s * 0.4 < requests < 1.2 * SHORT.rate * SHORT.total_s


def test_same_seed_same_traffic() -> None:
    assert _events("s1") == _events("s1")
    assert _events("s1") != _events("s1", Timeline(warmup_s=20, failure_s=20, seed=4))


def test_deploy_of_a_new_version_then_requests_carry_it() -> None:
    events = _events("s1")
    deploys = [e for e in events if isinstance(e, DeployEvent)]
    assert [(d.version, d.status) for d in deploys] == [
        ("2.4.0", "started"),
        ("2.4.0", "succeeded"),
    ]
    chat = [e for e in events if isinstance(e, RequestEvent) and e.service == "chat-api"]
    assert {e.version for e in chat if e.ts < deploys[0].ts} == {"2.3.9"}
    assert {e.version for e in chat if e.ts >= deploys[0].ts} == {"2.4.0"}


def test_s1_breaks_post_api_message_only_after_the_deploy() -> None:
    events = _events("s1")
    assert _error_rate(events, "POST /api/message", after=False) < 0.02
    assert _error_rate(events, "POST /api/message", after=True) > 0.25
    assert _error_rate(events, "POST /api/search", after=True) < 0.03


def test_healthy_stays_under_the_plans_baselines() -> None:
    events = _events("healthy")
    for route in ("POST /api/message", "POST /api/search", "POST /api/bot/launch"):
        assert _error_rate(events, route, after=True) < 0.01
    latencies = sorted(e.latency_ms for e in events if isinstance(e, RequestEvent))
    assert latencies[int(0.95 * len(latencies))] < 1000
    assert all(e.ok for e in events if isinstance(e, IntegrityEvent))


def test_s2_fails_an_integrity_check() -> None:
    failed = [e for e in _events("s2") if isinstance(e, IntegrityEvent) and not e.ok]
    assert failed and {e.check for e in failed} == {"chat_history"}


def test_s3_is_slow_with_a_growing_queue() -> None:
    events = _events("s3")
    after = START + SHORT.warmup_s + 1
    slow = sorted(
        e.latency_ms
        for e in events
        if isinstance(e, RequestEvent) and e.service == "chat-api" and e.ts >= after
    )
    assert slow[int(0.95 * len(slow))] > 5000
    depths = [e.depth for e in events if isinstance(e, QueueEvent) and e.ts >= after]
    assert depths[-1] > 100 and depths == sorted(depths)


def _decisions_from(name: str) -> list[Decision]:
    """The scenario's traffic through stage 1 (panes, in-process) and stage 2 (the
    evaluator's engine) with the default settings and the built-in plan."""
    start = BASE_MS / 1000 - Timeline().total_s  # before the fake records' broker time
    raw = [encode_event(e) for e in generate(name, start)]  # type: ignore[arg-type]
    _, panes = run_all(raw, PaneRules(**AggregatorSettings().model_dump()), batch=1000)
    engine, decisions = Evaluation(load_policy(None)), []
    for _, closing in groupby(sorted(panes, key=lambda p: p.end_ms), key=lambda p: p.end_ms):
        for pane in closing:
            engine.add(pane)
        decisions.extend(engine.advance().decisions)
    return decisions


def _firing(decisions: list[Decision]) -> set[tuple[str, str, str]]:
    return {(d.rule, d.service, d.severity.name) for d in decisions if d.state == "firing"}


def test_s3_bots_report_errors_while_the_queue_grows() -> None:
    after = START + SHORT.warmup_s + 1
    bots = [e for e in _events("s3") if isinstance(e, BotEvent)]
    assert {e.bot_id for e in bots if e.status == "error"} == {"bot-5", "bot-6"}
    assert all(e.status == "online" for e in bots if e.ts < after)


def test_s3_traffic_fires_the_plans_s3_alerts() -> None:
    """Latency HIGH on chat-api, and the queue growing while bot-runner's bots report errors
    (the plan's "queue depth growing, bot errors"), both HIGH and classified S3."""
    firing = _firing(_decisions_from("s3"))
    assert ("latency-p95-high", "chat-api", "HIGH") in firing, firing
    assert ("queue-growing-with-bot-errors", "bot-runner", "HIGH") in firing, firing
    assert not any(severity == "CRITICAL" for _, _, severity in firing), firing


def test_healthy_traffic_fires_nothing() -> None:
    assert _firing(_decisions_from("healthy")) == set()


def test_s4_takes_several_services_and_bots_down() -> None:
    events = _events("s4")
    assert {e.service for e in events if isinstance(e, DeployEvent)} == {"chat-api", "bot-runner"}
    for route in ("POST /api/message", "POST /api/search", "POST /api/bot/launch"):
        assert _error_rate(events, route, after=True) > 0.2
    down = {e.bot_id for e in events if isinstance(e, BotEvent) and e.status != "online"}
    assert len(down) >= 3


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of healthy"):
        list(generate("s9", START))  # type: ignore[arg-type]


def test_backups_follow_the_plans_schedule_with_an_inventory_first() -> None:
    events = _events("healthy", Timeline(warmup_s=300, failure_s=400, rate=2.0))
    backups = [e for e in events if isinstance(e, BackupEvent)]
    tests = [e for e in events if isinstance(e, RestoreTestEvent)]
    # As it starts, the agent reports the newest backup of each type and the restore test:
    first = [b for b in backups if b.taken_at < START]
    assert {(b.dataset, b.type) for b in first} == {
        (d, kind) for d in DATASETS for kind, _, _ in BACKUP_SCHEDULE
    }
    assert all(b.ts == START and b.status == "succeeded" for b in first)
    assert {(t.dataset, t.ok) for t in tests} == {(d, True) for d in DATASETS}
    assert {t.backup_id for t in tests} == {b.backup_id for b in first if b.type == "full"}
    # then every backup as it is taken: the log every 5 minutes, on the clock
    later = [b for b in backups if b.taken_at >= START]  # START is on the hour: wal and full
    wal = sorted({b.taken_at for b in later if b.type == "wal"})
    assert [t - START for t in wal] == [0, 300, 600]
    assert all(b.ts == b.taken_at and b.service == DATASETS[b.dataset] for b in later)
