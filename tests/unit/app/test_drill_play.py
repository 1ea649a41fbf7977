"""A drill's traffic: the scenario's events marked with the drill's id, the failing service
played under ``--service``'s name, and healed by the drill's delivered control calls."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice

from app.drills.play import DrillTraffic, fault_onset
from app.simulation.scenarios import Timeline
from schemas.telemetry import RequestEvent

START = 1_800_000_000.0


def test_every_event_carries_the_drill_and_the_failing_service_is_renamed() -> None:
    traffic = DrillTraffic("drill_1", "s1", START, Timeline(warmup_s=5, failure_s=5), "orders")
    events = list(traffic.events())
    assert events and {e.drill for e in events} == {"drill_1"}
    services = {e.service for e in events}
    assert "orders" in services and "chat-api" not in services  # s1 breaks chat-api
    assert fault_onset(START, 5) == START + 6


def test_a_delivered_rollback_heals_the_renamed_service_from_then_on() -> None:
    traffic = DrillTraffic("drill_1", "s1", START, Timeline(warmup_s=1, failure_s=30), "orders")
    at = datetime.fromtimestamp(START + 10, tz=UTC)
    traffic.heal([{"kind": "rollback", "payload": {"service": "orders"}, "finished_at": at}])
    assert traffic.remedies.rolled_back == {"chat-api": START + 10}  # the scenario's name
    late = [e for e in islice(traffic.events(), 200_000) if e.ts > START + 11]
    requests = [e for e in late if isinstance(e, RequestEvent) and e.service == "orders"]
    failing = [e for e in requests if e.status >= 500]
    assert requests and len(failing) / len(requests) < 0.05
