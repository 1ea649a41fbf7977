"""/metrics of a running responder, parsed with prometheus_client's parser: consumer lag of
stage 3, deliveries and failures by receiver and status (a pager answering 400 shows), the
outbox backlog and its oldest action per lane, the pane-end → decision and decision → first
page histograms, and timers due and late — each driven by what really happened."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(s: Stack) -> Samples:
    assert s.pipeline is not None and s.pipeline.asgi is not None
    transport = httpx.ASGITransport(app=s.pipeline.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://responder") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    found: Samples = {}
    for family in text_string_to_metric_families(r.text):
        written = family.name + ("_total" if family.type == "counter" else "")
        assert f"# HELP {written} " in r.text and f"# TYPE {written} " in r.text
        assert "undeclared" not in family.documentation, family.name
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def until(s: Stack, check: Callable[[Samples], bool], what: str) -> Samples:
    found = await eventually(lambda: scrape(s), check, 30, what)
    assert found is not None
    return found


async def test_deliveries_failures_latencies_and_lag(stack: MakeStack, recorder: Recorder) -> None:
    s = await stack(roles=("sink", "http", "manager", "dispatcher"))
    recorder.fail_next(1, status=400, path="/statuspage")
    await s.send(decision(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms"))

    def delivered(m: Samples) -> bool:
        return value(m, "alertpipe_deliveries_total", receiver="status_page", status="failed") == 1

    m = await until(s, delivered, "the status page's 400 counted")
    assert value(m, "alertpipe_delivery_failures_total", receiver="status_page", status="400") == 1
    assert value(m, "alertpipe_deliveries_total", receiver="page", status="sent") == 1
    assert value(m, "alertpipe_delivery_failures_total", receiver="page", status="400") is None
    # one decision: pane end -> decision recorded; one incident: decision -> first page sent
    assert value(m, "alertpipe_decision_latency_seconds_count") == 1
    assert value(m, "alertpipe_decision_latency_seconds_bucket", le="+Inf") == 1
    assert value(m, "alertpipe_first_page_latency_seconds_count") == 1
    first_page_s = value(m, "alertpipe_first_page_latency_seconds_sum")
    assert first_page_s is not None and 0 <= first_page_s < 30
    assert value(m, "alertpipe_incident_manager_decisions_total", outcome="incident") == 1
    lag = {k[1]: v for k, v in m.items() if k[0] == "alertpipe_consumer_lag"}
    assert lag and all(dict(labels)["stage"] == "incident-manager" for labels in lag), lag
    assert set(lag.values()) == {0}, lag  # the decision was consumed


async def test_outbox_backlog_and_oldest_age_per_lane(stack: MakeStack, recorder: Recorder) -> None:
    s = await stack(roles=("http", "dispatcher"))
    recorder.fail_next(1000, status=503, path="/chat")  # the chat lane's action keeps retrying
    assert s.responder is not None
    manager = _manager(s)
    await manager.apply(decision(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    await recorder.wait_for(lambda r: len(r.on("/chat")) >= 2, what="chat retried")

    def backlogged(m: Samples) -> bool:
        age = value(m, "alertpipe_outbox_oldest_pending_age_seconds", lane="updates")
        return age is not None and age > 0.5

    m = await until(s, backlogged, "an aging chat action")
    assert value(m, "alertpipe_outbox_backlog", lane="updates") == 1
    assert value(m, "alertpipe_outbox_backlog", lane="page") == 0
    assert value(m, "alertpipe_outbox_backlog", lane="control") == 0
    assert value(m, "alertpipe_outbox_oldest_pending_age_seconds", lane="page") == 0
    assert (value(m, "alertpipe_delivery_failures_total", receiver="chat", status="503") or 0) >= 2
    assert (value(m, "alertpipe_deliveries_total", receiver="chat", status="retry") or 0) >= 2


async def test_timers_due_and_late(stack: MakeStack, recorder: Recorder) -> None:
    # No timer worker runs: the HIGH incident's investigation timer comes due and goes late.
    s = await stack(roles=("http",), response={"investigation_s": 0.5})
    await _manager(s).apply(decision(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    m = await scrape(s)
    assert value(m, "alertpipe_timers_due") == 0 and value(m, "alertpipe_timers_late") == 0
    m = await until(s, lambda m: value(m, "alertpipe_timers_late") == 1, "a late timer")
    assert value(m, "alertpipe_timers_due") == 1


def _manager(s: Stack) -> Any:
    from handlers.incidents.manager import IncidentManager

    assert s.responder is not None
    r = s.responder
    return IncidentManager(r.incidents, None, s.settings.response, r.clock)  # type: ignore[arg-type]
