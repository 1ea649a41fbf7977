"""Verify's judgement of live panes: enough requests, error rate and p95 under the baseline."""

from __future__ import annotations

from handlers.config import RollbackConfig
from handlers.rollback.health import judge, window_of
from tests.support.decisions import healthy_pane

CFG = RollbackConfig(verify_min_requests=20, baseline_error_rate=0.01, baseline_p95_ms=1000)
T = 1_800_000_000_000


def test_healthy_when_enough_requests_are_under_the_baseline() -> None:
    panes = [healthy_pane("chat-api", T + i * 1000) for i in range(3)]
    ok, evidence = judge(window_of("chat-api", panes, T, T + 5000), CFG)
    assert ok and evidence["requests"] == 150 and evidence["verdict"] == "back under the baseline"


def test_too_few_requests_is_no_data_never_a_pass() -> None:
    ok, evidence = judge(
        window_of("chat-api", [healthy_pane("chat-api", T, requests=5)], T, T + 5000), CFG
    )
    assert not ok and evidence["verdict"].startswith("no data")


def test_errors_or_slowness_above_the_baseline_fail() -> None:
    errors = [healthy_pane("chat-api", T, requests=100, errors=5)]
    assert (
        judge(window_of("chat-api", errors, T, T + 5000), CFG)[1]["verdict"]
        == "error rate above baseline"
    )
    slow = healthy_pane("chat-api", T, requests=100)
    assert slow.requests is not None
    # ~4 s in the sketch (gamma = 1.01/0.99, bucket 415) and as the slowest request
    sketch = slow.requests.latency.model_copy(update={"offset": 415})
    stats = slow.requests.model_copy(update={"latency": sketch, "min_ms": 3900.0, "max_ms": 4100.0})
    slow = slow.model_copy(update={"requests": stats})
    ok, evidence = judge(window_of("chat-api", [slow], T, T + 5000), CFG)
    assert not ok and evidence["verdict"] == "p95 latency above baseline"


def test_only_the_service_and_the_window_count() -> None:
    panes = [
        healthy_pane("other", T),
        healthy_pane("chat-api", T - 10_000),
        healthy_pane("chat-api", T),
    ]
    assert window_of("chat-api", panes, T, T + 5000).requests == 50


async def test_verify_counts_only_panes_that_started_after_it_began() -> None:
    """Panes of the bad version (before the revert) can neither pass nor fail verify."""
    from handlers.rollback.kafka_probe import KafkaHealthProbe

    class _Clock:
        def now(self) -> float:
            return (T + 30_000) / 1000

    probe = KafkaHealthProbe("127.0.0.1:9", "panes", RollbackConfig(verify_window_s=30), _Clock())  # type: ignore[arg-type]
    for i in range(10):  # the bad version: half of the requests fail
        probe._keep(healthy_pane("chat-api", T + i * 1000, errors=25).model_dump_json().encode())
    for i in range(10, 25):  # after the revert at T+10s
        probe._keep(healthy_pane("chat-api", T + i * 1000).model_dump_json().encode())
    assert not (await probe.is_healthy("chat-api"))[0]  # the whole window: errors
    ok, evidence = await probe.is_healthy("chat-api", since=(T + 10_000) / 1000)
    assert ok and evidence["requests"] == 15 * 50 and evidence["window_start_ms"] == T + 10_000


async def test_verify_counts_the_latest_revision_of_a_pane_once() -> None:
    """A refinement (same pane_id, higher revision) replaces the pane; a re-sent or older
    revision changes nothing."""
    from handlers.rollback.kafka_probe import KafkaHealthProbe

    class _Clock:
        def now(self) -> float:
            return (T + 30_000) / 1000

    probe = KafkaHealthProbe("127.0.0.1:9", "panes", RollbackConfig(verify_window_s=30), _Clock())  # type: ignore[arg-type]
    pane = healthy_pane("chat-api", T + 5000)
    assert pane.requests is not None
    for revision, count in ((3, 50), (9, 80), (9, 80), (5, 60)):
        stats = pane.requests.model_copy(update={"count": count})
        refined = pane.model_copy(update={"revision": revision, "requests": stats})
        probe._keep(refined.model_dump_json().encode())
    _, evidence = await probe.is_healthy("chat-api")
    assert evidence["requests"] == 80
