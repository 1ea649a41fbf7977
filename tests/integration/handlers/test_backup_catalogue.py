"""The backup catalogue in PostgreSQL: a DR drill's backups and restore tests are the drill's,
never the service's — S2's restore and the readiness gate each see only their own."""

from __future__ import annotations

import time

from app.storage.incidents import PgIncidentStore
from app.storage.pool import create_pool
from app.storage.readiness import PgReadinessStore
from handlers.backups import reported_in
from schemas.panes import PaneSummary, Scope
from tests.support.decisions import backup, restore_test

DRILL = "drill_0123456789ab"


async def test_a_drills_backups_are_its_own_catalogue(database: str) -> None:
    now = time.time()
    pool = await create_pool(database)
    try:
        store = PgIncidentStore(pool)
        async with store.transaction() as tx:
            await tx.record_backup("chat-api", "chat_messages", backup("real-1", now - 600))
            await tx.record_restore_test("chat-api", "chat_messages", restore_test("real-1", now))
            # the drill's agent reports its own backups, under an id the service also used
            for record in (backup("real-1", now - 300, "full"), backup("drill-1", now - 120)):
                await tx.record_backup("chat-api", "chat_messages", record, DRILL)
            await tx.record_backup("chat-api", "bot_state", backup("drill-2", now - 60), DRILL)
            await tx.record_restore_test(
                "chat-api", "chat_messages", restore_test("drill-1", now, ok=False), DRILL
            )
        async with store.transaction() as tx:
            real = await tx.restore_candidates("chat-api", now)
            drill = await tx.restore_candidates("chat-api", now, DRILL)
            real_sets = await tx.datasets("chat-api")
            drill_sets = await tx.datasets("chat-api", DRILL)
        assert [(b.backup_id, b.type, b.tested) for b in real] == [("real-1", "wal", True)]
        assert [(b.dataset, b.backup_id, b.type, b.tested) for b in drill] == [
            ("bot_state", "drill-2", "wal", None),
            ("chat_messages", "drill-1", "wal", False),  # its own failed test, not the service's
            ("chat_messages", "real-1", "full", None),  # the drill's real-1 is not the service's
        ]
        assert (real_sets, drill_sets) == (["chat_messages"], ["bot_state", "chat_messages"])
        # The readiness gate sees the service's only.
        [found] = await PgReadinessStore(pool).datasets("chat-api")
        assert (found.dataset, found.full_backup_id, found.tested_backup_id) == (
            "chat_messages",
            None,
            "real-1",
        )
    finally:
        await pool.close()


def test_the_recorder_reads_a_drill_panes_id() -> None:
    scope = Scope(service="chat-api", dimension="dataset", key="chat_messages", drill=DRILL)
    start = int(time.time()) * 1000
    pane = PaneSummary(
        pane_id=PaneSummary.make_id(scope, start),
        scope=scope,
        start_ms=start,
        end_ms=start + 1000,
        backups=[backup("drill-1", start / 1000)],
    )
    [(service, dataset, record, drill)] = reported_in(pane.model_dump_json().encode())
    assert (service, dataset, record.backup_id, drill) == (
        "chat-api",
        "chat_messages",
        "drill-1",
        DRILL,
    )
