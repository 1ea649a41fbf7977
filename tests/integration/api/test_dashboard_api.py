"""The dashboard's JSON over a real HTTP server, its ring filled from real Kafka topics.

Panes and decisions are produced to fresh topics as stage 1 and stage 2 would; the ``api`` role
(built by the composition root) reads them. A restarted role refills the recent past by
timestamp — and only the recent past — so its graphs are not blank.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from app.pipeline import Pipeline, build_pipeline
from app.settings import AuthSettings, DashboardSettings, Settings
from handlers.incidents.manager import IncidentManager
from schemas.panes import PaneSummary, Scope
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.waiting import eventually
from tests.unit.app.test_dashboard_ring import pane

BOOTSTRAP = "bootstrap-admin-token-for-the-dashboard-tests"
MESSAGE = Scope(service="chat-api", dimension="endpoint", key="POST /api/message")
SERVICE = Scope(service="chat-api", dimension="service", key="chat-api")


@dataclass
class Running:
    pipeline: Pipeline
    client: httpx.AsyncClient
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        for role in reversed(self.pipeline.roles):
            await role.stop()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.client.aclose()
        await self.pipeline.close()


@pytest.fixture
async def dash_settings(
    database: str, make_topic: Callable[..., Awaitable[str]], bootstrap: str
) -> Settings:
    topics = {"panes": await make_topic("panes", 2), "decisions": await make_topic("decisions", 2)}
    return Settings(
        database_url=database,
        kafka_bootstrap=bootstrap,
        topics=topics,
        http_port=0,
        auth=AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP)),
        dashboard={"retention_s": 600},
    )


@pytest.fixture
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    sender = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await sender.start()
    yield sender
    await sender.stop()


async def start(settings: Settings) -> Running:
    """The api role as ``alertpipe run --role api`` builds it: HTTP server and dashboard."""
    pipeline = await build_pipeline(settings, ("api",))
    for role in pipeline.roles:
        await role.start()
    tasks = [asyncio.create_task(role.run()) for role in pipeline.roles]
    assert pipeline.http is not None
    client = httpx.AsyncClient(
        base_url=pipeline.http.url, headers={"Authorization": f"Bearer {BOOTSTRAP}"}
    )
    return Running(pipeline, client, tasks)


@pytest.fixture
async def api(dash_settings: Settings) -> AsyncIterator[Running]:
    running = await start(dash_settings)
    yield running
    await running.stop()


async def send_pane(
    producer: AIOKafkaProducer, settings: Settings, found: PaneSummary, at_ms: int | None = None
) -> None:
    await producer.send_and_wait(
        settings.topics.panes,
        found.model_dump_json().encode(),
        key=found.scope.id.encode(),
        timestamp_ms=at_ms,
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _series(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/series", params={"service": "chat-api", **params})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def _requests_seen(client: httpx.AsyncClient, count: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        answer = await client.get(
            "/api/series",
            params={"service": "chat-api", "dimension": "endpoint", "key": MESSAGE.key},
        )
        return answer.json() if answer.status_code == 200 else None

    def enough(found: dict[str, Any] | None) -> bool:
        if found is None:
            return False
        requests = found["scopes"][0]["series"]["requests"]
        return sum(1 for r in requests if r is not None) >= count

    got = await eventually(probe, enough, 20, f"{count} panes of requests in the series")
    assert got is not None
    return got


async def test_the_series_route_draws_what_flows_with_thresholds_firing_and_deploys(
    api: Running, producer: AIOKafkaProducer, dash_settings: Settings
) -> None:
    start_ms = (_now_ms() // 1000 - 30) * 1000
    for n in range(20):
        await send_pane(producer, dash_settings, pane(start_ms + n * 1000, errors=n % 2))
    deploy = {"ts": start_ms / 1000 + 5, "version": "2.4.0", "status": "succeeded"}
    await send_pane(producer, dash_settings, pane(start_ms + 5000, SERVICE, deploys=[deploy]))
    scope = {"service": "chat-api", "endpoint": MESSAGE.key}
    fired = decision(state="firing", at=start_ms / 1000 + 10, scope=scope, rule="core-error-rate")
    await producer.send_and_wait(dash_settings.topics.decisions, fired.model_dump_json().encode())

    found = await _requests_seen(api.client, 20)
    message = found["scopes"][0]
    requests = [r for r in message["series"]["requests"] if r is not None]
    assert requests == [4.0] * 20  # each test pane holds four requests
    assert [e for e in message["series"]["error_rate"] if e is not None] == [0.0, 0.25] * 10
    assert ("error_rate", 0.1) in {(t["series"], t["value"]) for t in message["thresholds"]}
    overview = await _series(api.client, minutes=1)
    assert [s["scope"]["dimension"] for s in overview["scopes"]] == ["endpoint", "service"]
    assert overview["deploys"] == [deploy]

    async def shaded() -> list[dict[str, Any]]:
        got = await _series(api.client, dimension="endpoint", key=MESSAGE.key)
        firing: list[dict[str, Any]] = got["scopes"][0]["firing"]
        return firing

    firing = await eventually(shaded, bool, 20, "the firing interval")
    assert firing == [
        {
            "rule": "core-error-rate",
            "metric": "error_rate",
            "severity": "CRITICAL",
            "from_ms": start_ms + 10_000,
            "to_ms": None,
            "series": "error_rate",
        }
    ]
    health = (await api.client.get("/health")).json()["roles"]["dashboard"]
    assert health["scopes"] == 2 and 0 < health["ring_bytes"] <= health["ring_bound_bytes"]
    text = (await api.client.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    (ring,) = families["alertpipe_dashboard_ring_bytes"].samples
    assert ring.value == health["ring_bytes"]
    lag = {
        s.labels["partition"]: s.value
        for s in families["alertpipe_consumer_lag"].samples
        if s.labels["stage"] == "dashboard"
    }
    assert lag == {"0": 0.0, "1": 0.0}  # both partitions of the panes topic, read to the end


async def test_the_dashboards_json_is_for_signed_in_viewers_and_names_bad_fields(
    api: Running,
) -> None:
    anonymous = await httpx.AsyncClient(base_url=api.client.base_url).get(
        "/api/series", params={"service": "chat-api"}
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthenticated"
    page = await httpx.AsyncClient(base_url=api.client.base_url).get("/")
    assert page.status_code == 200 and "uPlot.iife.min.js" in page.text  # the page: no data
    script = await httpx.AsyncClient(base_url=api.client.base_url).get(
        "/static/vendor/uplot/uPlot.iife.min.js"
    )
    assert script.status_code == 200 and "v1.6.32" in script.text[:100]
    too_far = await api.client.get("/api/series", params={"service": "a", "minutes": 11})
    assert too_far.status_code == 422
    assert too_far.json()["fields"][0]["field"] == "query.minutes"
    odd_step = await api.client.get("/api/series", params={"service": "a", "step_ms": 1500})
    assert odd_step.json()["fields"][0]["field"] == "query.step_ms"
    unknown = await api.client.get("/api/series", params={"service": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]


async def test_the_live_stream_sends_the_window_then_what_changed(
    api: Running, producer: AIOKafkaProducer, dash_settings: Settings
) -> None:
    start_ms = (_now_ms() // 1000 - 20) * 1000
    for n in range(5):
        await send_pane(producer, dash_settings, pane(start_ms + n * 1000))
    await _requests_seen(api.client, 5)
    params = {"service": "chat-api", "dimension": "endpoint", "key": MESSAGE.key, "minutes": 1}
    events: list[dict[str, Any]] = []
    async with api.client.stream("GET", "/api/stream", params=params) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        async for line in stream.aiter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 1:  # a newer pane, after the first message
                    await send_pane(producer, dash_settings, pane(start_ms + 10_000))
                got = events[-1]["scopes"][0]["series"]["requests"]
                newest = events[-1]["t"].index((start_ms + 10_000) // 1000)
                if len(events) > 1 and got[newest] is not None:
                    break
    first, last = events[0], events[-1]
    assert len(first["t"]) == 60  # the whole minute
    assert len(last["t"]) < len(first["t"])  # then only the recent buckets
    assert last["t"][0] >= first["t"][0]


async def test_a_restarted_api_refills_the_recent_past_from_kafka_by_timestamp(
    api: Running, producer: AIOKafkaProducer, dash_settings: Settings
) -> None:
    now_ms = _now_ms()
    old = (now_ms // 1000 - 3600) * 1000  # beyond the 600 s retention: must not come back
    await send_pane(producer, dash_settings, pane(old), at_ms=old + 1000)
    recent = (now_ms // 1000 - 60) * 1000
    for n in range(10):
        await send_pane(producer, dash_settings, pane(recent + n * 1000), at_ms=recent + n * 1000)
    await _requests_seen(api.client, 10)
    await api.stop()

    restarted = await start(dash_settings)
    try:
        feed = restarted.pipeline.dashboard
        assert feed is not None

        async def refilled() -> bool:
            return bool(feed.health()["refilled"])

        await eventually(refilled, bool, 20, "the refill")
        got = await _series(restarted.client, dimension="endpoint", key=MESSAGE.key, minutes=2)
        assert sum(r is not None for r in got["scopes"][0]["series"]["requests"]) == 10
        ring = feed.ring.get(MESSAGE)
        assert ring is not None and ring.window(0, old + 2000).start_ms.size == 0
    finally:
        await restarted.stop()


async def test_the_refill_reads_the_recent_past_and_then_the_rest_of_the_retention(
    producer: AIOKafkaProducer, dash_settings: Settings
) -> None:
    settings = dash_settings.model_copy(
        update={"dashboard": DashboardSettings(retention_s=600, refill_recent_s=120)}
    )
    now_s = _now_ms() // 1000
    older = [(now_s - 400 + n) * 1000 for n in range(5)]  # before the recent 120 s
    recent = [(now_s - 60 + n) * 1000 for n in range(5)]
    for start_ms in older + recent:
        await send_pane(producer, settings, pane(start_ms), at_ms=start_ms)
    pipeline = await build_pipeline(settings, ("api",))
    feed = pipeline.dashboard
    assert feed is not None
    await feed.start()
    # One scope, one partition: offsets 0-4 are the older part, 5-9 the recent 120 s. The live
    # reader begins at the recent part; the older part has a reader of its own.
    assert sorted(feed.refill_from.values()) == [(0, 0), (0, 5)]
    await feed.stop()
    await pipeline.close()
    restarted = await start(settings)
    try:
        feed = restarted.pipeline.dashboard
        assert feed is not None

        async def refilled() -> bool:
            return bool(feed.health()["refilled"])

        await eventually(refilled, bool, 20, "the refill")
        ring = feed.ring.get(MESSAGE)
        assert ring is not None
        assert sorted(ring.window(0, 10**15).start_ms.tolist()) == older + recent
    finally:
        await restarted.stop()


async def test_the_board_lists_open_incidents_first_with_the_next_escalation(
    api: Running,
) -> None:
    r = api.pipeline.responder
    assert r is not None
    manager = IncidentManager(r.incidents, None, r.settings.response, r.clock)  # type: ignore[arg-type]
    await manager.apply(decision(service="search-api", severity=Severity.MEDIUM, rule="q"))
    await manager.apply(decision(service="chat-api", severity=Severity.CRITICAL, rule="e"))
    board = (await api.client.get("/api/board")).json()
    assert [(i["service"], i["severity"], i["status"]) for i in board] == [
        ("chat-api", "CRITICAL", "open"),
        ("search-api", "MEDIUM", "open"),
    ]
    assert board[0]["next_step"]["step"] == "lead_engineer"
    assert 0 < board[0]["next_step"]["in_s"] <= r.settings.response.lead_engineer_after_s
    assert board[0]["age_s"] >= 0
