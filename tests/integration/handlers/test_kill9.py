"""Exactly-once effects across kill -9: the responder process is killed mid-rollback (a revert
in flight, during verify), with a page in flight (detection, escalation), inside a timer's
firing transaction, or as one of two responders sharing the work — restarted (or taken over),
and every semantic effect still has exactly one idempotency key per incident and plan step;
re-sends carry the same key.

The responder runs as ``alertpipe run --role responder`` (``python -m app``: configured
through ``ALERTPIPE_*`` variables only, durations shortened there, every topic its own and the
HTTP probe on a free port), its receivers pointed at a recorder in this process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas.severity import Severity
from tests.support.contracts import COMPONENTS, ROUTING_KEY, STATUSPAGE_KEY, Statuspage
from tests.support.decisions import decision
from tests.support.recorder import Recorder, under
from tests.support.stack import RECEIVERS, Stack, fast_settings
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
RESPONDER = (sys.executable, "-m", "app", "run", "--role", "responder")

pytestmark = pytest.mark.slow


def _env(
    dsn: str, bootstrap: str, topics: dict[str, str], rec: Recorder, group: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    env.update(
        ALERTPIPE_DATABASE_URL=dsn,
        ALERTPIPE_KAFKA_BOOTSTRAP=bootstrap,
        ALERTPIPE_GROUP_PREFIX=group,
        ALERTPIPE_WEBHOOK_SECRET="kill9-secret",
        ALERTPIPE_PAGER_ROUTING_KEY=ROUTING_KEY,
        ALERTPIPE_STATUSPAGE_API_KEY=STATUSPAGE_KEY,
        ALERTPIPE_STATUSPAGE_COMPONENTS=json.dumps(COMPONENTS),
        ALERTPIPE_RESPONSE__TIMERS_POLL_S="0.1",
        ALERTPIPE_RESPONSE__CHAT_UPDATE_EVERY_S="3600",
        ALERTPIPE_RESPONSE__STATUS_UPDATE_EVERY_S="3600",
        ALERTPIPE_ROLLBACK__POLL_S="0.05",
        ALERTPIPE_ROLLBACK__LEASE_S="1.5",
        ALERTPIPE_ROLLBACK__VERIFY_EVERY_S="0.2",
        ALERTPIPE_ROLLBACK__VERIFY_WINDOW_S="2",
        ALERTPIPE_ROLLBACK__VERIFY_MIN_REQUESTS="5",
        ALERTPIPE_ROLLBACK__VERIFY_MIN_S="1",
        ALERTPIPE_ROLLBACK__VERIFY_BUDGET_S="60",
        ALERTPIPE_DELIVERY__POLL_S="0.05",
        ALERTPIPE_DELIVERY__TIMEOUT_S="2",
        ALERTPIPE_DELIVERY__LEASE_S="4",
        ALERTPIPE_HTTP_PORT="0",
        PYTHONUNBUFFERED="1",
    )
    for name, topic in topics.items():
        if name == "state":  # stage 2's state topic (SLO budgets): an evaluator setting
            env["ALERTPIPE_EVALUATOR__STATE_TOPIC"] = topic
        else:
            env[f"ALERTPIPE_TOPICS__{name.upper()}"] = topic
    for name in RECEIVERS:
        env[f"ALERTPIPE_{name.upper()}_URL"] = rec.url(f"/{name}")
    return env


class Responder:
    """``alertpipe run --role responder`` as a child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *RESPONDER, cwd=ROOT, env=self.env, stdout=out, stderr=out
            )

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await self.proc.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def topics(make_topic: Callable[..., Awaitable[str]]) -> dict[str, str]:
    """Every topic ``alertpipe run`` declares, fresh: it finds them all and creates none."""
    names = ("telemetry", "dead_letter", "panes", "decisions", "incidents")
    return {name: await make_topic(name) for name in names}


@pytest.fixture
async def child(
    database: str,
    bootstrap: str,
    topics: dict[str, str],
    recorder: Recorder,
    tmp_path: Path,
    unique: Callable[[str], str],
) -> AsyncIterator[Responder]:
    proc = Responder(
        _env(database, bootstrap, topics, recorder, unique("kill9")), tmp_path / "responder.log"
    )
    yield proc
    await proc.stop()


@pytest.fixture
async def feeder(database: str, bootstrap: str, topics: dict[str, str]) -> AsyncIterator[Stack]:
    """Only a producer (for decisions and panes) and the queries, no responder roles."""
    s = Stack(fast_settings(database, bootstrap, topics, None), None)
    await s.start(roles=())
    yield s
    await s.stop()


async def _value(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _incident_of(key: str | None) -> str:
    return str(key).split(":", 1)[0]


def _assert_one_key_per_effect(rec: Recorder, triggers: int = 1) -> Counter[str | None]:
    """Per incident: one revert and ``triggers`` page triggers (one per plan step), each a single
    idempotency key; a re-send repeats its key with the same body."""
    keys: Counter[str | None] = Counter(r.key for r in rec.requests)
    assert None not in keys
    reverts = Counter(_incident_of(k) for k in {r.key for r in rec.on("/rollback")})
    assert set(reverts.values()) == {1}, f"more than one rollback effect: {reverts}"
    paged = {r.key for r in rec.on("/pager") if r.json["event_action"] == "trigger"}
    per_incident = Counter(_incident_of(k) for k in paged)
    assert set(per_incident.values()) == {triggers}, f"page triggers: {sorted(paged)}"
    assert set(per_incident) == set(reverts)
    bodies: dict[str | None, Any] = {}
    for r in rec.requests:  # a re-send is the same effect: same key, same body
        if under(r.path, "/statuspage") and r.method != "POST":
            continue  # a re-sent create looks for the incident first, then updates it
        assert bodies.setdefault(r.key, r.json) == r.json, f"{r.key} re-sent with another body"
    page = rec.contracts.get("/statuspage")
    if isinstance(page, Statuspage):  # … so Statuspage has one incident per incident of ours
        ours = Counter(i["metadata"]["alertpipe"]["incident_id"] for i in page.incidents.values())
        assert set(ours.values()) <= {1}, f"a Statuspage incident created twice: {ours}"
    return keys


async def _assert_one_rollback_per_incident(dsn: str, incidents: int = 1) -> None:
    assert await _value(dsn, "SELECT count(*) FROM incidents") == incidents
    assert await _value(dsn, "SELECT count(*) FROM rollbacks") == incidents
    per_incident = "SELECT count(*) FROM actions WHERE kind = 'rollback' GROUP BY incident_id"
    assert await _values(dsn, per_incident) == [1] * incidents


async def _values(dsn: str, sql: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row[0] for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def _rolled_back(dsn: str, incidents: int = 1) -> None:
    await eventually(
        lambda: _values(dsn, "SELECT status FROM rollbacks"),
        lambda s: s == ["succeeded"] * incidents,
        within_s=45,
        what="every rollback finished after the kill",
    )


@pytest.mark.parametrize("when", ["while the revert call is in flight", "during verify"])
async def test_kill9_mid_rollback_never_doubles_an_effect(
    when: str,
    child: Responder,
    feeder: Stack,
    recorder: Recorder,
    database: str,
    topics: dict[str, str],
) -> None:
    in_flight = when.startswith("while")
    if in_flight:
        recorder.stall_next(1, path="/rollback")
    await child.start()
    await feeder.send(decision("chat-api"))
    if in_flight:
        await recorder.wait_for(
            lambda r: len(r.on("/rollback")) == 1, within_s=30, what="revert sent"
        )
    else:
        await eventually(
            lambda: _value(database, "SELECT count(*) FROM rollback_phases WHERE phase = 'verify'"),
            lambda n: n == 1,
            within_s=30,
            what="verify started",
        )
    await child.kill9()
    await child.start()
    feeder.background(feeder.feed_healthy("chat-api", seconds=60))
    await _rolled_back(database)
    await recorder.wait_for(lambda r: len(r.on("/breaker")) >= 2, what="breaker closed")

    keys = _assert_one_key_per_effect(recorder)
    revert_key = next(r.key for r in recorder.on("/rollback"))
    if in_flight:
        assert keys[revert_key] == 2, "the interrupted revert is re-sent once, under the same key"
    else:
        assert keys[revert_key] == 1
    await _assert_one_rollback_per_incident(database)
    assert await _value(database, "SELECT count(*) FROM decisions") == 1


async def test_kill9_while_the_page_trigger_is_in_flight_pages_once(
    child: Responder, feeder: Stack, recorder: Recorder, database: str
) -> None:
    """The detection page hangs at the pager when the responder dies: the next responder sends
    it again under the same key (the pager dedups it), never as a second trigger."""
    recorder.stall_next(1, path="/pager")
    await child.start()
    await feeder.send(decision("chat-api"))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, within_s=30, what="page sent")
    await child.kill9()
    await child.start()
    feeder.background(feeder.feed_healthy("chat-api", seconds=60))
    await _rolled_back(database)
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 2, what="the page re-sent")

    keys = _assert_one_key_per_effect(recorder)
    [trigger] = {r.key for r in recorder.on("/pager")}
    assert keys[trigger] == 2 and trigger.endswith(":page:trigger:detection:CRITICAL")
    await _assert_one_rollback_per_incident(database)


async def test_kill9_while_the_escalation_page_is_in_flight_escalates_once(
    child: Responder, feeder: Stack, recorder: Recorder, database: str
) -> None:
    """The escalation clock fires (lead engineer at 1.5 s) and its page hangs when the
    responder dies: the timer has fired — it does not fire again — and its page is re-sent
    under its own key; still one rollback."""
    child.env["ALERTPIPE_RESPONSE__LEAD_ENGINEER_AFTER_S"] = "1.5"
    await child.start()
    await feeder.send(decision("chat-api"))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, within_s=30, what="page sent")
    recorder.stall_next(1, path="/pager")  # the next page: the escalation
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 2, what="escalation sent")
    await child.kill9()
    await child.start()
    feeder.background(feeder.feed_healthy("chat-api", seconds=60))
    await _rolled_back(database)
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 3, what="the escalation re-sent")

    keys = _assert_one_key_per_effect(recorder, triggers=2)
    escalation = recorder.on("/pager")[1].key
    assert str(escalation).endswith(":page:trigger:escalation:lead_engineer")
    assert keys[escalation] == 2
    fired = (
        "SELECT count(*) FROM timers WHERE kind = 'escalation' AND outcome LIKE '%lead_engineer%'"
    )
    assert await _value(database, fired) == 1
    said = "SELECT count(*) FROM timeline WHERE message = 'escalated to lead engineer'"
    assert await _value(database, said) == 1
    await _assert_one_rollback_per_incident(database)


async def test_kill9_inside_the_investigation_timers_transaction_fires_it_once(
    child: Responder, feeder: Stack, recorder: Recorder, database: str
) -> None:
    """A HIGH incident's investigation window ends while the test holds the incident's row
    lock: the responder's firing transaction waits on it, and the responder dies inside it.
    Nothing of that firing survives; the next responder fires the timer once and rolls back."""
    child.env["ALERTPIPE_RESPONSE__INVESTIGATION_S"] = "1.5"
    await child.start()
    await feeder.send(decision("search-api", Severity.HIGH, rule="p95_latency", metric="p95_ms"))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, within_s=30, what="page sent")
    holder = await asyncpg.connect(database)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT id FROM incidents FOR UPDATE")
        waiting = """SELECT count(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'"""
        await eventually(
            lambda: _value(database, waiting), lambda n: n >= 1, what="the timer waiting"
        )
        await child.kill9()
        await lock.rollback()
    finally:
        await holder.close()
    assert await _value(database, "SELECT count(*) FROM rollbacks") == 0
    await child.start()
    feeder.background(feeder.feed_healthy("search-api", seconds=60))
    await _rolled_back(database)

    _assert_one_key_per_effect(recorder)
    fired = "SELECT count(*) FROM timers WHERE kind = 'investigation' AND fired_at IS NOT NULL"
    assert await _value(database, fired) == 1
    ended = "SELECT count(*) FROM timeline WHERE message = 'investigation window of 1.5 s ended'"
    assert await _value(database, ended) == 1
    await _assert_one_rollback_per_incident(database)


async def test_two_responders_one_killed_mid_rollback_still_act_once_per_incident(
    database: str,
    bootstrap: str,
    topics: dict[str, str],
    recorder: Recorder,
    feeder: Stack,
    tmp_path: Path,
    unique: Callable[[str], str],
) -> None:
    """Two responder processes share the work of two incidents; the one driving the rollback
    whose revert hangs is killed. The survivor takes the rollback over when its lease runs
    out, and every effect still happens once per incident."""
    env = _env(database, bootstrap, topics, recorder, unique("kill9-pair"))
    pair = [Responder(env, tmp_path / f"responder-{n}.log") for n in (1, 2)]
    try:
        recorder.stall_next(1, path="/rollback")
        for proc in pair:
            await proc.start()
        await feeder.send(decision("chat-api"), decision("search-api"))
        await recorder.wait_for(
            lambda r: len(r.on("/rollback")) >= 1, within_s=30, what="a revert sent"
        )
        incident = _incident_of(recorder.on("/rollback")[0].key)
        owner = await _value(
            database, "SELECT lease_owner FROM rollbacks WHERE incident_id = $1", incident
        )
        [driving] = [p for p in pair if f"claimed by {owner}" in p.log.read_text()]
        await driving.kill9()
        for service in ("chat-api", "search-api"):
            feeder.background(feeder.feed_healthy(service, seconds=60))
        await _rolled_back(database, incidents=2)
    finally:
        for proc in pair:
            await proc.stop()

    keys = _assert_one_key_per_effect(recorder)
    assert max(keys[r.key] for r in recorder.on("/rollback")) <= 2
    await _assert_one_rollback_per_incident(database, incidents=2)
    assert await _value(database, "SELECT count(*) FROM decisions") == 2
