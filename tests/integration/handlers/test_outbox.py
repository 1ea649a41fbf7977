"""The notification path on real PostgreSQL and a loopback recorder: durable retry, Retry-After,
no retry on other 4xx, per-incident order, silences and inhibition recorded on the timeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.incidents.manager import IncidentManager
from handlers.silences import Matcher, Silence
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]
NOTIFY_ONLY = ("http", "dispatcher")


def _manager(s: Stack) -> IncidentManager:
    assert s.responder is not None
    return IncidentManager(s.responder.incidents, None, s.settings.response, s.responder.clock)  # type: ignore[arg-type]


async def _open(s: Stack, *decisions: object) -> str:
    for d in decisions:
        await _manager(s).apply(d)  # type: ignore[arg-type]
    [found] = await s.incidents()
    return str(found["id"])


async def test_retryable_failures_are_retried_durably_under_one_key(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY_ONLY)
    recorder.fail_next(2, status=503, path="/pager")
    recorder.fail_next(1, status=429, path="/chat", retry_after="1")
    incident_id = await _open(s, decision(severity=Severity.HIGH))
    # 202 and 200: what PagerDuty and Slack answer (tests.support.contracts)
    await recorder.wait_for(lambda r: [x.answered for x in r.on("/pager")] == [503, 503, 202])
    await recorder.wait_for(lambda r: [x.answered for x in r.on("/chat")] == [429, 200])
    pages = recorder.on("/pager")
    assert len({p.key for p in pages}) == 1
    first_chat, second_chat = recorder.on("/chat")
    assert second_chat.at - first_chat.at >= 0.9, "Retry-After was not honoured"
    inc = await s.incident(incident_id)
    [page] = [a for a in inc["actions"] if a["kind"] == "page"]
    assert (page["status"], page["attempts"]) == ("sent", 3)
    assert sum("will be retried" in t["message"] for t in inc["timeline"]) == 3


async def test_other_4xx_fail_at_once_and_say_so(stack: MakeStack, recorder: Recorder) -> None:
    s = await stack(roles=NOTIFY_ONLY)
    recorder.fail_next(5, status=400, path="/statuspage")
    incident_id = await _open(s, decision(severity=Severity.HIGH))

    async def status_page() -> dict:  # type: ignore[type-arg]
        inc = await s.incident(incident_id)
        return next(a for a in inc["actions"] if a["kind"] == "status_page")

    action = await eventually(status_page, lambda a: a["status"] == "failed")
    assert action["attempts"] == 1
    assert action["last_error"] == 'status_page: HTTP 400: {"ok": false}'  # with its answer
    assert len(recorder.on("/statuspage")) == 1


async def test_an_incidents_pages_arrive_in_order_even_across_retries(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY_ONLY)
    incident_id = await _open(s, decision(severity=Severity.HIGH))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, what="trigger")
    recorder.fail_next(2, status=500, path="/pager")
    assert s.responder is not None
    await s.responder.commands.acknowledge(incident_id, "ana", None)
    await s.responder.commands.resolve(incident_id, "ana", "fixed")
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 5, what="five pager calls")
    events = [(x.json["event_action"], x.answered) for x in recorder.on("/pager")]
    assert events == [
        ("trigger", 202),
        ("acknowledge", 500),
        ("acknowledge", 500),
        ("acknowledge", 202),
        ("resolve", 202),
    ]


async def test_a_trigger_still_queued_when_the_incident_resolves_is_not_sent(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY_ONLY, delivery={"backoff_initial_s": 1.0})
    recorder.fail_next(1, status=503, path="/pager")
    incident_id = await _open(s, decision(severity=Severity.HIGH))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, what="first trigger attempt")
    assert s.responder is not None
    await s.responder.commands.resolve(incident_id, "ana", "false alarm")
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 2, what="resolve")
    assert [x.json["event_action"] for x in recorder.on("/pager")] == ["trigger", "resolve"]
    inc = await s.incident(incident_id)
    assert any(
        "resolved after this notification was queued" in t["reason"] for t in inc["timeline"]
    )


async def test_a_silence_mutes_notifications_records_it_and_control_still_runs(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=("http", "dispatcher"))
    assert s.responder is not None
    now = s.responder.clock.now()
    silence = Silence(
        "sil_test1",
        (Matcher("service", "chat-api"), Matcher("endpoint", "POST /api/.*", "=~")),
        now - 1,
        now + 600,
        "ana",
        "maintenance",
    )
    await s.responder.silences.create(silence, now)
    incident_id = await _open(s, decision(severity=Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/breaker")) == 1, what="the breaker still opens")

    async def muted() -> list[str]:
        inc = await s.incident(incident_id)
        return [t["message"] for t in inc["timeline"] if t["kind"] == "silence"]

    messages = await eventually(muted, lambda m: len(m) == 3, what="three muted notices")
    assert all(m.endswith("muted by silence sil_test1") for m in messages)
    assert not recorder.on("/pager") and not recorder.on("/chat") and not recorder.on("/statuspage")
    inc = await s.incident(incident_id)
    assert inc["status"] == "open" and inc["severity"] == "CRITICAL"  # still recorded
    assert {
        a["status"] for a in inc["actions"] if a["kind"] in ("page", "chat", "status_page")
    } == {"muted"}


async def test_an_open_critical_incident_inhibits_the_services_lower_notifications(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY_ONLY, response={"group_window_s": 1})
    t0 = 1_800_000_000.0
    await _manager(s).apply(decision(severity=Severity.CRITICAL, at=t0))
    await _manager(s).apply(
        decision(severity=Severity.HIGH, rule="p95_latency", metric="p95_ms", at=t0 + 60)
    )
    found = await s.incidents("chat-api")
    high = next(i for i in found if i["severity"] == "HIGH")
    critical = next(i for i in found if i["severity"] == "CRITICAL")

    async def inhibited() -> list[str]:
        inc = await s.incident(high["id"])
        return [t["message"] for t in inc["timeline"] if t["kind"] == "inhibition"]

    messages = await eventually(inhibited, lambda m: len(m) == 3, what="three inhibited notices")
    assert all(m.endswith(f"inhibited by CRITICAL incident {critical['id']}") for m in messages)
    triggers = [r for r in recorder.on("/pager") if r.json["event_action"] == "trigger"]
    assert {r.json["dedup_key"] for r in triggers} == {critical["id"]}
