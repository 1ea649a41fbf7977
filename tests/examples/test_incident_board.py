"""examples/incident_board.py, the faust subscriber a downstream team copies: its worker runs as
the example says (``faust -A examples.incident_board worker``) against the real Kafka, reads
incident events produced as alertpipe's responder produces them (``IncidentEvent`` as JSON,
keyed by service, through ``KafkaEventSink``) and keeps the open incidents of each service."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from handlers.events import KafkaEventSink
from schemas.incidents import IncidentEvent, IncidentEventType, IncidentStatus
from schemas.severity import Severity
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _event(
    incident_id: str,
    service: str,
    type_: IncidentEventType,
    status: IncidentStatus,
    severity: Severity,
) -> IncidentEvent:
    return IncidentEvent(
        event_id=uuid.uuid4().hex,
        incident_id=incident_id,
        type=type_,
        at=time.time(),
        service=service,
        scenario="S1" if severity is Severity.CRITICAL else None,
        severity=severity,
        status=status,
        title=f"{service}: {incident_id}",
        bad_version="2.4.0",
        last_good_version="2.3.9",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def board(
    bootstrap: str, make_topic: Callable[..., Awaitable[str]], tmp_path: Path
) -> AsyncIterator[tuple[str, str]]:
    """A running incident board on a fresh incidents topic: (topic, URL of its /open/ page)."""
    topic = await make_topic("incidents", partitions=3)
    app_id = f"incident-board-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "INCIDENT_BOARD_ID": app_id,
        "INCIDENT_BOARD_BROKER": f"kafka://{bootstrap}",
        "INCIDENT_BOARD_TOPIC": topic,
        "INCIDENT_BOARD_PARTITIONS": "3",
        "INCIDENT_BOARD_WEB_PORT": str(port),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "faust", "-A", "examples.incident_board", "worker", "-l", "info",
            cwd=tmp_path, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield topic, f"http://127.0.0.1:{port}/open/"
    finally:
        if worker.returncode is None:
            worker.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(worker.wait(), 30)
            except TimeoutError:
                worker.kill()
                await worker.wait()
        await _delete_topics_of(bootstrap, app_id)
        print(log.read_text(errors="replace")[-4000:])  # shown when the test failed


async def _delete_topics_of(bootstrap: str, app_id: str) -> None:
    """faust's own topics (the table's changelog, the leader assignor's)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{app_id}-")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()


async def _page(url: str) -> dict[str, Any] | None:
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            response = await client.get(url)
    except httpx.TransportError:  # the worker's web server is not up yet
        return None
    return response.json() if response.status_code == 200 else None


async def test_the_board_keeps_the_open_incidents_of_each_service(
    bootstrap: str, board: tuple[str, str]
) -> None:
    topic, url = board
    await eventually(
        lambda: _page(url), lambda page: page == {}, 60, "the worker serving an empty board"
    )

    opened = _event("inc_chat", "chat-api", "opened", "open", Severity.HIGH)
    raised = _event("inc_chat", "chat-api", "severity_changed", "open", Severity.CRITICAL)
    mitigated = _event("inc_chat", "chat-api", "mitigated", "mitigated", Severity.CRITICAL)
    bot_opened = _event("inc_bot", "bot-runner", "opened", "open", Severity.MEDIUM)
    bot_resolved = _event("inc_bot", "bot-runner", "resolved", "resolved", Severity.MEDIUM)
    search_opened = _event("inc_search", "search-api", "opened", "open", Severity.HIGH)
    search_acked = _event("inc_search", "search-api", "acknowledged", "acknowledged", Severity.HIGH)
    sink = KafkaEventSink(bootstrap, topic)
    await sink.start()
    try:
        for event in (
            opened, raised,
            opened, raised,  # re-sent after a crash before they were marked published
            bot_opened, bot_resolved, search_opened, mitigated, search_acked,
        ):  # fmt: skip
            # As the responder's EventPublisher sends each outbox row: JSON, keyed by service.
            await sink.publish(event.service, orjson.dumps(event.model_dump(mode="json")))
        await sink.publish("chat-api", b"not an incident event")  # skipped, not fatal
        late = _event("inc_late", "chat-api", "opened", "open", Severity.LOW)
        await sink.publish(late.service, orjson.dumps(late.model_dump(mode="json")))
    finally:
        await sink.stop()

    def row(event: IncidentEvent) -> dict[str, Any]:
        return {
            "severity": event.severity.value,
            "status": event.status,
            "scenario": event.scenario,
            "title": event.title,
            "bad_version": "2.4.0",
            "last_good_version": "2.3.9",
            "updated_at": event.at,
        }

    expected = {
        "chat-api": {"inc_chat": row(mitigated), "inc_late": row(late)},
        "search-api": {"inc_search": row(search_acked)},
    }  # bot-runner's only incident was resolved: the service is off the board
    await eventually(lambda: _page(url), lambda page: page == expected, 60, "the final board")
