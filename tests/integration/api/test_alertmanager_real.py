"""A real Alertmanager hands its alerts to alertpipe: its webhook receiver posts to
``/v1/alertmanager`` (with an ingest token), each alert becomes a decision on the decisions
topic, the incident manager opens the incident and the plan's response runs (a CRITICAL one
rolls back); the resolution ends the alert in the incident. Fed through Alertmanager's own
``POST /api/v2/alerts``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from app.credentials import issue_token
from app.pipeline import Pipeline, build_pipeline
from schemas.panes import DeployRecord, PaneSummary, Scope
from tests.support.alertmanager import Alertmanager
from tests.support.contracts import service_contracts
from tests.support.recorder import Recorder
from tests.support.stack import fast_settings
from tests.support.waiting import eventually

LABELS = {
    "alertname": "CheckoutErrors",
    "service": "checkout",
    "severity": "critical",
    "version": "2.4.0",
}


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder(contracts=service_contracts()) as rec:
        yield rec


@pytest.fixture
async def alertpipe(
    database: str, bootstrap: str, make_topic: Callable[..., Awaitable[str]], recorder: Recorder
) -> AsyncIterator[tuple[Pipeline, str]]:
    """The responder and the api role, the HTTP server on a loopback port; an ingest token."""
    topics = {name: await make_topic(name) for name in ("decisions", "panes", "incidents")}
    settings = fast_settings(database, bootstrap, topics, recorder, http_port=0)
    pipeline = await build_pipeline(settings, ("responder", "api"))
    assert pipeline.responder is not None
    r = pipeline.responder
    _, token = await issue_token(r.credentials, "alertmanager", "ingest", "tests", r.clock.now())
    tasks = []
    for role in pipeline.roles:
        await role.start()
        tasks.append(asyncio.create_task(role.run()))
    try:
        yield pipeline, token
    finally:
        for role in reversed(pipeline.roles):
            with contextlib.suppress(Exception):
                await role.stop()
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        await pipeline.close()


async def _deployed(pipeline: Pipeline, *versions: str) -> None:
    """The service's deploy history, as stage 1 reports deploys (the rollback's target)."""
    scope = Scope(service="checkout", dimension="service", key="checkout")
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.settings.bootstrap, acks="all")
    await producer.start()
    try:
        for n, version in enumerate(versions):
            start_ms = (int(time.time()) - 600 + 60 * n) * 1000
            pane = PaneSummary(
                pane_id=PaneSummary.make_id(scope, start_ms),
                scope=scope,
                start_ms=start_ms,
                end_ms=start_ms + 1000,
                deploys=[DeployRecord(ts=start_ms / 1000, version=version, status="succeeded")],
            )
            topic = pipeline.settings.topics.panes
            await producer.send_and_wait(topic, pane.model_dump_json().encode(), key=b"checkout")
    finally:
        await producer.stop()
    recorder = pipeline.role("deploy-recorder")
    await eventually(
        lambda: asyncio.sleep(0, recorder.health().get("recorded", 0)),
        lambda n: n >= len(versions),
        what="the deploy history",
    )


async def test_alertmanagers_alerts_open_an_incident_that_rolls_back_and_sees_the_resolution(
    alertpipe: tuple[Pipeline, str], recorder: Recorder, tmp_path: Path
) -> None:
    pipeline, token = alertpipe
    assert pipeline.http is not None and pipeline.responder is not None
    queries = pipeline.responder.queries
    webhook = f"http://127.0.0.1:{pipeline.http.port}/v1/alertmanager"
    await _deployed(pipeline, "2.3.9", "2.4.0")
    async with Alertmanager(webhook, token, tmp_path) as am:
        await am.fire(LABELS, {"summary": "checkout 5xx above 10%", "value": "0.31"})

        async def incident() -> dict[str, Any] | None:
            found = await queries.list_incidents(service="checkout")
            return await queries.get_incident(found[0]["id"]) if found else None

        opened = await eventually(incident, lambda i: i is not None, what="the incident")
        assert opened is not None
        [fingerprint] = [a["fingerprint"] for a in await am.alerts()]
        assert opened["severity"] == "CRITICAL" and opened["title"] == "checkout 5xx above 10%"
        await recorder.wait_for(lambda r: bool(r.on("/breaker")), what="the breaker opened")
        await recorder.wait_for(lambda r: bool(r.on("/pager")), what="the page")
        page = recorder.on("/pager")[0].json
        assert (
            page["payload"]["class"] == "CheckoutErrors" and page["payload"]["source"] == "checkout"
        )
        # CRITICAL → rollback (the mapping's default), to the version deployed before 2.4.0
        await recorder.wait_for(lambda r: bool(r.on("/rollback")), what="the revert call")
        revert = recorder.on("/rollback")[0].json
        assert (revert["from_version"], revert["to_version"]) == ("2.4.0", "2.3.9")
        decided = await incident()
        assert decided is not None
        firing = next(t for t in decided["timeline"] if t["kind"] == "decision")
        assert firing["evidence"]["rule"] == "CheckoutErrors"
        assert (
            firing["evidence"]["metric"] == "alertmanager"
            and firing["evidence"]["observed"] == 0.31
        )
        assert fingerprint in {
            t["evidence"].get("decision_id", "").split(":")[0]
            for t in decided["timeline"]
            if t["evidence"]
        }

        await am.resolve(LABELS)
        resolved = await eventually(
            incident,
            lambda i: (
                i is not None
                and any(t["message"] == "CheckoutErrors resolved" for t in i["timeline"])
            ),
            within_s=30,
            what="the resolution in the incident",
        )
    assert resolved is not None
    writer = pipeline.role("ingest-producer").health()
    assert writer["ingested"]["alertmanager"] >= 2  # firing, then resolved
