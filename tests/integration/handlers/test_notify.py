"""Workers wake on PostgreSQL notifications: with every poll interval at 5 minutes, a CRITICAL
decision still pages, opens the breaker and rolls back at once — each step is committed work
that wakes the worker taking the next one. A lost listening connection comes back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from app.storage.notify import APPLICATION_NAME, PgNotifications
from schemas.severity import Severity
from tests.support.decisions import decision
from tests.support.recorder import Recorder
from tests.support.stack import Stack
from tests.support.waiting import eventually

MakeStack = Callable[..., Awaitable[Stack]]

# Far longer than any wait below: only a notification can make a worker look in time.
SLOW = {
    "response": {"timers_poll_s": 300.0},
    "rollback": {"poll_s": 300.0, "lease_s": 600.0},
    "delivery": {"poll_s": 300.0},
}


async def test_a_critical_decision_pages_and_rolls_back_without_waiting_for_a_poll(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(**SLOW)
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, what="the page")
    # prepare's breaker call settles → the orchestrator starts revert_code → its call …
    await recorder.wait_for(lambda r: len(r.on("/rollback")) == 1, what="the revert call")
    s.background(s.feed_healthy("chat-api"))
    await s.wait_incident("chat-api", lambda i: i["status"] == "mitigated", what="mitigated")
    assert s.role("notifications").health()["received"] > 0


async def test_a_lost_listening_connection_is_re_established_and_wakes_every_worker(
    stack: MakeStack, recorder: Recorder
) -> None:
    s = await stack(**SLOW)
    notifications = s.role("notifications")
    assert isinstance(notifications, PgNotifications)
    conn = await asyncpg.connect(s.settings.dsn)
    try:  # the server drops the listener (a restart, a network cut)
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await conn.close()
    await eventually(
        lambda: _value(notifications.reconnects), within_s=30, what="a reconnect"
    )  # fmt: skip
    await s.send(decision("chat-api", Severity.CRITICAL))
    await recorder.wait_for(lambda r: len(r.on("/pager")) == 1, what="the page")


async def _value(n: int) -> int:
    return n
