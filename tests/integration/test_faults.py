"""The fault suite: what an operator meets, on private servers.

The broker stopped for 20 s during a rollback, PostgreSQL stopped for 20 s during verify, the
pager failing (500, 429 with Retry-After, hanging) for 12 s — the plan's 3 minutes, with
``delivery.pager_dead_after_s`` shortened to 4 s. Each runs ``alertpipe run`` (every role) as a
child process against a Kafka and a PostgreSQL of this module's own, started on other ports
as test_local_infra.py's private instance is (the shared servers are never stopped), with live
telemetry flowing through stage 1 and its receivers pointed at a loopback recorder. For each:
the process stays up (or, past its outage budget, exits non-zero promptly), the incident is
not lost, there is exactly one rollback idempotency key per incident, the page is delivered
once the pager is back, ``/health`` told the truth throughout, and SIGTERM ends the process
within 15 s. Durations are shortened through settings only.

Each test records its figures (the time from the dependency's return to the pipeline's
recovery, and what was delivered late) and prints them; with ``ALERTPIPE_FAULT_FIGURES=path``
they are appended there as JSON lines.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from app.local import down, ensure_up, kafka, postgres
from app.settings import LocalSettings, Settings
from schemas.decisions import Decision
from tests.support.contracts import COMPONENTS, ROUTING_KEY, STATUSPAGE_KEY, service_contracts
from tests.support.decisions import decision
from tests.support.faults import Child, HealthLog, feed_requests, free_ports
from tests.support.recorder import Recorder
from tests.support.stack import RECEIVERS
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

OUTAGE_S = 20.0  # how long the broker and the database stay away
PAGER_FAULT_S = 12.0  # how long the pager fails (the plan's 3 minutes, shortened)
ACCEPTED = 202  # PagerDuty's answer to an event it took (tests.support.contracts)


def _quiet(line: str) -> None:
    return None


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[Settings]:
    """A Kafka and a PostgreSQL of this module's own: the tests stop and start them."""
    folder = Path(tempfile.mkdtemp(prefix="alertpipe-faults-"))
    folder.chmod(0o755)  # as root, the PostgreSQL server runs as `postgres`
    kafka_port, controller_port, pg_port = free_ports(3)
    local = LocalSettings(
        dir=folder,
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        postgres_port=pg_port,
        kafka_heap="256m",
    )
    settings = Settings(kafka_bootstrap=None, database_url=None, local=local)
    try:
        await ensure_up(settings, progress=_quiet)
        yield settings
    finally:
        await down(settings, progress=_quiet, purge=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder(contracts=service_contracts()) as rec:  # pager, chat, status page
        yield rec


async def _new_database(servers: Settings) -> str:
    """A fresh database on the private server (dropped with the server); its DSN."""
    name = f"faults_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(servers.dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return servers.dsn.rpartition("/")[0] + f"/{name}"


@pytest.fixture
async def database(servers: Settings) -> str:
    return await _new_database(servers)


@pytest.fixture
def children() -> list[Child]:
    return []


@pytest.fixture(autouse=True)
async def _no_child_left(children: list[Child]) -> AsyncIterator[None]:
    yield
    for child in children:
        await child.kill()


def _env(
    servers: Settings, dsn: str, rec: Recorder, prefix: str, **settings: str
) -> dict[str, str]:
    """``alertpipe run``'s environment: its own topics, groups and HTTP port; every duration
    shortened through ``ALERTPIPE_*`` variables (``settings`` adds or overrides)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    values = {
        "DATABASE_URL": dsn,
        "KAFKA_BOOTSTRAP": servers.bootstrap,
        "GROUP_PREFIX": prefix,
        "WEBHOOK_SECRET": "faults-secret",
        # the keys and ids the receivers require, as tests.support.contracts checks them
        "PAGER_ROUTING_KEY": ROUTING_KEY,
        "STATUSPAGE_API_KEY": STATUSPAGE_KEY,
        "STATUSPAGE_COMPONENTS": json.dumps(COMPONENTS),
        "HTTP_PORT": str(free_ports(1)[0]),
        "TOPICS__PARTITIONS": "2",
        "EVALUATOR__STATE_TOPIC": f"{prefix}.alerts.state",
        "AGGREGATOR__ALLOWED_LATENESS_MS": "1000",
        "AGGREGATOR__IDLE_TIMEOUT_MS": "1000",
        "RESPONSE__TIMERS_POLL_S": "0.2",
        "RESPONSE__CHAT_UPDATE_EVERY_S": "3600",
        "RESPONSE__STATUS_UPDATE_EVERY_S": "3600",
        "ROLLBACK__POLL_S": "0.1",
        "ROLLBACK__LEASE_S": "2",
        "ROLLBACK__VERIFY_EVERY_S": "0.5",
        "ROLLBACK__VERIFY_WINDOW_S": "6",
        "ROLLBACK__VERIFY_MIN_REQUESTS": "5",
        "ROLLBACK__VERIFY_MIN_S": "1",
        "ROLLBACK__VERIFY_BUDGET_S": "180",
        "DELIVERY__POLL_S": "0.1",
        "DELIVERY__TIMEOUT_S": "1",
        "DELIVERY__LEASE_S": "3",
        "DELIVERY__BACKOFF_INITIAL_S": "0.2",
        "DELIVERY__BACKOFF_MAX_S": "1",
        "SUPERVISION__PROBE_EVERY_S": "0.5",
        "SUPERVISION__PROBE_TIMEOUT_S": "3",
        "SUPERVISION__BACKOFF_INITIAL_S": "0.2",
        "SUPERVISION__BACKOFF_MAX_S": "2",
        "SUPERVISION__OUTAGE_BUDGET_S": "120",
        **settings,
    }
    env.update({f"ALERTPIPE_{name}": value for name, value in values.items()})
    for topic in ("telemetry", "dead_letter", "panes", "decisions", "incidents"):
        env[f"ALERTPIPE_TOPICS__{topic.upper()}"] = f"{prefix}.{topic}"
    for name in RECEIVERS:
        env[f"ALERTPIPE_{name.upper()}_URL"] = rec.url(f"/{name}")
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _send(bootstrap: str, topic: str, *decisions: Decision) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for d in decisions:
            await producer.send_and_wait(
                topic, d.model_dump_json().encode(), key=d.service.encode()
            )
    finally:
        await producer.stop()


async def _value(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _when(probe: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str,
                within_s: float = 120) -> float:  # fmt: skip
    """Wait for the condition; the moment (monotonic) it was seen."""
    await eventually(probe, done, within_s=within_s, what=what, every_s=0.1)
    return time.monotonic()


def _rollbacks_succeeded(dsn: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        done = await _value(dsn, "SELECT count(*) FROM rollbacks WHERE status = 'succeeded'")
        return bool(done == count)

    return probe


def _one_key_per_effect(rec: Recorder, services: set[str]) -> None:
    """Per incident: one revert key and one delivered detection page trigger, each effect under
    a single idempotency key; re-sends repeat their key."""
    reverts = {r.key for r in rec.on("/rollback")}
    assert len(reverts) == len(services), f"rollback keys: {sorted(map(str, reverts))}"
    assert {r.json["service"] for r in rec.on("/rollback")} == services
    triggers = [r for r in rec.on("/pager") if r.json["event_action"] == "trigger"]
    assert len({r.key for r in triggers}) == len(services), [r.key for r in triggers]
    assert {r.key for r in triggers if r.answered == ACCEPTED} == {r.key for r in triggers}


def _truthful(health: HealthLog, down_at: float, back_at: float, dependency: str) -> float:
    """/health answered throughout; it noticed the outage (503 naming the dependency) and, once
    it had, never said 200 again until the dependency was back. How long noticing took."""
    assert all(s.status is not None for s in health.samples), "the HTTP port stopped answering"
    noticed = health.first(down_at, 503, dependency)
    assert noticed is not None and noticed.at < back_at, f"{dependency} outage never on /health"
    during = health.between(noticed.at, back_at)
    assert all(s.status == 503 for s in during), [(s.status, s.waiting_for) for s in during]
    return noticed.at - down_at


def _report(fault: str, figures: dict[str, Any]) -> None:
    line = {"fault": fault, **{k: round(v, 2) if isinstance(v, float) else v
                               for k, v in figures.items()}}  # fmt: skip
    print(f"\nfigures: {json.dumps(line)}")
    target = os.environ.get("ALERTPIPE_FAULT_FIGURES")
    if target:
        with Path(target).open("a") as out:
            out.write(json.dumps(line) + "\n")


async def _start(children: list[Child], env: dict[str, str], log: Path, *args: str) -> float:
    child = Child(env, log, *args)
    children.append(child)
    await child.start()
    return await child.wait_ready()


async def test_a_broker_stopped_for_20_s_during_a_rollback_is_ridden_out(
    servers: Settings, database: str, recorder: Recorder, children: list[Child], tmp_path: Path
) -> None:
    """Kafka stops right after the breaker opened (as in the report: 0.3 s after) with
    telemetry flowing through stage 1's transactions. The process rides it out and finishes
    the rollback once Kafka is back; beside it, a process whose outage budget is 4 s exits
    non-zero, and one (every role, telemetry flowing too) told SIGTERM halfway through the
    outage ends within 15 s — the reported hang."""
    prefix = f"faults-kafka-{uuid.uuid4().hex[:6]}"
    env = _env(servers, database, recorder, prefix)
    cold_start_s = await _start(children, env, tmp_path / "run.log")
    impatient_env = _env(
        servers, database, recorder, f"{prefix}-impatient", SUPERVISION__OUTAGE_BUDGET_S="4"
    )
    await _start(children, impatient_env, tmp_path / "impatient.log", "--role", "aggregator")
    other_db = await _new_database(servers)
    stopped_env = _env(servers, other_db, recorder, f"{prefix}-sigterm")
    await _start(children, stopped_env, tmp_path / "sigterm.log")
    child, impatient, stopped = children
    health = HealthLog(child.health_url)
    health.start()
    topics = {t: f"{prefix}.{t}" for t in ("telemetry", "decisions")}
    feeding = [
        asyncio.create_task(feed_requests(servers.bootstrap, f"{p}.telemetry", ("chat-api",)))
        for p in (prefix, f"{prefix}-sigterm")
    ]
    try:
        await _send(servers.bootstrap, topics["decisions"], decision("chat-api"))
        await recorder.wait_for(lambda r: len(r.on("/breaker")) >= 1, 60, "the breaker opened")
        down_at = time.monotonic()
        await kafka.stop(servers, _quiet, purge=False)
        impatient_exit = asyncio.create_task(_exit_after(impatient, down_at, within_s=30))
        await asyncio.sleep(OUTAGE_S / 2)  # the fault itself, halfway
        _, sigterm_in_outage_s = await stopped.terminate(within_s=15)
        await asyncio.sleep(max(0.0, down_at + OUTAGE_S - time.monotonic()))  # the rest of it
        assert child.returncode is None, child.tail()
        code, impatient_exit_s = await impatient_exit
        assert code == 1 and "outage budget 4 s" in impatient.tail(200), impatient.tail()
        await kafka.ensure_up(servers, _quiet)
        back_at, back_wall = time.monotonic(), time.time()

        await _when(lambda: _last(health), lambda s: s == 200, "/health 200 after the broker")
        await _when(_rollbacks_succeeded(database, 1), bool, "rollback done")
        unpublished = "SELECT count(*) FROM incident_events WHERE published_at IS NULL"
        await _when(lambda: _value(database, unpublished), lambda n: n == 0, "events published")
        late_events = await _value(
            database,
            "SELECT count(*) FROM incident_events WHERE published_at >= to_timestamp($1)",
            back_wall,
        )
    finally:
        for task in feeding:
            task.cancel()
        await health.stop()
    noticed_s = _truthful(health, down_at, back_at, "kafka")
    assert child.returncode is None, child.tail()
    code, stop_s = await child.terminate(within_s=15)
    assert code == 0, child.tail()

    assert await _value(database, "SELECT count(*) FROM incidents WHERE service = 'chat-api'") == 1
    assert await _value(database, "SELECT count(*) FROM rollbacks") == 1
    _one_key_per_effect(recorder, {"chat-api"})
    assert "aggregator started again" in child.tail(2000)  # stage 1 was restarted in place
    ready_s = _ready_after(health, back_at)
    _report(
        "kafka stopped 20 s during a rollback",
        {
            "health_noticed_s": noticed_s,
            "ready_after_return_s": ready_s,
            "rollback_done_after_return_s": await _since(database, _ROLLED_BACK, back_wall),
            "events_published_after_return_s": await _since(database, _PUBLISHED, back_wall),
            "incident_events_delivered_late": late_events,
            "impatient_process_exit_after_outage_began_s": impatient_exit_s,
            "sigterm_during_outage_exit_s": sigterm_in_outage_s,
            "sigterm_exit_s": stop_s,
            "cold_start_s": cold_start_s,
            "ready_after_return_vs_cold_start": ready_s / cold_start_s,
        },
    )


async def test_postgres_stopped_for_20_s_during_verify_is_ridden_out(
    servers: Settings, database: str, recorder: Recorder, children: list[Child], tmp_path: Path
) -> None:
    """PostgreSQL stops once verify began (it waits for panes that only flow later); a second
    service's CRITICAL decision arrives while the database is away and is acted on after."""
    prefix = f"faults-pg-{uuid.uuid4().hex[:6]}"
    env = _env(servers, database, recorder, prefix)
    cold_start_s = await _start(children, env, tmp_path / "run.log")
    [child] = children
    health = HealthLog(child.health_url)
    health.start()
    topics = {t: f"{prefix}.{t}" for t in ("telemetry", "decisions")}
    feeding: asyncio.Task[None] | None = None
    try:
        await _send(servers.bootstrap, topics["decisions"], decision("chat-api"))
        verifying = "SELECT count(*) FROM rollback_phases WHERE phase = 'verify'"
        await eventually(lambda: _value(database, verifying), lambda n: n == 1, 60, "verify")
        down_at = time.monotonic()
        await postgres.stop(servers, _quiet, purge=False)
        services = ("chat-api", "search-api")
        feeding = asyncio.create_task(
            feed_requests(servers.bootstrap, topics["telemetry"], services)
        )
        await _send(servers.bootstrap, topics["decisions"], decision("search-api", seq=2))
        await asyncio.sleep(OUTAGE_S)  # the fault itself
        assert child.returncode is None, child.tail()
        await postgres.ensure_up(servers, _quiet)
        back_at, back_wall = time.monotonic(), time.time()

        await _when(lambda: _last(health), lambda s: s == 200, "/health 200 after the database")
        # the wake-ups (LISTEN/NOTIFY) came back too: the listener was started again
        woken_at = await _when(
            lambda: _role(child.health_url, "notifications"),
            lambda r: r["ready"] and r["reconnects"] >= 1 and r["restarts"] >= 1,
            "the notifications listener back",
        )
        await _when(_rollbacks_succeeded(database, 2), bool, "both rollbacks")
        await recorder.wait_for(lambda r: bool(_pages_of(r, "search-api")), 30, "search-api paged")
    finally:
        if feeding is not None:
            feeding.cancel()
        await health.stop()
    noticed_s = _truthful(health, down_at, back_at, "postgres")
    code, stop_s = await child.terminate(within_s=15)
    assert code == 0, child.tail()

    incidents = "SELECT count(*) FROM incidents WHERE service = $1"
    assert [await _value(database, incidents, s) for s in ("chat-api", "search-api")] == [1, 1]
    _one_key_per_effect(recorder, {"chat-api", "search-api"})
    ready_s = _ready_after(health, back_at)
    opened = "SELECT opened_at FROM incidents WHERE service = 'search-api'"
    _report(
        "postgres stopped 20 s during verify",
        {
            "health_noticed_s": noticed_s,
            "ready_after_return_s": ready_s,
            "wake_ups_back_after_return_s": woken_at - back_at,
            "rollbacks_done_after_return_s": await _since(database, _ROLLED_BACK, back_wall),
            "incident_of_decision_made_during_outage_after_return_s": (
                (await _value(database, opened)).timestamp() - back_wall
            ),
            "its_page_after_return_s": _pages_of(recorder, "search-api")[0].at - back_wall,
            "delivered_late": "search-api's incident, page and rollback (its decision came "
            "while the database was away); chat-api's verify verdict and resume",
            "sigterm_exit_s": stop_s,
            "cold_start_s": cold_start_s,
            "ready_after_return_vs_cold_start": ready_s / cold_start_s,
        },
    )


async def test_a_pager_failing_for_minutes_is_an_incident_and_its_page_arrives_after(
    servers: Settings, database: str, recorder: Recorder, children: list[Child], tmp_path: Path
) -> None:
    """The pager answers 500, then 429 with Retry-After, then hangs, in turn: the rollback goes
    on regardless, the dead pager is said in chat and to the fallback, the page is retried past
    its attempts and delivered once the pager is back, under its one key."""
    prefix = f"faults-pager-{uuid.uuid4().hex[:6]}"
    env = _env(servers, database, recorder, prefix, DELIVERY__PAGER_DEAD_AFTER_S="4")
    recorder.outage("/pager", (500, None), (429, "1"), 2.0)
    await _start(children, env, tmp_path / "run.log")
    [child] = children
    health = HealthLog(child.health_url)
    health.start()
    topics = {t: f"{prefix}.{t}" for t in ("telemetry", "decisions")}
    feeding = asyncio.create_task(
        feed_requests(servers.bootstrap, topics["telemetry"], ("chat-api",))
    )
    try:
        await _send(servers.bootstrap, topics["decisions"], decision("chat-api"))
        await recorder.wait_for(lambda r: len(r.on("/pager")) >= 1, 60, "the first page attempt")
        failing_at = time.monotonic()
        await _when(_rollbacks_succeeded(database, 1), bool, "the rollback, pager or not", 60)
        await recorder.wait_for(_said("pager_down"), 30, "the fallback told the pager is down")
        await asyncio.sleep(max(0.0, failing_at + PAGER_FAULT_S - time.monotonic()))  # the fault
        attempts = len(recorder.on("/pager"))
        recorder.restore("/pager")
        back_wall = time.time()
        await recorder.wait_for(
            lambda r: r.on("/pager")[-1].answered == ACCEPTED, 30, "page delivered"
        )
        await recorder.wait_for(_said("pager_back"), 30, "the fallback told the pager is back")
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(child.health_url.replace("/health", "/metrics"))).text
    finally:
        feeding.cancel()
        await health.stop()
    assert all(s.status == 200 for s in health.samples), "the pager is not a server of ours"
    code, stop_s = await child.terminate(within_s=15)
    assert code == 0, child.tail()

    assert attempts > 6, "the page was given up after delivery.max_attempts"
    _one_key_per_effect(recorder, {"chat-api"})
    assert any("PAGER FAILING" in r.json["text"] for r in recorder.on("/chat"))
    pager_incidents = "SELECT status FROM incidents WHERE service = 'alertpipe'"
    assert await _value(database, pager_incidents) == "resolved"
    [failures] = [f for f in text_string_to_metric_families(metrics)
                  if f.name == "alertpipe_delivery_failures"]  # fmt: skip
    page_failures = sum(s.value for s in failures.samples if s.labels["receiver"] == "page")
    assert page_failures >= attempts  # every failed attempt counted, by HTTP status
    pages = recorder.on("/pager")
    delivered = next(r.at for r in pages if r.answered == ACCEPTED)
    all_clear = next(
        r.at for r in recorder.on("/pager_fallback") if r.json["event"] == "pager_back"
    )
    _report(
        "pager failing 12 s (500, 429 Retry-After, hang)",
        {
            "page_delivered_after_return_s": delivered - back_wall,
            "page_delivered_late_by_s": delivered - pages[0].at,
            "pager_incident_resolved_after_return_s": all_clear - back_wall,
            "page_attempts_during_fault": attempts,
            "sigterm_exit_s": stop_s,
            "retry_cap_s": 1.0,
            "page_after_return_vs_retry_cap": (delivered - back_wall) / 1.0,
        },
    )


_ROLLED_BACK = "SELECT max(finished_at) FROM rollbacks"
_PUBLISHED = "SELECT max(published_at) FROM incident_events"


async def _since(dsn: str, sql: str, wall: float) -> float:
    """Seconds from ``wall`` (epoch) to the moment the query returns."""
    return float((await _value(dsn, sql)).timestamp() - wall)


def _ready_after(health: HealthLog, back_at: float) -> float:
    ready = health.first(back_at, 200)
    assert ready is not None
    return ready.at - back_at


def _pages_of(rec: Recorder, service: str) -> list[Any]:
    return [r for r in rec.on("/pager") if r.json.get("payload", {}).get("source") == service]


async def _exit_after(child: Child, since: float, within_s: float) -> tuple[int, float]:
    """The child's exit status, and when it exited (seconds after ``since``)."""
    code = await child.wait_exit(within_s - (time.monotonic() - since))
    return code, time.monotonic() - since


async def _role(health_url: str, name: str) -> dict[str, Any]:
    """One role's report on /health, as it is now."""
    async with httpx.AsyncClient() as client:
        report: dict[str, Any] = (await client.get(health_url, timeout=5)).json()["roles"][name]
    return report


def _said(event: str) -> Callable[[Recorder], bool]:
    return lambda r: any(x.json.get("event") == event for x in r.on("/pager_fallback"))


async def _last(health: HealthLog) -> int | None:
    return health.samples[-1].status if health.samples else None
