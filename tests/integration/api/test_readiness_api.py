"""The readiness gate through the API, on real Kafka and PostgreSQL: a fresh service is not
ready, with each reason and what would make it pass; once every item is satisfied — an
operator's attestation, backups reported through the panes topic, a passed DR drill in the
drills table, deploy history, healthy live panes — it is ready."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from app.credentials import issue_token
from app.pipeline import Pipeline, build_pipeline
from app.settings import AuthSettings, Settings
from schemas.panes import LatencySketch, PaneSummary, RequestStats, ResourceStats, Scope
from tests.integration.api.conftest import BOOTSTRAP, client_for
from tests.support.decisions import backup, dataset_pane, restore_test
from tests.support.waiting import eventually


@dataclass
class Gate:
    pipeline: Pipeline
    clients: dict[str, httpx.AsyncClient]
    producer: AIOKafkaProducer
    panes_topic: str

    async def send(self, *panes: PaneSummary) -> None:
        for pane in panes:
            await self.producer.send_and_wait(
                self.panes_topic, pane.model_dump_json().encode(), key=pane.scope.id.encode()
            )


@pytest.fixture
async def gate(
    database: str, bootstrap: str, make_topic: Callable[..., Awaitable[str]]
) -> AsyncIterator[Gate]:
    topics = {"panes": await make_topic("panes"), "decisions": await make_topic("decisions")}
    settings = Settings(
        database_url=database,
        kafka_bootstrap=bootstrap,
        group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        auth=AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP)),
        topics=topics,
        # the communication plan: pager, chat and status page configured (never called here)
        pager_url="http://127.0.0.1:9/pager",
        chat_url="http://127.0.0.1:9/chat",
        statuspage_url="http://127.0.0.1:9/statuspage",
    )
    pipeline = await build_pipeline(settings, ("responder", "api"), http=False, parts=("backups",))
    r = pipeline.responder
    assert r is not None and pipeline.asgi is not None and pipeline.dashboard is not None
    roles = [*r.roles, pipeline.dashboard]  # the backup recorder; the api role's pane reader
    for role in roles:
        await role.start()
    tasks = [asyncio.create_task(role.run()) for role in roles]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    async with AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for kind, name in (("viewer", "deploy-bot"), ("operator", "ana")):
            _, token = await issue_token(r.credentials, name, kind, "tests", r.clock.now())
            clients[kind] = await stack.enter_async_context(client_for(pipeline.asgi, token))
        clients["anonymous"] = await stack.enter_async_context(client_for(pipeline.asgi))
        yield Gate(pipeline, clients, producer, topics["panes"])
    await producer.stop()
    for task in tasks:
        task.cancel()
    for role in reversed(roles):
        await role.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    await pipeline.close()


async def _drill(pool: asyncpg.Pool, service: str, ended_at: float, passed: bool) -> str:
    """A DR drill of ``service`` that finished at ``ended_at``, its report passed or not (as
    the drill runner leaves it: ``app.drills``)."""
    drill_id = f"drill_{uuid.uuid4().hex[:12]}"
    report = {"drill": drill_id, "passed": passed, "incidents": [{"service": service}]}
    await pool.execute(
        """INSERT INTO drills (id, scenario, service, status, started_by, created_at, ended_at,
               outcome, report)
           VALUES ($1, 's1', $2, 'finished', 'tests', $3, $3, 'every incident resolved', $4)""",
        drill_id,
        service,
        datetime.fromtimestamp(ended_at, UTC),
        report,  # jsonb: the pool encodes it
    )
    return drill_id


def _statuses(body: dict[str, Any]) -> dict[str, str]:
    return {item["item"]: item["status"] for item in (*body["checklist"], *body["baselines"])}


def _live(service: str, now_ms: int) -> list[PaneSummary]:
    """Ten minutes of a healthy service: 20 requests every 10 s (p95 ~ 100 ms, no 5xx), and
    its host at 30% CPU and 40% memory."""
    endpoint = Scope(service=service, dimension="endpoint", key="POST /api/message")
    host = Scope(service=service, dimension="host", key="web-1")
    panes = []
    for n in range(1, 58):
        start = now_ms - n * 10_000
        requests = RequestStats(
            count=20,
            errors=0,
            latency=LatencySketch(alpha=0.01, offset=230, counts=[20]),  # ~100 ms
            min_ms=50.0,
            max_ms=150.0,
        )
        resource = ResourceStats(samples=1, cpu_last=30.0, cpu_max=30.0, mem_last=40.0)
        for scope, fields in ((endpoint, {"requests": requests}), (host, {"resource": resource})):
            panes.append(
                PaneSummary(
                    pane_id=PaneSummary.make_id(scope, start),
                    scope=scope,
                    start_ms=start,
                    end_ms=start + 1000,
                    **fields,
                )
            )
    return panes


async def test_a_fresh_service_is_not_ready_and_ready_once_each_item_is_satisfied(
    gate: Gate,
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    viewer, operator = gate.clients["viewer"], gate.clients["operator"]
    url = f"/v1/readiness/{service}"

    fresh = await viewer.get(url, params={"version": "2.0.0"})
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert (body["service"], body["version"], body["ready"]) == (service, "2.0.0", False)
    statuses = _statuses(body)
    passing = {"alert_thresholds", "communication_plan"}  # the policy and the URLs are set
    assert {name for name, status in statuses.items() if status == "pass"} == passing
    assert sorted(body["failed"]) == sorted(set(statuses) - passing)
    for item in (*body["checklist"], *body["baselines"]):
        assert (item["status"] == "pass") == (item["fix"] is None), item
    detail = {i["item"]: i["detail"] for i in (*body["checklist"], *body["baselines"])}
    assert detail["backup_tested"] == f"no backup of {service} on record"
    assert detail["monitoring"] == f"no telemetry from {service} in the last 5 min"
    assert detail["rollback_tested"] == f"no drill of {service} on record"
    assert statuses["rollback_tested"] == "unknown"

    # Satisfy each item. A DR drill of the service that failed is named, and fails the item:
    now = time.time()
    r = gate.pipeline.responder
    assert r is not None
    failed = await _drill(r.pool, service, now - 2 * 86_400, passed=False)
    body = (await viewer.get(url, params={"version": "2.0.0"})).json()
    tested = next(i for i in body["checklist"] if i["item"] == "rollback_tested")
    assert tested["status"] == "fail" and f"the latest, {failed}, failed" in tested["detail"]
    assert (tested["evidence"]["drill_id"], tested["evidence"]["result"]) == (failed, "failed")
    # …and a later one that passed makes it pass:
    passed = await _drill(r.pool, service, now - 86_400, passed=True)
    # the team trained, attested by an operator (a viewer may not):
    attestation = {"item": "team_trained", "note": "runbook walkthrough on Monday"}
    refused = await viewer.post(f"{url}/attestations", json=attestation)
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    attested = await operator.post(f"{url}/attestations", json=attestation)
    assert attested.status_code == 201, attested.text
    assert attested.json()["by"] == "ana"
    # the deploy history names a stable version:
    async with r.incidents.transaction() as tx:
        await tx.record_deploy(service, "1.9.0", "started", now - 3600)
        await tx.record_deploy(service, "1.9.0", "succeeded", now - 3590)
    # a full backup since that deploy and a passed restore test, reported through Kafka:
    await gate.send(
        dataset_pane(
            service,
            "chat_messages",
            [backup("full-1", now - 600, "full")],
            [restore_test("full-1", now - 300)],
        )
    )

    async def catalogued() -> bool:
        query = "SELECT count(*) FROM restore_tests WHERE service = $1"
        return bool(await r.pool.fetchval(query, service) == 1)

    await eventually(catalogued, what="the backup recorded")
    # and ten minutes of healthy live traffic:
    await gate.send(*_live(service, int(now * 1000)))

    ready = await viewer.get(url, params={"version": "2.0.0"})
    body = ready.json()
    failing = [i for i in (*body["checklist"], *body["baselines"]) if i["status"] != "pass"]
    assert body["ready"] is True, failing
    evidence = {i["item"]: i["evidence"] for i in (*body["checklist"], *body["baselines"])}
    assert evidence["last_stable_version"]["version"] == "1.9.0"
    assert evidence["backup_tested"]["chat_messages"]["full_backup_id"] == "full-1"
    assert evidence["team_trained"]["by"] == "ana"
    assert evidence["rollback_tested"]["drill_id"] == passed
    assert evidence["rollback_tested"]["result"] == "passed"
    assert evidence["dr_drill"]["drill_id"] == passed
    assert evidence["error_rate"]["requests"] == 57 * 20
    assert evidence["cpu_pct"]["value"] == pytest.approx(30.0)
    # each check is recorded, with who asked
    query = "SELECT ready, actor, version FROM readiness_checks WHERE service = $1 ORDER BY id"
    checks = [tuple(c) for c in await r.pool.fetch(query, service)]
    assert checks == [
        (False, "deploy-bot", "2.0.0"),  # fresh
        (False, "deploy-bot", "2.0.0"),  # with the failed drill
        (True, "deploy-bot", "2.0.0"),
    ]


async def test_the_gate_asks_for_a_credential_and_valid_input(gate: Gate) -> None:
    anonymous, operator = gate.clients["anonymous"], gate.clients["operator"]
    assert (await anonymous.get("/v1/readiness/chat-api")).status_code == 401
    bad = await operator.post("/v1/readiness/chat-api/attestations", json={"item": "vibes"})
    assert bad.status_code == 422
    body = bad.json()
    assert body["error"] == "invalid_request" and body["fields"][0]["field"] == "body.item"
    long = await operator.get("/v1/readiness/" + "x" * 300)
    assert long.status_code == 422 and long.json()["error"] == "invalid_request"
