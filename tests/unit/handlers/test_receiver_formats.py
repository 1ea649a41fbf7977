"""The receivers' wire formats, checked field by field against the contracts the real services
document (tests.support.contracts: the same checks the loopback servers make)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.receivers.base import Outbound
from handlers.receivers.chat import BLOCKS_MAX, SECTION_MAX, chat_body
from handlers.receivers.pager import pager_body
from handlers.receivers.routing import ConsoleLinks
from handlers.receivers.statuspage import statuspage_body
from tests.support.contracts import ROUTING_KEY, PagerDutyEvents, SlackWebhook

LINKS = ConsoleLinks("https://alertpipe.example.com")
EVIDENCE = {
    "metric": "error_rate",
    "window_start_ms": 1_795_626_000_000,
    "window_end_ms": 1_795_626_060_000,
    "observed": 0.25,
    "comparison": ">",
    "threshold": 0.1,
    "samples": 400,
    "min_samples": 20,
}


def _page(**payload: Any) -> Outbound:
    base = {
        "event": "trigger",
        "summary": "S1: 5xx above 10% on POST /api/message",
        "severity": "CRITICAL",
        "service": "chat-api",
        "scenario": "S1",
        "title": "CRITICAL: core-error-rate-critical on chat-api",
        "tier": "on_call",
        "at": 1_795_626_061.5,
        "rule": "core-error-rate-critical",
        "scope": {"endpoint": "POST /api/message"},
        "evidence": EVIDENCE,
        "version": "2.4.0",
        "last_good_version": "2.3.9",
    }
    return Outbound("page", "inc_1:page:trigger:detection:CRITICAL", "inc_1", {**base, **payload})


def test_a_trigger_carries_every_field_pagerduty_shows() -> None:
    body = pager_body(_page(), ROUTING_KEY, links=LINKS)
    assert PagerDutyEvents.errors(body) == []
    assert body["routing_key"] == ROUTING_KEY and body["dedup_key"] == "inc_1"
    assert body["client"] == "alertpipe"
    assert body["client_url"] == "https://alertpipe.example.com/#/incidents/inc_1"
    assert [link["href"] for link in body["links"]] == [
        "https://alertpipe.example.com/#/incidents/inc_1",
        "https://alertpipe.example.com/v1/incidents/inc_1/review",
    ]
    p = body["payload"]
    assert (p["timestamp"], p["source"], p["severity"]) == (
        "2026-11-25T17:01:01.500Z",
        "chat-api",
        "critical",
    )
    assert (p["component"], p["group"], p["class"]) == (
        "POST /api/message",
        "S1",
        "core-error-rate-critical",
    )
    details = p["custom_details"]
    assert {
        k: details[k]
        for k in ("rule", "observed", "threshold", "samples", "version", "last_good_version")
    } == {
        "rule": "core-error-rate-critical",
        "observed": 0.25,
        "threshold": 0.1,
        "samples": 400,
        "version": "2.4.0",
        "last_good_version": "2.3.9",
    }
    assert details["window"] == {
        "start": "2026-11-25T17:00:00.000Z",
        "end": "2026-11-25T17:01:00.000Z",
    }


def test_unknown_fields_are_left_out_never_null_and_no_links_without_a_public_url() -> None:
    bare = _page(scenario=None, rule=None, scope={}, evidence={}, version=None, at=None)
    body = pager_body(bare, ROUTING_KEY, now=1_795_626_000.0)
    assert PagerDutyEvents.errors(body) == []
    assert not {"group", "class", "component"} & set(body["payload"])
    assert body["payload"]["timestamp"] == "2026-11-25T17:00:00.000Z"  # the receiver's clock
    assert None not in body["payload"]["custom_details"].values()
    assert "links" not in body and "client_url" not in body


@pytest.mark.parametrize(
    ("tier", "dedup"),
    [
        ("on_call", "inc_1"),
        ("lead_engineer", "inc_1:lead_engineer"),
        ("final_contact", "inc_1:final_contact"),
    ],
)
def test_each_tier_is_its_own_alert(tier: str, dedup: str) -> None:
    for event in ("trigger", "acknowledge", "resolve"):
        body = pager_body(_page(event=event, tier=tier), ROUTING_KEY)
        assert body["dedup_key"] == dedup and PagerDutyEvents.errors(body) == []
        assert ("payload" in body) == (event == "trigger")


def test_the_contract_refuses_what_pagerduty_refuses() -> None:
    body = pager_body(_page(), "short-key")
    assert PagerDutyEvents.errors(body) == [
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    ]
    body = pager_body(_page(summary="x" * 5000), ROUTING_KEY)
    assert len(body["payload"]["summary"]) == 1024 and PagerDutyEvents.errors(body) == []
    assert PagerDutyEvents.errors({**body, "payload": {**body["payload"], "group": None}}) == [
        "'payload.group' must be a string"
    ]


def _chat(text: str) -> Outbound:
    payload = {"text": text, "service": "chat-api", "severity": "CRITICAL", "title": "5xx <high>"}
    return Outbound("chat", "k", "inc_1", payload)


@pytest.mark.parametrize("size", [0, 10, 2999, 3001, 7_000, 200_000])
def test_chat_keeps_to_slacks_limits_whatever_the_text(size: int) -> None:
    text = ("line of the incident's story & more\n" * (size // 36 + 1))[:size]
    body = chat_body(_chat(text), LINKS)
    assert SlackWebhook.blocks_valid(body["blocks"]), body
    assert len(body["blocks"]) <= BLOCKS_MAX and 0 < len(body["text"]) <= 3000
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert all(len(s) <= SECTION_MAX for s in sections)
    if size > 150_000:
        assert sections[-1].endswith("more characters cut: see the incident)")
    elif size:
        assert "".join(sections).replace("\n", "") == text.replace("&", "&amp;").replace("\n", "")


def test_chat_links_the_incident_and_escapes_mrkdwn() -> None:
    body = chat_body(_chat("a <b> & c"), LINKS)
    assert body["blocks"][1]["text"]["text"] == "a &lt;b&gt; &amp; c"
    assert body["blocks"][0]["text"]["text"] == "CRITICAL chat-api: 5xx <high>"  # plain text
    assert (
        body["blocks"][-1]["elements"][0]["url"]
        == "https://alertpipe.example.com/#/incidents/inc_1"
    )
    assert (
        "<https://alertpipe.example.com/#/incidents/inc_1|inc_1>"
        in body["blocks"][-2]["elements"][0]["text"]
    )
    unlinked = chat_body(_chat("x"))
    assert [b["type"] for b in unlinked["blocks"]] == ["header", "section", "context"]


def test_statuspage_creates_with_components_by_id_and_updates_without_a_name() -> None:
    payload = {
        "status": "investigating",
        "body": "We are investigating degraded service on chat-api.",
        "impact": "critical",
        "component_status": "major_outage",
        "service": "chat-api",
        "title": "chat-api is failing",
    }
    action = Outbound("status_page", "k", "inc_1", payload)
    created = statuspage_body(action, {"chat-api": "cmp1"}, create=True)["incident"]
    assert created == {
        "status": "investigating",
        "body": "We are investigating degraded service on chat-api.",
        "name": "chat-api is failing",
        "metadata": {"alertpipe": {"incident_id": "inc_1"}},
        "deliver_notifications": True,
        "impact_override": "critical",
        "component_ids": ["cmp1"],
        "components": {"cmp1": "major_outage"},
    }
    resolved = Outbound("status_page", "k2", "inc_1", {**payload, "status": "resolved"})
    update = statuspage_body(resolved, {"chat-api": "cmp1"}, create=False)["incident"]
    assert update == {
        "status": "resolved",
        "body": payload["body"],
        "component_ids": ["cmp1"],
        "components": {"cmp1": "operational"},
    }
    assert "components" not in statuspage_body(action, {}, create=True)["incident"]
