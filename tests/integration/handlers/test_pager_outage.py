"""Receiver trouble never silences the pipeline: a page is retried until delivered while its
incident is open, each failure counted by receiver and on the timeline; a pager failing too
long is an incident of its own, said in chat and to the pager fallback; a chat notice that
failed for good rides along with the next one. Real PostgreSQL, a loopback recorder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from handlers.incidents.manager import IncidentManager
from handlers.outbox.dispatcher import OutboxDispatcher
from handlers.pager_watch import PAGER_INCIDENT_SERVICE
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]
NOTIFY = ("http", "dispatcher", "pager_watch")
# Two attempts before a notice is given up: a page must go on well past that.
QUICK = {"max_attempts": 2, "backoff_initial_s": 0.05, "backoff_max_s": 0.2, "timeout_s": 0.5}


async def _open(s: Stack, severity: Severity = Severity.HIGH, service: str = "chat-api") -> str:
    assert s.responder is not None
    manager = IncidentManager(s.responder.incidents, None, s.settings.response, s.responder.clock)  # type: ignore[arg-type]
    await manager.apply(decision(service, severity))
    found = await s.incidents(service)
    return str(found[0]["id"])


async def _action(s: Stack, incident_id: str, kind: str) -> dict[str, Any]:
    inc = await s.incident(incident_id)
    return next(a for a in inc["actions"] if a["kind"] == kind)


def _failures(s: Stack) -> dict[str, int]:
    dispatcher = s.role("outbox-dispatcher")
    assert isinstance(dispatcher, OutboxDispatcher)
    return dict(dispatcher.health()["failures"])


async def test_a_page_is_retried_past_max_attempts_until_the_pager_answers(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY, delivery={**QUICK, "pager_dead_after_s": 3600})
    recorder.outage("/pager", (500, None), (429, "0"), 1.0)
    incident_id = await _open(s)
    await recorder.wait_for(lambda r: len(r.on("/pager")) >= 7, what="7 pager attempts")
    page = await _action(s, incident_id, "page")
    assert page["status"] in ("pending", "sending") and page["attempts"] >= 6  # not given up
    assert _failures(s)["page"] >= 6

    recorder.restore("/pager")
    page = await eventually(
        lambda: _action(s, incident_id, "page"), lambda a: a["status"] == "sent", within_s=15
    )
    assert len({r.key for r in recorder.on("/pager")}) == 1  # one page, retried under its key
    assert [r.answered for r in recorder.on("/pager")][-1] == 202  # PagerDuty took it
    inc = await s.incident(incident_id)
    retried = [t for t in inc["timeline"] if t["message"] == "page trigger will be retried"]
    assert len(retried) == page["attempts"] - 1  # every failure is on the timeline
    assert any(t["reason"].startswith("retried until delivered") for t in retried)


async def test_a_chat_notice_that_failed_for_good_rides_along_with_the_next(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY, delivery=QUICK)
    recorder.fail_next(2, status=500, path="/chat")  # both attempts of the "opened" notice
    incident_id = await _open(s)
    opened = await eventually(
        lambda: _action(s, incident_id, "chat"), lambda a: a["status"] == "failed"
    )
    assert s.responder is not None
    await s.responder.commands.resolve(incident_id, "ana", "fixed")
    await recorder.wait_for(lambda r: [x.answered for x in r.on("/chat")] == [500, 500, 200])

    delivered = recorder.on("/chat")[-1].json
    assert delivered["text"].startswith(f"RESOLVED {incident_id}")
    assert "Earlier, not delivered at the time:" in delivered["text"]
    assert opened["payload"]["text"] in delivered["text"]

    async def carried() -> list[dict[str, Any]]:
        inc = await s.incident(incident_id)
        return [t for t in inc["timeline"] if t["message"].endswith("carried into a later one")]

    [late] = await eventually(carried, what="the late delivery on the timeline")
    assert late["result"]["key"] == opened["idempotency_key"]
    assert _failures(s)["chat"] == 2


async def test_a_drills_failed_notice_rides_only_with_its_drills_next(
    stack: MakeStack, recorder: Recorder
) -> None:
    """Chat is one channel for drills and real incidents alike, but a drill's notice that
    failed never rides in a real incident's notice (nor the other way round): it waits for
    the drill's next one."""
    s = await stack(roles=NOTIFY, delivery=QUICK)
    assert s.responder is not None
    recorder.fail_next(2, status=500, path="/chat")  # both attempts of the drill's "opened"
    manager = IncidentManager(s.responder.incidents, None, s.settings.response, s.responder.clock)  # type: ignore[arg-type]
    await manager.apply(decision("chat-api", Severity.HIGH, drill="drill_carry"))
    [drill_incident] = [i["id"] for i in await s.incidents("chat-api")]
    missed = await eventually(
        lambda: _action(s, drill_incident, "chat"), lambda a: a["status"] == "failed"
    )
    real = await _open(s, Severity.HIGH, service="search-api")
    await eventually(lambda: _action(s, real, "chat"), lambda a: a["status"] == "sent")
    [real_message] = [r.json["text"] for r in recorder.on("/chat") if r.answered == 200]
    assert real in real_message and "Earlier, not delivered" not in real_message

    await s.responder.commands.resolve(drill_incident, "ana", "drill over")
    await recorder.wait_for(lambda r: len([x for x in r.on("/chat") if x.answered == 200]) == 2)
    drill_message = recorder.on("/chat")[-1].json["text"]
    assert drill_message.startswith(f"[DRILL] RESOLVED {drill_incident}")
    assert missed["payload"]["text"] in drill_message  # carried by the drill's own next notice


async def test_a_dead_pager_is_an_incident_said_in_chat_and_to_the_fallback(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(roles=NOTIFY, delivery={**QUICK, "pager_dead_after_s": 1.0})
    recorder.outage("/pager", (503, None), (429, "1"), 1.0)
    incident_id = await _open(s, Severity.CRITICAL)
    await recorder.wait_for(
        lambda r: any(x.json["event"] == "pager_down" for x in r.on("/pager_fallback")),
        what="the fallback told",
    )
    [down] = [x.json for x in recorder.on("/pager_fallback")]
    assert down["text"].startswith("PAGER FAILING since") and incident_id in down["text"]
    await recorder.wait_for(
        lambda r: any("PAGER FAILING" in x.json["text"] for x in r.on("/chat")), what="chat told"
    )
    [pager_incident] = await s.incidents(PAGER_INCIDENT_SERVICE)
    assert pager_incident["status"] == "open" and pager_incident["severity"] == "HIGH"

    recorder.restore("/pager")
    await recorder.wait_for(
        lambda r: any(x.json["event"] == "pager_back" for x in r.on("/pager_fallback")),
        what="the fallback told the pager is back",
    )
    resolved = await s.incident(pager_incident["id"])
    assert resolved["status"] == "resolved"
    assert (await _action(s, incident_id, "page"))["status"] == "sent"
    triggers = {r.key for r in recorder.on("/pager") if r.json["event_action"] == "trigger"}
    assert triggers == {f"{incident_id}:page:trigger:detection:CRITICAL"}  # never paged itself
