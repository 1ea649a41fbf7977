"""Exactly-once effects across kill -9: the responder process is killed mid-rollback, restarted,
and every semantic effect still has exactly one idempotency key; re-sends carry the same key.

The responder runs as ``python -m app.respond`` (configured through ``ALERTPIPE_*`` variables
only, durations shortened there), its receivers pointed at a recorder in this process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import RECEIVERS, Stack, fast_settings
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]

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
        PYTHONUNBUFFERED="1",
    )
    for name, topic in topics.items():
        env[f"ALERTPIPE_TOPICS__{name.upper()}"] = topic
    for name in RECEIVERS:
        env[f"ALERTPIPE_{name.upper()}_URL"] = rec.url(f"/{name}")
    return env


class Responder:
    """``python -m app.respond`` as a child process."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.respond", cwd=ROOT, env=self.env, stdout=out, stderr=out
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


def _assert_one_key_per_effect(rec: Recorder) -> Counter[str | None]:
    keys: Counter[str | None] = Counter(r.key for r in rec.requests)
    assert None not in keys
    rollbacks = {r.key for r in rec.on("/rollback")}
    assert len(rollbacks) == 1, f"more than one rollback effect: {rollbacks}"
    triggers = [r for r in rec.on("/pager") if r.json["event_action"] == "trigger"]
    assert len({r.key for r in triggers}) == 1, "a second page trigger"
    bodies: dict[str | None, Any] = {}
    for r in rec.requests:  # a re-send is the same effect: same key, same body
        assert bodies.setdefault(r.key, r.json) == r.json, f"{r.key} re-sent with another body"
    return keys


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
    await eventually(
        lambda: _value(database, "SELECT status FROM rollbacks"),
        lambda s: s == "succeeded",
        within_s=45,
        what="rollback finished after the restart",
    )
    await recorder.wait_for(lambda r: len(r.on("/breaker")) >= 2, what="breaker closed")

    keys = _assert_one_key_per_effect(recorder)
    revert_key = next(r.key for r in recorder.on("/rollback"))
    if in_flight:
        assert keys[revert_key] == 2, "the interrupted revert is re-sent once, under the same key"
    else:
        assert keys[revert_key] == 1
    assert await _value(database, "SELECT count(*) FROM rollbacks") == 1
    assert await _value(database, "SELECT count(*) FROM actions WHERE kind = 'rollback'") == 1
    assert await _value(database, "SELECT count(*) FROM incidents") == 1
    assert await _value(database, "SELECT count(*) FROM decisions") == 1
