"""The dashboard in a real browser (Debian's Chromium through Playwright) against a running
pipeline: ``alertpipe run`` (every role) fed by ``alertpipe simulate --scenario s1``.

People sign in with tokens (an operator and a viewer, made by the bootstrap admin); the graphs
must draw the live panes (the data each chart holds, and pixels of its colour on the canvas);
the S1 incident must reach the board within seconds of opening; the operator acknowledges it
and the timeline names them; the viewer gets no write control, and a write forged with the
viewer's cookie is refused. Each page's screenshot is kept in ``.artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page

from app.settings import Settings
from tests.e2e.conftest import ALERTPIPE, ROOT, Process
from tests.support.browser import chromium, drawn_pixels, screenshot, sign_in
from tests.support.contracts import ROUTING_KEY, STATUSPAGE_KEY
from tests.support.policy import fast_policy
from tests.support.recorder import Recorder
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

_READY = re.compile(r"^alertpipe: running (.+); (http://\S+)/health")
BOOTSTRAP = f"bootstrap-{uuid.uuid4().hex}"
MESSAGE = "endpoint|POST /api/message"


@dataclass
class Console:
    url: str
    run: Process
    api: httpx.AsyncClient  # as the bootstrap admin
    tokens: dict[str, str]  # name -> token


async def _start(*args: str, env: dict[str, str]) -> Process:
    proc = await asyncio.create_subprocess_exec(
        ALERTPIPE, *args, cwd=ROOT, env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    process = Process(proc)
    process._reader = asyncio.create_task(process._read())
    return process


def _env(run: str, policy: Path, recorder: Recorder) -> dict[str, str]:
    topics = ("telemetry", "dead_letter", "panes", "decisions", "incidents")
    receivers = ("pager", "chat", "statuspage", "breaker", "rollback", "restore", "bot_restart")
    return {
        **{f"ALERTPIPE_TOPICS__{t.upper()}": f"e2e-{run}.{t}" for t in topics},
        **{f"ALERTPIPE_{r.upper()}_URL": recorder.url(f"/{r}") for r in receivers},
        "ALERTPIPE_GROUP_PREFIX": f"e2e-{run}",
        "ALERTPIPE_EVALUATOR__STATE_TOPIC": f"e2e-{run}.alerts.state",
        "ALERTPIPE_EVALUATOR__OFFSET_RESET": "earliest",
        "ALERTPIPE_DATABASE_SCHEMA": f"e2e_dash_{run}",
        "ALERTPIPE_HTTP_PORT": "0",
        "ALERTPIPE_POLICY": str(policy),
        "ALERTPIPE_AUTH__BOOTSTRAP_TOKEN": BOOTSTRAP,
        "ALERTPIPE_PAGER_ROUTING_KEY": ROUTING_KEY,
        "ALERTPIPE_STATUSPAGE_API_KEY": STATUSPAGE_KEY,
    }


async def _token(api: httpx.AsyncClient, name: str, role: str) -> str:
    made = await api.post("/tokens", json={"name": name, "role": role})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


@pytest.fixture(scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    run = uuid.uuid4().hex[:8]
    policy = fast_policy(tmp_path_factory.mktemp("policy") / "policy.yaml")
    async with Recorder() as recorder:
        env = _env(run, policy, recorder)
        pipeline = await _start("run", env=env)
        line = await pipeline.wait_line(lambda s: bool(_READY.match(s)), 90, "the ready line")
        match = _READY.match(line)
        assert match is not None
        url = match.group(2)
        traffic = await _start(
            "simulate", "--scenario", "s1", "--warmup", "20", "--duration", "150", env=env
        )
        headers = {"Authorization": f"Bearer {BOOTSTRAP}"}
        async with httpx.AsyncClient(base_url=url, headers=headers) as api:
            tokens = {
                "ops-alice": await _token(api, "ops-alice", "operator"),
                "viewer-victor": await _token(api, "viewer-victor", "viewer"),
            }
            yield Console(url, pipeline, api, tokens)
        for process in (traffic, pipeline):
            if process.proc.returncode is None:
                process.proc.kill()
                await process.proc.wait()
        assert "Traceback" not in pipeline.output, pipeline.output
    conn = await asyncpg.connect(Settings().dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "e2e_dash_{run}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as found:
        yield found


@pytest.fixture(scope="module")
async def operator(console: Console, browser: Browser) -> Page:
    return await sign_in(browser, console.url, console.tokens["ops-alice"])


@pytest.fixture(scope="module")
async def viewer(console: Console, browser: Browser) -> Page:
    return await sign_in(browser, console.url, console.tokens["viewer-victor"])


@pytest.fixture(scope="module")
async def s1_incident(console: Console) -> str:
    async def found() -> list[dict[str, Any]]:
        listed = await console.api.get("/incidents", params={"service": "chat-api"})
        return [i for i in listed.json() if i["scenario"] == "S1"]

    incidents = await eventually(found, bool, 150, "an S1 incident of chat-api", every_s=0.2)
    return str(incidents[0]["id"])


async def test_sign_in_sets_a_strict_http_only_session_cookie(
    console: Console, browser: Browser, operator: Page
) -> None:
    form = await browser.new_page()
    await form.goto(f"{console.url}/")
    await form.wait_for_selector("form.sign-in")
    assert not await form.is_visible("#nav") and not await form.is_visible("#who")
    await form.fill("input[name=token]", "ap_not_a_token")
    await form.click("form.sign-in button[type=submit]")
    await form.wait_for_selector("#flash:not([hidden])")
    assert "not accepted" in await form.inner_text("#flash")
    await screenshot(form, "sign-in")
    await form.close()

    assert await operator.inner_text("#who-name") == "ops-alice"
    assert await operator.inner_text("#who-role") == "operator"
    cookies = {c["name"]: c for c in await operator.context.cookies()}
    session = cookies["alertpipe_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    # The page itself cannot read it: only the browser sends it.
    assert "alertpipe_session" not in await operator.evaluate("document.cookie")


async def test_the_graphs_of_the_running_pipeline_draw_real_data(
    console: Console, operator: Page
) -> None:
    await operator.goto(f"{console.url}/#/graphs?service=chat-api&minutes=5")

    async def rps() -> dict[str, Any] | None:
        return await drawn_pixels(operator, MESSAGE, "rps")

    # The line grows as seconds arrive: wait for 10 points and 50 pixels of it on the canvas.
    drawn = await eventually(
        rps,
        lambda d: d is not None and d["points"] >= 10 and d["near"] >= 50,
        90,
        "10 s of requests/s drawn",
    )
    assert drawn is not None
    values = [v for v in drawn["values"] if v is not None]
    # The simulation sends ~70 requests/s to POST /api/message.
    assert 20 <= sorted(values)[len(values) // 2] <= 200, values
    assert drawn["near"] >= 50, drawn  # the line is on the canvas, in the series' colour
    latency = await drawn_pixels(operator, MESSAGE, "latency")
    assert latency is not None and latency["points"] >= 10 and latency["near"] > 0, latency
    held = await operator.evaluate(
        "(key) => { const s = window.alertpipe.graphs.scopes.get(key);"
        " return {thresholds: s.thresholds, updates: window.alertpipe.graphs.updates}; }",
        MESSAGE,
    )
    assert {(t["series"], t["value"]) for t in held["thresholds"]} >= {
        ("error_rate", 0.1),
        ("error_rate", 0.05),
    }

    async def updates() -> int:
        return int(await operator.evaluate("window.alertpipe.graphs.updates"))

    await eventually(updates, lambda n: n >= held["updates"] + 2, 10, "two live updates")
    await screenshot(operator, "graphs")


async def test_an_s1_incident_reaches_the_board_within_seconds(
    console: Console, operator: Page, s1_incident: str
) -> None:
    await operator.goto(f"{console.url}/#/incidents")
    row = operator.locator(f'tr[data-incident="{s1_incident}"]')
    await row.wait_for(timeout=10_000)  # the board polls every 2 s
    text = await row.inner_text()
    assert "CRITICAL" in text and "S1" in text and "chat-api" in text, text
    await screenshot(operator, "incidents")


async def test_an_operator_acknowledges_and_the_timeline_shows_who(
    console: Console, operator: Page, s1_incident: str
) -> None:
    await operator.goto(f"{console.url}/#/incidents/{s1_incident}")
    await operator.wait_for_selector("table.timeline")
    await operator.fill("[data-controls=write] input[name=note]", "on it")
    await operator.click("button[data-action=ack]")
    human = operator.locator("table.timeline tr[data-kind=human] .actor")
    await human.first.wait_for(timeout=10_000)
    assert await human.first.inner_text() == "ops-alice"
    got = (await console.api.get(f"/incidents/{s1_incident}")).json()
    assert got["acknowledged_by"] == "ops-alice"
    assert got["status"] == "acknowledged"
    await operator.wait_for_selector(".phases .phase")  # S1 rolls back: its phases show
    await screenshot(operator, "incident")


async def test_an_operator_creates_and_expires_a_silence(console: Console, operator: Page) -> None:
    await operator.goto(f"{console.url}/#/silences")
    form = operator.locator("form.create")
    await form.locator("input[name=value]").fill("search-api")
    await form.locator("input[name=comment]").fill("maintenance")
    await form.locator("button[type=submit]").click()
    row = operator.locator("table.silences tbody tr").first
    await row.wait_for(timeout=10_000)
    assert "service = search-api" in await row.inner_text()
    await screenshot(operator, "silences")
    silence = await row.get_attribute("data-silence")
    await row.locator("button[data-action=expire]").click()
    await operator.locator(f'tr[data-silence="{silence}"]').wait_for(state="detached")
    listed = (await console.api.get("/silences")).json()
    assert listed == [], listed


async def test_a_viewer_sees_no_write_control_and_a_forged_write_is_refused(
    console: Console, viewer: Page, s1_incident: str
) -> None:
    await viewer.goto(f"{console.url}/#/incidents/{s1_incident}")
    await viewer.wait_for_selector("table.timeline")
    assert await viewer.locator("[data-controls=write]").count() == 0
    assert await viewer.locator("button[data-action]").count() == 0
    assert "null" not in await viewer.inner_text("#view")  # nothing left where controls are
    await screenshot(viewer, "incident-viewer")
    await viewer.goto(f"{console.url}/#/silences")
    await viewer.wait_for_selector("h2:has-text('Silences')")
    assert await viewer.locator("form.create, button[data-action]").count() == 0

    forged = await viewer.evaluate(
        """async (id) => {
          const me = await (await fetch("/session")).json();
          const post = (headers) => fetch(`/incidents/${id}/resolve`, {
            method: "POST", body: "{}",
            headers: { "Content-Type": "application/json", ...headers },
          }).then(async (r) => [r.status, await r.json()]);
          return { with_csrf: await post({ "X-CSRF-Token": me.csrf }), without: await post({}) };
        }""",
        s1_incident,
    )
    assert forged["with_csrf"][0] == 403 and forged["with_csrf"][1]["error"] == "forbidden"
    assert forged["without"][0] == 403, forged
    got = (await console.api.get(f"/incidents/{s1_incident}")).json()
    assert got["status"] != "resolved"
    assert viewer.errors == []  # type: ignore[attr-defined]


async def test_the_api_stops_gracefully_while_a_page_streams(
    console: Console, operator: Page, s1_incident: str
) -> None:
    await operator.goto(f"{console.url}/#/graphs?service=chat-api&minutes=1")
    await operator.reload()  # a fresh page: no message left from an earlier step

    async def firing() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await operator.evaluate(
            "(key) => { const s = window.alertpipe.graphs.scopes.get(key);"
            " return s ? s.firing : []; }",
            MESSAGE,
        )
        return found

    shaded = await eventually(firing, bool, 30, "the S1 alert's firing interval on the graphs")
    assert {f["rule"] for f in shaded} >= {"core-error-rate-critical"}, shaded
    deploys = await operator.evaluate("window.alertpipe.graphs.deploys")
    assert "2.4.0" in {d["version"] for d in deploys}, deploys
    await screenshot(operator, "graphs-s1")
    assert operator.errors == []  # type: ignore[attr-defined]  # no script failed on any page
    assert await console.run.terminate(within_s=30) == 0, console.run.output
