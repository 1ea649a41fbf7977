"""``alertpipe hold set|list|lift`` as an operator runs it, on PostgreSQL: the hold is what the
responder reads (``PgHoldStore.automation``), with its reason and author."""

from __future__ import annotations

import asyncio
import os
import re

from app.storage.holds import PgHoldStore
from app.storage.pool import create_pool
from tests.e2e.conftest import ALERTPIPE


async def _alertpipe(database: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "ALERTPIPE_DATABASE_URL": database}
    proc = await asyncio.create_subprocess_exec(
        ALERTPIPE, "hold", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_a_hold_set_from_the_shell_holds_until_it_is_lifted(database: str) -> None:
    code, out, _ = await _alertpipe(database, "set", "--reason", "load test", "--by", "ana")
    assert code == 0, out
    [hold_id] = re.findall(r"alertpipe hold lift (hold_\w+)", out)
    pool = await create_pool(database, max_size=2)
    try:
        store = PgHoldStore(pool)
        [hold] = (await store.automation(0.0)).holds
        assert (hold.id, hold.reason, hold.created_by) == (hold_id, "load test", "ana")
        code, out, _ = await _alertpipe(database, "list")
        assert code == 0 and hold_id in out and "by ana: load test" in out
        code, out, _ = await _alertpipe(database, "lift", hold_id, "--by", "bob")
        assert code == 0 and "lifted" in out and "by bob" in out
        assert (await store.automation(0.0)).holds == ()
        code, _, err = await _alertpipe(database, "lift", hold_id)
        assert code == 2 and f"{hold_id}: no standing hold has this id" in err
        code, out, _ = await _alertpipe(database, "list", "--all")
        assert hold_id in out and "lifted" in out
    finally:
        await pool.close()
