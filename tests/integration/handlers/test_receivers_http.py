"""Receivers against a real HTTP server on loopback: wire formats, headers, signature, retry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from handlers.actions import ACTIONS
from handlers.config import DeliveryConfig
from handlers.outbox.retry import after_attempt
from handlers.receivers.base import Outbound
from handlers.receivers.registry import build_receivers
from handlers.receivers.signing import verify
from schemas.clock import SystemClock
from tests.support.recorder import Recorder

SECRET = "s3cr3t-for-tests"
CFG = DeliveryConfig(timeout_s=0.5)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    async with Recorder() as rec:
        yield rec


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def _receivers(rec: Recorder, client: httpx.AsyncClient, secret: str | None = SECRET):
    urls = {spec.url: rec.url(f"/{spec.url}") for spec in ACTIONS.values()}
    return build_receivers(urls, client, CFG, SystemClock(), secret=secret, routing_key="rk-1")


def _page(event: str = "trigger", severity: str = "HIGH") -> Outbound:
    payload = {
        "event": event,
        "summary": "p95 above 5 s",
        "severity": severity,
        "service": "chat-api",
    }
    return Outbound("page", f"inc_1:page:{event}", "inc_1", payload)


async def test_pager_speaks_pagerduty_events_v2(
    recorder: Recorder, client: httpx.AsyncClient
) -> None:
    receivers = _receivers(recorder, client)
    for event, severity in (
        ("trigger", "CRITICAL"),
        ("trigger", "HIGH"),
        ("acknowledge", "HIGH"),
        ("resolve", "HIGH"),
    ):
        assert (await receivers["page"].send(_page(event, severity))).ok
    bodies = [r.json for r in recorder.on("/pager")]
    assert [b["event_action"] for b in bodies] == ["trigger", "trigger", "acknowledge", "resolve"]
    assert {b["dedup_key"] for b in bodies} == {"inc_1"} and bodies[0]["routing_key"] == "rk-1"
    assert [b["payload"]["severity"] for b in bodies[:2]] == ["critical", "error"]
    assert "payload" not in bodies[2]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("CRITICAL", "critical"), ("HIGH", "error"), ("MEDIUM", "warning"), ("LOW", "info")],
)
async def test_pager_severity_mapping(
    recorder: Recorder, client: httpx.AsyncClient, severity: str, expected: str
) -> None:
    await _receivers(recorder, client)["page"].send(_page(severity=severity))
    assert recorder.requests[-1].json["payload"]["severity"] == expected


async def test_chat_status_page_and_control_webhooks(
    recorder: Recorder, client: httpx.AsyncClient
) -> None:
    receivers = _receivers(recorder, client)
    await receivers["chat"].send(
        Outbound("chat", "k1", "inc_1", {"text": "hello", "service": "chat-api"})
    )
    status = {
        "status": "investigating",
        "impact": "major",
        "component_status": "partial_outage",
        "service": "chat-api",
        "title": "slow",
    }
    await receivers["status_page"].send(Outbound("status_page", "k2", "inc_1", status))
    await receivers["breaker"].send(
        Outbound("breaker", "k3", "inc_1", {"action": "open", "target": "chat-api"})
    )
    chat, page, breaker = recorder.requests
    assert chat.json["text"] == "hello" and chat.json["blocks"][1]["type"] == "section"
    assert (page.method, page.path) == ("POST", "/statuspage/incidents")  # Statuspage's create
    assert page.json["incident"]["status"] == "investigating"
    assert page.json["incident"]["name"] == "slow"
    assert breaker.json == {
        "kind": "breaker",
        "action": "open",
        "target": "chat-api",
        "incident_id": "inc_1",
        "idempotency_key": "k3",
    }
    assert [r.key for r in recorder.requests] == ["k1", "k2", "k3"]


async def test_every_request_is_signed_over_ts_and_body(
    recorder: Recorder, client: httpx.AsyncClient
) -> None:
    await _receivers(recorder, client)["rollback"].send(
        Outbound("rollback", "k", "inc_1", {"to_version": "1"})
    )
    req = recorder.requests[0]
    header = req.headers["x-alertpipe-signature"]
    assert header.startswith("t=") and ",v1=" in header
    assert verify(SECRET, header, req.body, now=float(header[2:].split(",")[0]))
    assert not verify("other", header, req.body, now=float(header[2:].split(",")[0]))
    assert not verify(SECRET, header, req.body + b" ", now=float(header[2:].split(",")[0]))


async def test_unsigned_without_a_secret(recorder: Recorder, client: httpx.AsyncClient) -> None:
    await _receivers(recorder, client, secret=None)["restore"].send(
        Outbound("restore", "k", "inc_1", {})
    )
    assert "x-alertpipe-signature" not in recorder.requests[0].headers


@pytest.mark.parametrize(
    ("status", "retry_after", "retry", "after"),
    [
        (500, None, True, None),
        (503, None, True, None),
        (429, "2", True, 2.0),
        (400, None, False, None),
        (404, None, False, None),
    ],
)
async def test_status_classification_and_retry_after(
    recorder: Recorder,
    client: httpx.AsyncClient,
    status: int,
    retry_after: str | None,
    retry: bool,
    after: float | None,
) -> None:
    recorder.fail_next(1, status=status, retry_after=retry_after)
    result = await _receivers(recorder, client)["breaker"].send(
        Outbound("breaker", "k", "inc_1", {})
    )
    assert (result.ok, result.retry, result.status, result.retry_after) == (
        False,
        retry,
        status,
        after,
    )
    assert result.error == f'breaker: HTTP {status}: {{"ok": false}}'  # with what it answered


async def test_a_stalled_receiver_times_out_retryably_and_no_url_leaks(
    recorder: Recorder, client: httpx.AsyncClient
) -> None:
    recorder.stall_next(1, stall_s=5)
    result = await _receivers(recorder, client)["rollback"].send(
        Outbound("rollback", "k", "inc_1", {})
    )
    assert (result.ok, result.retry) == (False, True)
    assert "within 0.5 s" in (result.error or "") and "127.0.0.1" not in (result.error or "")
    assert after_attempt(result, 1, 0.0, CFG).outcome == "retry"
    recorder.release()


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers 200 one body byte every 0.2 s for 3 s: each read stays under a per-read timeout."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n")
    with contextlib.suppress(ConnectionError):
        for byte in b'{"ok": true}   ':
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(bytes([byte]))
        await writer.drain()
    writer.close()


async def test_a_trickling_receiver_is_cut_off_at_the_delivery_timeout(
    client: httpx.AsyncClient,
) -> None:
    """The outbox lease is sized against ``delivery.timeout_s``; a receiver that keeps each
    read short but the whole answer long must not hold a send past it (httpx alone would wait
    the 3 s and call it a success)."""
    server = await asyncio.start_server(_trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        urls = {"breaker": f"http://127.0.0.1:{port}/breaker"}
        receivers = build_receivers(urls, client, CFG, SystemClock())
        result = await receivers["breaker"].send(Outbound("breaker", "k", "inc_1", {}))
    finally:
        server.close()
    assert (result.ok, result.retry) == (False, True)
    assert result.error == "breaker: no answer within 0.5 s"


async def test_a_refused_connection_is_retryable_without_the_url(client: httpx.AsyncClient) -> None:
    urls = {"pager": "http://127.0.0.1:9/secret-token-path"}
    receivers = build_receivers(urls, client, CFG, SystemClock())
    result = await receivers["page"].send(_page())
    assert result.retry and "secret-token-path" not in (result.error or "")


async def test_console_receiver_prints_one_line_per_effect(client: httpx.AsyncClient) -> None:
    lines: list[str] = []
    receivers = build_receivers({}, client, CFG, SystemClock(), write=lines.append)
    assert (await receivers["page"].send(_page())).ok
    assert (
        await receivers["breaker"].send(
            Outbound("breaker", "k", "inc_1", {"action": "open", "target": "*", "service": "x"})
        )
    ).ok
    assert lines == [
        "[page] chat-api trigger HIGH: p95 above 5 s  (key inc_1:page:trigger)",
        "[breaker] x action=open target=*  (key k)",
    ]
