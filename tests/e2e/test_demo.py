"""`alertpipe demo` — the README's main job — through the console script: scenario S1 runs
through every stage, the fleet is rolled back once, the incident is mitigated and resolved,
and the pager (a loopback recorder standing in for PagerDuty) gets the Events API v2 calls.

The drill runs on a policy with 20 s windows (``fast_policy``) so it ends within about a
minute and a half; everything else is the product's default.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Process, fast_policy
from tests.support.recorder import Recorder

pytestmark = pytest.mark.slow


async def test_the_demo_detects_s1_rolls_back_once_and_resolves(
    cli: Callable[..., Awaitable[Process]], tmp_path: Path
) -> None:
    async with Recorder() as pager:
        env = {
            "ALERTPIPE_POLICY": str(fast_policy(tmp_path / "policy.yaml")),
            "ALERTPIPE_PAGER_URL": pager.url("/pager"),
            "ALERTPIPE_WEBHOOK_SECRET": "e2e-secret",
        }
        demo = await cli("demo", "--scenario", "s1", "--warmup", "15", "--duration", "120", env=env)
        code = await demo.wait(within_s=240)
        out = demo.output
    assert code == 0, out

    # Stage 2 decided, on the right endpoint, after the deploy the demo announced.
    assert "deploy    chat-api 2.4.0 succeeded" in out, out
    assert re.search(r"decision  CRITICAL firing: error_rate .* POST /api/message", out), out
    # Stage 4 acted on the fleet exactly once per effect, in the plan's order.
    fleet = [line.strip() for line in demo.lines if "[fleet]" in line]
    assert fleet == [
        "[fleet] chat-api: breaker open (chat-api)",
        "[fleet] chat-api: deployed 2.3.9 (was 2.4.0); errors stop",
        "[fleet] chat-api: breaker close (chat-api)",
    ], out
    # The incident went the whole way, and the summary measured each phase against the plan.
    incident = re.search(
        r"^(inc_\w+)  chat-api  S1  CRITICAL  resolved  2\.4\.0 → 2\.3\.9$", out, re.M
    )
    assert incident, out
    for phase in ("prepare", "revert_code", "verify", "resume"):
        assert re.search(rf"phase {phase} +succeeded", out), out
    assert "phase restore_data skipped" in out

    # The pager got PagerDuty Events v2: triggers and a resolve, all under the incident's key.
    events = [r.json for r in pager.on("/pager")]
    assert [e["event_action"] for e in events][-1] == "resolve", events
    assert {e["dedup_key"] for e in events} == {incident.group(1)}
    assert all(r.headers.get("x-alertpipe-signature") for r in pager.on("/pager"))
