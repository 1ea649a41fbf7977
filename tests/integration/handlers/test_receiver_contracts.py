"""The receivers against loopback servers that behave as PagerDuty, Slack and Statuspage do
(tests.support.contracts), through the whole responder: per-team routes, PagerDuty's refusal
recorded with its body, Statuspage created once and then PATCHed by the id it answered."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

from app.storage.refs import PgReceiverRefs
from handlers.config import DeliveryConfig
from handlers.receivers.base import Outbound
from handlers.receivers.http import WebhookPoster
from handlers.receivers.refs import MemoryRefs
from handlers.receivers.statuspage import StatusPageReceiver
from schemas.clock import SystemClock
from schemas.severity import Severity
from tests.support.contracts import (
    ROUTING_KEY,
    STATUSPAGE_KEY,
    PagerDutyEvents,
    SlackWebhook,
    Statuspage,
)
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]
NOTIFY_ONLY = ("sink", "http", "manager", "timers", "dispatcher")

CHAT_TEAM_KEY = "ChatTeam0nCall000000000000000000"
DAVE_KEY = "Dave0000000000000000000000000000"
POLICY = """
rules:
  - {name: r, metric: error_rate, comparison: ">", threshold: 1%, min_samples: 1, for: 0s,
     keep_firing_for: 0s, window: 1m, severity: LOW, response: record}
routes:
  teams:
    - name: chat-team
      match: {service: "chat-*"}
      severity: [CRITICAL, HIGH]
      pager: {on_call: chat-oncall, final_contact: dave}
      chat: chat-team
"""


async def test_a_teams_pages_and_chat_go_to_its_pagerduty_service_and_channel(
    stack: MakeStack, recorder: Recorder, tmp_path: Path
) -> None:
    (tmp_path / "policy.yaml").write_text(POLICY)
    pager = PagerDutyEvents(keys={ROUTING_KEY, CHAT_TEAM_KEY, DAVE_KEY})
    recorder.contracts |= {"/pager": pager, "/chat-team": SlackWebhook()}
    s = await stack(
        roles=NOTIFY_ONLY,
        policy=tmp_path / "policy.yaml",
        pager_routing_keys={"chat-oncall": CHAT_TEAM_KEY, "dave": DAVE_KEY},
        chat_urls={"chat-team": recorder.url("/chat-team")},
        public_url="https://alertpipe.example.com",
    )
    await s.send(decision("chat-api", Severity.HIGH), decision("search-api", Severity.HIGH))
    await recorder.wait_for(lambda r: len(pager.accepted) == 2, what="two pages")
    await recorder.wait_for(
        lambda r: len(r.on("/chat-team")) == 1 and len(r.on("/chat")) == 1, what="chats"
    )
    by_source = {e["payload"]["source"]: e for e in pager.accepted}
    assert by_source["chat-api"]["routing_key"] == CHAT_TEAM_KEY
    assert by_source["search-api"]["routing_key"] == ROUTING_KEY  # the default route
    chat_api = await s.incidents("chat-api")
    assert by_source["chat-api"]["links"][0]["href"].endswith(f"/#/incidents/{chat_api[0]['id']}")
    assert "chat-api" in recorder.on("/chat-team")[0].json["text"]
    assert "search-api" in recorder.on("/chat")[0].json["text"]
    assert not pager.refused


async def test_a_refused_page_is_recorded_with_pagerdutys_answer_counted_and_not_retried(
    stack: MakeStack, recorder: Recorder
) -> None:
    pager = PagerDutyEvents(keys={"Some0therService0000000000000000"})
    recorder.contracts["/pager"] = pager
    s = await stack(roles=NOTIFY_ONLY)
    await s.send(decision("chat-api", Severity.HIGH))

    async def page() -> dict:  # type: ignore[type-arg]
        for inc in await s.incidents("chat-api"):
            found = await s.incident(inc["id"])
            return next((a for a in found["actions"] if a["kind"] == "page"), {"status": "-"})
        return {"status": "no incident yet"}

    action = await eventually(page, lambda a: a["status"] == "failed", what="the page refused")
    assert action["attempts"] == 1  # a 400 is not retried (a 429 would be)
    said = 'page: HTTP 400: {"status":"invalid event","message":"Event object is invalid"'
    assert action["last_error"].startswith(said) and "Invalid routing key" in action["last_error"]
    [inc] = await s.incidents("chat-api")
    timeline = (await s.incident(inc["id"]))["timeline"]
    failed = next(t for t in timeline if t["message"] == "page trigger failed")
    assert "Invalid routing key" in failed["result"]["error"] and failed["result"]["status"] == 400
    dispatcher = s.role("outbox-dispatcher")
    assert dispatcher.stats.failures["page", "400"] == 1  # type: ignore[attr-defined]
    assert len(recorder.on("/pager")) == 1 and pager.refused == [["Invalid routing key"]]


async def test_statuspage_is_created_once_then_patched_by_its_id_which_is_stored(
    stack: MakeStack, recorder: Recorder, database: str
) -> None:
    page = recorder.contracts["/statuspage"]
    assert isinstance(page, Statuspage)
    s = await stack(roles=NOTIFY_ONLY, response={"status_update_every_s": 0.5})
    await s.send(decision("chat-api", Severity.HIGH))
    await recorder.wait_for(lambda r: page.updates >= 1, what="a status update")
    [inc] = await s.incidents("chat-api")
    assert s.responder is not None
    await s.responder.commands.resolve(inc["id"], "ana", "fixed")
    await recorder.wait_for(
        lambda r: any(i["status"] == "resolved" for i in page.incidents.values()), what="resolved"
    )
    [(page_id, stored)] = page.incidents.items()
    assert page.creates == 1 and stored["metadata"] == {"alertpipe": {"incident_id": inc["id"]}}
    assert stored["components"] == {"cmp0chat0api": "operational"}  # by id, back to operational
    assert [u["status"] for u in stored["incident_updates"]][:2] == ["investigating", "identified"]
    calls = recorder.on("/statuspage")
    assert calls[0].method == "POST" and calls[0].path == "/statuspage/incidents"
    assert {c.path for c in calls[1:]} == {f"/statuspage/incidents/{page_id}"}
    assert {c.method for c in calls[1:]} == {"PATCH"}
    assert {c.headers["authorization"] for c in calls} == {f"OAuth {STATUSPAGE_KEY}"}
    conn = await asyncpg.connect(database)
    try:
        kept = await conn.fetchval(
            "SELECT ref FROM receiver_refs WHERE incident_id = $1 AND receiver = 'status_page'",
            inc["id"],
        )
    finally:
        await conn.close()
    assert kept == page_id


async def test_a_create_whose_answer_was_lost_is_found_again_not_repeated(
    recorder: Recorder, database: str
) -> None:
    """The first attempt created the incident but its answer never got back (the worker died
    before storing the id): the retry finds it by its metadata and updates it."""
    page = recorder.contracts["/statuspage"]
    assert isinstance(page, Statuspage)
    pool = await asyncpg.create_pool(database)
    async with httpx.AsyncClient() as client:
        poster = WebhookPoster(
            "status_page",
            client,
            recorder.url("/statuspage"),
            clock=SystemClock(),
            timeout_s=DeliveryConfig().timeout_s,
            headers={"Authorization": f"OAuth {STATUSPAGE_KEY}"},
        )
        payload = {"status": "investigating", "body": "b", "service": "chat-api", "title": "t"}
        created = Outbound("status_page", "inc_x:status_page:investigating", "inc_x", payload)
        assert (await StatusPageReceiver(poster, MemoryRefs(), {}).send(created)).ok
        refs = PgReceiverRefs(pool)
        await pool.execute(
            "INSERT INTO incidents (id, service, severity, status, title, opened_at, "
            "last_decision_at) VALUES ('inc_x', 'chat-api', 'HIGH', 'open', 't', now(), now())"
        )
        again = Outbound(created.kind, created.key, "inc_x", payload, attempt=2)
        assert (await StatusPageReceiver(poster, refs, {}).send(again)).ok
    [page_id] = page.incidents
    assert (page.creates, page.updates) == (1, 1)
    assert await refs.get("inc_x", "status_page") == page_id
    assert [r.method for r in recorder.on("/statuspage")] == ["POST", "GET", "PATCH"]
    await pool.close()
