"""`alertpipe demo` — the README's main job — through the console script, one run per scenario
of the plan: telemetry → stage 1 → stage 2 → incidents → the plan's response → a fleet that
recovers → resolution. Each test asserts which control calls reached the fleet (in order, each
exactly once), how the incidents were classified, that every rollback phase ran against the
plan, and that everything resolved.

The drills run on a policy with 20 s windows (``fast_policy``) so each ends within about a
minute and a half; everything else is the product's default. The pager is a loopback
recorder standing in for PagerDuty (Events API v2).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Process
from tests.support.contracts import ROUTING_KEY, PagerDutyEvents
from tests.support.policy import fast_policy
from tests.support.recorder import Recorder

pytestmark = pytest.mark.slow

_SUMMARY = re.compile(r"^(inc_\w+)  (\S+)  (S\d|-)  (\w+)  (\w+)  (\S+) → (\S+)$", re.M)


@dataclass(frozen=True)
class Incident:
    id: str
    service: str
    scenario: str
    severity: str
    status: str


async def _drill(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path, pager: Recorder, scenario: str
) -> tuple[str, list[str], list[Incident]]:
    env = {
        "ALERTPIPE_POLICY": str(fast_policy(tmp_path / "policy.yaml")),
        "ALERTPIPE_PAGER_URL": pager.url("/pager"),
        "ALERTPIPE_PAGER_ROUTING_KEY": ROUTING_KEY,
        "ALERTPIPE_WEBHOOK_SECRET": "e2e-secret",
    }
    demo = await cli("demo", "--scenario", scenario, "--warmup", "15", "--duration", "120", env=env)
    code = await demo.wait(within_s=240)
    out = demo.output
    assert code == 0, out
    assert f"deploy    chat-api {'2.4.0'} succeeded" in out, out
    fleet = [line.strip() for line in demo.lines if "[fleet]" in line]
    incidents = [Incident(*m.groups()[:5]) for m in _SUMMARY.finditer(out)]
    assert incidents and all(i.status == "resolved" for i in incidents), out
    return out, fleet, incidents


def _once(fleet: list[str], line: str) -> int:
    assert fleet.count(line) == 1, fleet
    return fleet.index(line)


async def test_s1_critical_feature_broken_rolls_back_once_and_resolves(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path
) -> None:
    async with Recorder(contracts={"/pager": PagerDutyEvents()}) as pager:
        out, fleet, incidents = await _drill(cli, tmp_path, pager, "s1")
    assert re.search(r"decision  CRITICAL firing: error_rate .* POST /api/message", out), out
    assert fleet == [
        "[fleet] chat-api: breaker open (chat-api)",
        "[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop",
        "[fleet] chat-api: breaker close (chat-api)",
    ], out
    assert [(i.service, i.scenario, i.severity) for i in incidents] == [
        ("chat-api", "S1", "CRITICAL")
    ]
    assert re.search(r"^inc_\w+  chat-api  S1  CRITICAL  resolved  2\.4\.0 → 2\.3\.9$", out, re.M)
    for phase in ("prepare", "revert_code", "verify", "resume"):
        assert re.search(rf"phase {phase} +succeeded", out), out
    assert "phase restore_data skipped   (the incident does not involve data)" in out
    # PagerDuty Events v2 (the contract's checks passed): triggers, then a resolve of every
    # paged tier's alert — the on-call one under the incident's key — all signed.
    events = [r.json for r in pager.on("/pager")]
    assert [e["event_action"] for e in events][-1] == "resolve", events
    keys = {e["dedup_key"] for e in events}
    assert incidents[0].id in keys and all(k.startswith(incidents[0].id) for k in keys)
    assert {e["dedup_key"] for e in events if e["event_action"] == "resolve"} == keys
    assert all(r.answered == 202 for r in pager.on("/pager"))
    assert all(r.headers.get("x-alertpipe-signature") for r in pager.on("/pager"))


async def test_s2_data_corruption_stops_bots_restores_rechecks_and_resumes(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path
) -> None:
    async with Recorder(contracts={"/pager": PagerDutyEvents()}) as pager:
        out, fleet, incidents = await _drill(cli, tmp_path, pager, "s2")
    assert re.search(r"decision  CRITICAL firing: integrity_failures .* chat_history", out), out
    assert [(i.service, i.scenario, i.severity) for i in incidents] == [
        ("chat-api", "S2", "CRITICAL")
    ]
    stop = _once(fleet, "[fleet] chat-api: bot_restart stop (*)")
    isolate = _once(fleet, "[fleet] chat-api: breaker open (chat-api/data)")
    revert = _once(fleet, "[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop")
    # The restore names a real backup: the simulated agent's, taken before the deploy.
    [restored] = [line for line in fleet if "restored" in line]
    found = re.fullmatch(
        r"\[fleet\] chat-api: restored chat_messages from backup (chat_messages-\w+-\d+); "
        r"integrity checks pass",
        restored,
    )
    assert found, fleet
    restore = _once(fleet, restored)
    check = _once(fleet, "[fleet] chat-api: integrity re-checked: ok")
    resume = _once(fleet, "[fleet] chat-api: bots started (*)")
    assert stop < revert < restore < check < resume and isolate < restore, fleet
    assert re.search(r"phase restore_data +succeeded", out), out
    # …and the demo shows which one and the data it lost, against the RPO and the RTO
    backup_id = re.escape(found.group(1))
    loss = rf"restoring chat_messages from backup {backup_id}: data-loss window [\d.]+ \w+ "
    assert re.search(loss + r"\(within the RPO of 10 min\)", out), out
    assert re.search(r"within the RTO of 10 min", out), out
    # …and so does the incident's post-incident review, under its resolution
    review = rf"^  - restored chat_messages from backup {backup_id}: data-loss window .* RPO"
    assert re.search(review, out, re.M), out
    # It ends with the readiness check of the deployed service, whose rollback procedure was
    # just tested: the item names this drill and its result (the drill's deploy, a drill's,
    # raised no "deployed while not ready").
    assert re.search(r"^chat-api 2\.4\.0: NOT READY \(\d+ of 12 items do not pass\)$", out, re.M)
    [drill_id] = re.findall(r"drill +(drill_\w+) started through POST /drills", out)
    tested = re.search(r"Rollback procedure documented and tested: (.*)$", out, re.M)
    assert tested and drill_id in tested.group(1), out
    assert "deployed while not ready" not in out, out


async def test_s3_slow_after_the_investigation_window_is_rolled_back_once(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path
) -> None:
    async with Recorder(contracts={"/pager": PagerDutyEvents()}) as pager:
        out, fleet, incidents = await _drill(cli, tmp_path, pager, "s3")
    assert re.search(r"decision  HIGH firing: p95_ms .* on chat-api", out), out
    chat = [i for i in incidents if i.service == "chat-api"]
    assert [(i.scenario, i.severity) for i in chat] == [("S3", "HIGH")], incidents
    # the verdict, as the console shows the chat notice (cut at its width)
    assert "investigation window ended, the condition still breaches on the latest window" in out
    _once(fleet, "[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop")
    # HIGH pages as PagerDuty "error" (MEDIUM as "warning"); nothing here is CRITICAL.
    triggers = [r.json for r in pager.on("/pager") if r.json["event_action"] == "trigger"]
    assert triggers and {t["payload"]["severity"] for t in triggers} <= {"error", "warning"}


async def test_s4_cascade_stops_everything_and_rolls_back_each_deployed_service_once(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path
) -> None:
    async with Recorder(contracts={"/pager": PagerDutyEvents()}) as pager:
        _, fleet, incidents = await _drill(cli, tmp_path, pager, "s4")
    s4 = [i for i in incidents if i.scenario == "S4"]
    assert s4 and all(i.severity == "CRITICAL" for i in s4), incidents
    _once(fleet, "[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop")
    _once(fleet, "[fleet] bot-runner: deployed 0.9.4 (was 1.0.0); errors stop")
    assert not any("search-api: deployed" in line for line in fleet), fleet  # nothing to revert
    # The emergency stop: each S4 incident opens the platform breaker (every breaker), once.
    for incident in s4:
        _once(fleet, f"[fleet] {incident.service}: breaker open (*)")
    # Resume at reduced capacity (the plan's S4 step 4): the platform breaker is closed at 50%
    # (by the last emergency rollback to reach resume), and nothing stops it again afterwards.
    platform = [n for n, line in enumerate(fleet) if re.search(r": breaker \w+ \(\*\)", line)]
    closes = [n for n in platform if ": breaker close (*)" in fleet[n]]
    assert closes and platform[-1] == closes[-1], fleet
    assert all(fleet[n].endswith(": breaker close (*) at 50% capacity") for n in closes), fleet
