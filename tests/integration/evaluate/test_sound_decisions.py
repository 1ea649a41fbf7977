"""Deciding soundly, end to end on the real broker and database: panes → the evaluator (and
the S4 correlator) → decisions → the responder → receivers on a loopback recorder.

A blip that recovered is not rolled back, and the verdict is on the timeline; a rollback
with no version to go back to opens nothing and escalates at once; a quiet endpoint pages
nobody; six services failing on GET /health are a cascade; the SLO's error budget reaches
``GET /slos``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.credentials import issue_token
from schemas.panes import PaneSummary
from schemas.severity import Severity
from streams.evaluate import Correlator, CorrelatorConfig, Evaluator
from streams.policy import load_policy
from tests.integration.evaluate.conftest import running_evaluator
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack, fast_settings
from tests.support.waiting import eventually

Panes = Callable[[list[dict[str, Any]]], list[list[PaneSummary]]]
Produce = Callable[[str, list[PaneSummary]], Awaitable[None]]


@dataclass
class Pipeline:
    evaluator: Evaluator
    stack: Stack
    recorder: Recorder
    panes_topic: str
    correlator: Correlator | None = None

    def decisions_made(self) -> int:
        made = self.evaluator.stats.decisions
        return made + (self.correlator.decisions if self.correlator is not None else 0)

    def decisions_handled(self) -> int:
        counts = self.stack.role("incident-manager").health()["decisions"]
        return int(sum(counts.values()))


@pytest.fixture
async def pipeline(
    bootstrap: str, database: str, eval_topics: Any, make_topic: Callable[..., Awaitable[str]]
) -> AsyncIterator[Callable[..., Any]]:
    """``async with pipeline(**response) as p``: evaluator (+ correlator), responder, recorder."""

    @asynccontextmanager
    async def _make(correlator: bool = False, **response: Any) -> AsyncIterator[Pipeline]:
        policy = load_policy()
        topics = {
            "decisions": eval_topics.decisions,
            "panes": eval_topics.panes,
            "incidents": await make_topic("incidents"),
            "state": eval_topics.state,
        }
        async with (
            running_evaluator(bootstrap, eval_topics, policy) as evaluator,
            Recorder() as rec,
        ):
            settings = fast_settings(database, bootstrap, topics, rec, response=response)
            stack = Stack(settings, rec)
            await stack.start()
            found = Pipeline(evaluator, stack, rec, eval_topics.panes)
            task = None
            if correlator:
                found.correlator = Correlator(
                    CorrelatorConfig(
                        bootstrap=bootstrap,
                        decisions_topic=eval_topics.decisions,
                        state_topic=eval_topics.state,
                        panes_topic=eval_topics.panes,
                        group_id=f"{eval_topics.group}-cascade",
                        transactional_id=f"{eval_topics.group}-cascade",
                    ),
                    policy.cascade,
                )
                await found.correlator.start()
                task = asyncio.create_task(found.correlator.run())
            try:
                yield found
            finally:
                if found.correlator is not None and task is not None:
                    await found.correlator.stop()
                    await task
                await stack.stop()

    yield _make


async def _all_judged(p: Pipeline, panes: int) -> None:
    """Every pane evaluated and every decision it led to handled by the responder."""

    async def seen() -> tuple[int, int, int]:
        return p.evaluator.stats.panes, p.decisions_made(), p.decisions_handled()

    await eventually(seen, lambda s: s[0] >= panes and s[2] >= s[1], 30, "panes judged")


def _timeline(incident: dict[str, Any]) -> list[str]:
    return [t["message"] for t in incident["timeline"]]


async def test_a_latency_blip_that_recovered_is_not_rolled_back_and_the_verdict_says_why(
    pipeline: Callable[..., Any], series_panes: Panes, produce_panes: Produce
) -> None:
    """An 8 s p95 blip (HIGH) is clear on its window ~60 s later but held firing by
    keep_firing_for when the investigation window ends: no rollback, no breaker."""
    scope = {"service": "search-api", "endpoint": "POST /api/search"}
    series = [{"scope": scope, "requests": "30x200", "latency_ms": "300x61 8000x4 300x135"}]
    groups = series_panes(series)
    async with pipeline(investigation_s=5.0) as p:
        held = [pane for group in groups[:140] for pane in group]  # firing ~64 s, held ~123 s
        await produce_panes(p.panes_topic, held)
        incident = await p.stack.wait_incident(
            "search-api",
            lambda i: any("investigation window of 5 s ended" in m for m in _timeline(i)),
            what="the investigation's verdict",
        )
        verdict = next(
            t for t in incident["timeline"] if t["message"] == "investigation window of 5 s ended"
        )
        assert verdict["reason"].startswith("no alert breaches on its latest window")
        [alert] = verdict["evidence"]["alerts"]
        assert (alert["rule"], alert["state"], alert["breaching"], alert["counts"]) == (
            "latency-p95-high",
            "firing",
            False,
            False,
        )
        assert "latency-p95-high held firing by keep_firing_for on its latest window" in (
            _timeline(incident)
        )
        await produce_panes(p.panes_topic, [pane for group in groups[140:] for pane in group])
        incident = await p.stack.wait_incident(
            "search-api", lambda i: i["status"] == "resolved", what="resolved"
        )
        assert incident["rollback"] is None and incident["severity"] == "HIGH"
        # The resolution page leaves the outbox after the incident is resolved.
        await p.recorder.wait_for(lambda r: len(r.on("/pager")) >= 2, what="the resolve page")
        assert not p.recorder.on("/rollback") and not p.recorder.on("/breaker")
        assert len(p.recorder.on("/pager")) == 2  # the page, and its resolution


async def test_no_target_opens_no_breaker_and_escalates_at_once(
    bootstrap: str, database: str, make_topic: Callable[..., Awaitable[str]]
) -> None:
    """A HIGH alert still breaching when its window ends, on a version with no known good one
    and no deploy history: no breaker, no phase, the lead engineer paged with the reason."""
    topics = {name: await make_topic(name) for name in ("decisions", "panes", "incidents")}
    async with Recorder() as rec:
        stack = Stack(fast_settings(database, bootstrap, topics, rec), rec)
        await stack.start()
        try:
            high = decision(
                "search-api", Severity.HIGH, rule="p95_latency", metric="p95_ms",
                last_good_version=None, breaching=True,
            )  # fmt: skip
            await stack.send(high)
            incident = await stack.wait_incident(
                "search-api",
                lambda i: any(m.startswith("no rollback; escalated") for m in _timeline(i)),
                what="the escalation",
            )
            await rec.wait_for(
                lambda r: any(q.key and "no_rollback_target" in q.key for q in r.on("/pager")),
                what="the lead engineer's page",
            )
        finally:
            await stack.stop()
    assert incident["rollback"] is None and incident["last_good_version"] is None
    started = next(t for t in incident["timeline"] if t["message"].startswith("investigation"))
    assert started["message"] == "investigation window of 1.5 s started"
    escalated = next(t for t in incident["timeline"] if t["message"].startswith("no rollback"))
    assert escalated["reason"] == (
        "no version to roll back to: search-api has no last known good version other than "
        "2.4.0, and no other version deployed successfully before it"
    )
    pages = [q.json for q in rec.on("/pager")]
    assert any("lead engineer" in str(page) for page in pages)
    assert not rec.on("/breaker") and not rec.on("/rollback")


async def test_a_quiet_endpoint_pages_nobody(
    pipeline: Callable[..., Any], series_panes: Panes, produce_panes: Produce
) -> None:
    """0.2 requests/s with ordinary gaps (33% of the expected rate over 30 s) and a 5xx among
    a dozen requests: throughput and error rates cannot be judged there — no data, no page."""
    scope = {"service": "reports-api", "endpoint": "GET /api/report"}
    requests = "(1 0x4)x40 1 0x14 1 0x14 (1 0x4)x30"
    errors = "0x200 1 0x179"
    groups = series_panes([{"scope": scope, "requests": requests, "errors": errors}])
    panes = [pane for group in groups for pane in group]
    async with pipeline() as p:
        await produce_panes(p.panes_topic, panes)
        await _all_judged(p, len(panes))
        assert p.decisions_made() > 0  # it was judged: its no_data reports went out
        assert await p.stack.incidents() == []
        assert not p.recorder.on("/pager") and not p.recorder.on("/chat")


async def test_six_services_failing_on_get_health_are_a_cascade(
    pipeline: Callable[..., Any], series_panes: Panes, produce_panes: Produce
) -> None:
    series = [
        {"scope": {"service": f"svc-{n}", "endpoint": "GET /health"},
         "requests": "5x90", "errors": "0x30 (3 2)x30"}
        for n in "abcdef"
    ]  # fmt: skip
    panes = [pane for group in series_panes(series) for pane in group]
    async with pipeline(correlator=True) as p:
        await produce_panes(p.panes_topic, panes)
        cascade = await p.stack.wait_incident(
            "*", lambda i: i["scenario"] == "S4", what="the cascade's incident"
        )
        await p.recorder.wait_for(
            lambda r: any((q.json or {}).get("target") == "*" for q in r.on("/breaker")),
            what="the emergency stop",
        )
    assert cascade["severity"] == "CRITICAL"
    [alert] = cascade["alerts"].values()
    assert alert["rule"] == "cascading-failures"


async def test_the_slo_error_budget_reaches_the_api(
    pipeline: Callable[..., Any], series_panes: Panes, produce_panes: Produce
) -> None:
    """200 requests/s with one 5xx a second (0.5%) against the default 99% SLO: half the
    budget of what has been counted is left, reported per SLO and service."""
    scope = {"service": "shop-api", "endpoint": "GET /api/items"}
    groups = series_panes([{"scope": scope, "requests": "200x200", "errors": "1x200"}])
    async with pipeline() as p:
        await produce_panes(p.panes_topic, [pane for group in groups for pane in group])
        assert p.stack.pipeline is not None and p.stack.pipeline.asgi is not None
        r = p.stack.responder
        assert r is not None
        _, token = await issue_token(r.credentials, "slo-test", "viewer", "tests", r.clock.now())
        transport = httpx.ASGITransport(app=p.stack.pipeline.asgi)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:

            async def budgets() -> list[dict[str, Any]]:
                response = await client.get("/slos", params={"service": "shop-api"})
                assert response.status_code == 200
                found: list[dict[str, Any]] = response.json()
                return found

            def latest(found: list[dict[str, Any]]) -> bool:
                return bool(found) and found[0]["requests"] >= 200 * 120

            [budget] = await eventually(budgets, latest, 30, "the budget of the last minute")
            bad = await client.get("/slos", params={"limit": 0})
    assert (budget["slo"], budget["service"], budget["scope"]) == (
        "availability",
        "shop-api",
        {"service": "shop-api"},
    )
    seconds = budget["requests"] // 200
    assert budget["errors"] == seconds  # every pane counted once, rolled up or buffered
    assert budget["budget_remaining"] == pytest.approx(0.5)
    assert budget["burn_rates"]["5m"] == pytest.approx(0.5)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
