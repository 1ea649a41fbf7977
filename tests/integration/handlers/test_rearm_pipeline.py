"""The bad version deployed again after a resolution by hand, end to end: live panes → stage 2
(the real evaluator) → decisions → stage 3–4 (the real responder) → receivers, on Kafka and
PostgreSQL.

The issue's report, compressed: a CRITICAL error-rate alert rolls chat-api back; the incident
is resolved through the API while stage 2 still holds the alert firing (keep_firing_for);
then the bad version is deployed again and errors climb above 10%. Before re-arming, stage 2
published nothing (the alert never stopped firing) and nothing happened. Now the alert's turn
back to breaching opens a new incident: paged, breaker opened, rolled back — a second revert
under the new incident's own idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka.admin import AIOKafkaAdminClient

from app.credentials import issue_token
from schemas.panes import DeployRecord, LatencySketch, PaneSummary, RequestStats, Scope
from streams.policy import parse_policy
from tests.integration.evaluate.conftest import EvalTopics, running_evaluator
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

SERVICE = "chat-api"
ENDPOINT = Scope(service=SERVICE, dimension="endpoint", key="POST /api/message")

# One CRITICAL rule, its times compressed: 3 s windows, held firing for 40 s once clear.
POLICY = parse_policy(
    """
version: 1
deploys: {healthy_for: 2s, post_deploy_window: 1m}
rules:
  - name: core-error-rate-critical
    metric: error_rate
    comparison: ">"
    threshold: 10%
    match: {endpoint: "POST /api/message"}
    window: 3s
    min_samples: 20
    for: 0s
    keep_firing_for: 40s
    severity: CRITICAL
    scenario: S1
    response: rollback
"""
)


@dataclass
class Traffic:
    """chat-api's live traffic: one closed pane per second of the version running now."""

    version: str = "2.3.9"
    error_rate: float = 0.0
    deployed: bool = False  # its deploy is on a pane already

    def run(self, version: str, error_rate: float) -> None:
        if version != self.version:
            self.deployed = False
        self.version, self.error_rate = version, error_rate

    def panes(self, start_ms: int) -> list[PaneSummary]:
        count = 60
        errors = round(count * self.error_rate)
        found = [
            PaneSummary(
                pane_id=PaneSummary.make_id(ENDPOINT, start_ms),
                scope=ENDPOINT,
                start_ms=start_ms,
                end_ms=start_ms + 1000,
                requests=RequestStats(
                    count=count,
                    errors=errors,
                    latency=LatencySketch(alpha=0.01, offset=300, counts=[count]),
                    min_ms=20.0,
                    max_ms=80.0,
                    versions={self.version: count},
                ),
            )
        ]
        if not self.deployed:  # deploys travel on the service's own pane, as it starts
            deploy = DeployRecord(ts=start_ms / 1000, version=self.version, status="succeeded")
            scope = Scope(service=SERVICE, dimension="service", key=SERVICE)
            pane = PaneSummary(
                pane_id=PaneSummary.make_id(scope, start_ms),
                scope=scope,
                start_ms=start_ms,
                end_ms=start_ms + 1000,
                deploys=[deploy],
            )
            found.insert(0, pane)  # stage 1 sees the deploy before the requests it serves
            self.deployed = True
        return found


async def _live(stack: Stack, traffic: Traffic) -> None:
    assert stack.producer is not None
    sent_until = int(time.time()) * 1000 - 1000
    while True:
        now_ms = int(time.time() * 1000)
        while sent_until + 1000 <= now_ms:
            for pane in traffic.panes(sent_until):
                await stack.producer.send_and_wait(
                    stack.settings.topics.panes,
                    pane.model_dump_json().encode(),
                    key=SERVICE.encode(),
                )
            sent_until += 1000
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _stage_two(
    bootstrap: str, stack: Stack, unique: Callable[[str], str]
) -> AsyncIterator[None]:
    topics = stack.settings.topics
    names = EvalTopics(topics.panes, topics.decisions, unique("state"), unique("evaluator"))
    try:
        async with running_evaluator(bootstrap, names, POLICY, idle_after_ms=3000):
            yield
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            if names.state in await admin.list_topics():
                await admin.delete_topics([names.state])
        finally:
            await admin.close()


async def test_the_bad_version_deployed_again_after_a_resolution_by_hand_is_rolled_back_again(
    stack: Callable[..., Awaitable[Stack]],
    recorder: Recorder,
    bootstrap: str,
    unique: Callable[[str], str],
) -> None:
    s = await stack(rollback={"verify_window_s": 2.0, "verify_min_requests": 20})
    traffic = Traffic()
    s.background(_live(s, traffic))
    async with _stage_two(bootstrap, s, unique):
        # 2.3.9 runs healthy (its deploy is on record: the last known good), then 2.4.0 fails.
        await eventually(lambda: _deployed(s, "2.3.9"), bool, 20, "2.3.9's deploy recorded")
        traffic.run("2.4.0", 0.5)
        await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, 30, "the first revert")
        traffic.run("2.3.9", 0.0)  # the revert: errors stop
        await s.wait_incident(
            SERVICE, lambda i: i["rollback_status"] == "succeeded", 30, "the first rollback"
        )
        held = "core-error-rate-critical held firing by keep_firing_for on its latest window"
        first = await s.wait_incident(
            SERVICE, lambda i: held in _timeline(i), 30, "stage 2 holding the alert firing"
        )
        # Resolved through the API while stage 2 holds the alert firing (clear, 40 s to go).
        assert s.pipeline is not None and s.pipeline.asgi and s.responder is not None
        _, token = await issue_token(s.responder.credentials, "ana", "operator", "test", 0.0)
        transport = httpx.ASGITransport(app=s.pipeline.asgi)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as client:
            done = await client.post(f"/incidents/{first['id']}/resolve", json={"note": "ok"})
        assert done.status_code == 200, done.text
        assert [a["rule"] for a in done.json()["rearmed"]] == ["core-error-rate-critical"]
        # The bad version again, errors above 10%, while the alert is still held firing.
        traffic.run("2.4.0", 0.4)
        await recorder.wait_for(lambda r: len(r.on("/rollback")) == 2, 30, "a second revert")
        traffic.run("2.3.9", 0.0)

    incidents = await s.incidents(SERVICE)
    assert [i["status"] for i in incidents][1:] == ["resolved"] and len(incidents) == 2
    second = await s.incident(incidents[0]["id"])
    assert second["id"] != first["id"] and second["bad_version"] == "2.4.0"
    assert second["last_good_version"] == "2.3.9"
    assert second["timeline"][0]["reason"].startswith("a re-armed alert breaches again")
    reverts = recorder.on("/rollback")
    assert [r.key for r in reverts] == [
        f"{first['id']}:rollback:revert_code",
        f"{second['id']}:rollback:revert_code",
    ]
    triggers = [r for r in recorder.on("/pager") if (r.json or {}).get("event_action") == "trigger"]
    assert [t.json["dedup_key"] for t in triggers if t.json] == [first["id"], second["id"]]
    breakers = [r.key for r in recorder.on("/breaker") if (r.json or {}).get("action") == "open"]
    assert f"{second['id']}:breaker:open:{SERVICE}" in breakers


async def _deployed(stack: Stack, version: str) -> bool:
    assert stack.responder is not None
    found = await stack.responder.pool.fetchval(
        "SELECT count(*) FROM deploys WHERE service = $1 AND version = $2", SERVICE, version
    )
    return bool(found)


def _timeline(incident: dict[str, Any]) -> list[str]:
    return [t["message"] for t in incident["timeline"]]
