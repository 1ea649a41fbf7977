"""The migration runner applies each file once, in order, even when processes race."""

import asyncio
import re
import sys
from pathlib import Path
from typing import get_args

import asyncpg
import pytest

from app.credentials import SessionVia
from app.drills.store import DrillScenario, DrillStatus
from app.errors import ConfigError
from app.storage.migrations import Migration, available_migrations, migrate
from handlers.incidents.effects import TimerKind
from schemas.incidents import ActionKind, ActionStatus, IncidentStatus
from schemas.rollback import PHASES, PhaseStatus, RollbackStatus
from schemas.severity import Scenario, Severity
from schemas.telemetry import BACKUP_STATUSES, BACKUP_TYPES, DEPLOY_STATUSES

STEPS = [
    Migration(1, "first", "CREATE TABLE m_one (id int PRIMARY KEY);"),
    # Not idempotent on purpose: a second application would fail.
    Migration(2, "second", "CREATE TABLE m_two (id int); INSERT INTO m_two VALUES (1);"),
]


async def _count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_applies_in_order_then_is_idempotent(empty_database: str) -> None:
    assert await migrate(empty_database, STEPS) == ["0001_first", "0002_second"]
    assert await migrate(empty_database, STEPS) == []
    assert await _count(empty_database, "SELECT count(*) FROM schema_migrations") == 2
    assert await _count(empty_database, "SELECT count(*) FROM m_two") == 1


async def test_concurrent_starts_apply_each_file_once(empty_database: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database, STEPS) for _ in range(8)))
    applied = [label for result in results for label in result]
    assert sorted(applied) == ["0001_first", "0002_second"]
    assert await _count(empty_database, "SELECT count(*) FROM m_two") == 1


# One OS process per start, as when several `alertpipe run` processes boot together: each
# imports the runner, says it is ready, then waits at a gate so that they all call migrate()
# in the same instant on the shipped migrations (plain CREATE TABLEs: twice would fail).
_STARTER = """
import asyncio, os, sys, time
from app.storage.migrations import migrate
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.002)
print("applied:" + ",".join(asyncio.run(migrate(sys.argv[1]))), flush=True)
"""
ROOT = Path(__file__).resolve().parents[3]


async def _start_process(dsn: str, gate: Path) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _STARTER, dsn, str(gate), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    return process


async def _applied_by(process: asyncio.subprocess.Process) -> list[str]:
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    (line,) = [x for x in out.decode().splitlines() if x.startswith("applied:")]
    return [label for label in line.removeprefix("applied:").split(",") if label]


async def _all_applied(processes: list[asyncio.subprocess.Process]) -> list[str]:
    """Every process's labels, after every process ended (none is left running)."""
    results = await asyncio.gather(*map(_applied_by, processes), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [label for labels in results if isinstance(labels, list) for label in labels]


async def test_processes_starting_at_once_apply_each_file_once(
    empty_database: str, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    processes = await asyncio.gather(*(_start_process(empty_database, gate) for _ in range(6)))
    gate.touch()  # every process is waiting: open the gate for all of them at once
    applied = await _all_applied(list(processes))
    shipped = [m.label for m in available_migrations()]
    assert sorted(applied) == sorted(shipped)  # each file by exactly one process
    assert await _count(empty_database, "SELECT count(*) FROM schema_migrations") == len(shipped)


async def test_an_edited_applied_migration_is_refused(empty_database: str) -> None:
    await migrate(empty_database, STEPS)
    edited = [STEPS[0], Migration(2, "second", "CREATE TABLE m_two (id bigint);")]
    with pytest.raises(ConfigError, match="0002_second changed after it was applied"):
        await migrate(empty_database, edited)


async def test_a_failing_migration_leaves_nothing_half_done(empty_database: str) -> None:
    broken = [STEPS[0], Migration(2, "broken", "CREATE TABLE m_x (id int); SELECT nope;")]
    with pytest.raises(asyncpg.PostgresError):
        await migrate(empty_database, broken)
    assert await _count(empty_database, "SELECT count(*) FROM schema_migrations") == 1
    assert (
        await _count(
            empty_database, "SELECT count(*) FROM information_schema.tables WHERE table_name='m_x'"
        )
        == 0
    )
    assert await migrate(empty_database, STEPS) == ["0002_second"]


def test_shipped_migrations_are_well_formed() -> None:
    shipped = available_migrations()
    assert shipped and [m.version for m in shipped] == sorted({m.version for m in shipped})


def test_misnamed_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("select 1;")
    with pytest.raises(ConfigError, match=r"NNNN_lower_snake\.sql"):
        available_migrations(tmp_path)


async def test_the_real_migrations_apply_to_a_fresh_database(database: str) -> None:
    assert await _count(database, "SELECT count(*) FROM schema_migrations") == len(
        available_migrations()
    )


async def test_a_configured_schema_holds_every_table(empty_database: str) -> None:
    dsn = f"{empty_database}?search_path=tenant_a"
    assert await migrate(dsn, STEPS, schema="tenant_a") == ["0001_first", "0002_second"]
    in_schema = "SELECT count(*) FROM pg_tables WHERE schemaname = 'tenant_a'"
    assert await _count(empty_database, in_schema) == 3  # m_one, m_two, schema_migrations
    in_public = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert await _count(empty_database, in_public) == 0


async def test_a_schema_name_that_is_not_an_identifier_is_refused(empty_database: str) -> None:
    with pytest.raises(ConfigError, match="ALERTPIPE_DATABASE_SCHEMA"):
        await migrate(empty_database, STEPS, schema='x"; DROP TABLE y; --')


# The Python declaration behind every CHECK (column IN (…)) of the shipped migrations.
CHECK_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("deploys", "status"): DEPLOY_STATUSES,
    ("incidents", "scenario"): get_args(Scenario),
    ("incidents", "severity"): tuple(s.value for s in Severity),
    ("incidents", "status"): get_args(IncidentStatus),
    ("actions", "kind"): get_args(ActionKind),
    ("actions", "status"): get_args(ActionStatus),
    ("timers", "kind"): get_args(TimerKind),
    ("rollbacks", "status"): get_args(RollbackStatus),
    ("rollback_phases", "phase"): PHASES,
    ("rollback_phases", "status"): get_args(PhaseStatus),
    ("api_sessions", "via"): get_args(SessionVia),
    ("drills", "scenario"): get_args(DrillScenario),
    ("drills", "status"): get_args(DrillStatus),
    ("backups", "type"): BACKUP_TYPES,
    ("backups", "status"): BACKUP_STATUSES,
}


async def _check_lists(dsn: str) -> dict[tuple[str, str], list[str]]:
    """Every CHECK of one column against a list of values, as the migrated database has it
    (after every ALTER of the migrations that followed)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            """SELECT c.conrelid::regclass::text AS tbl, a.attname AS col,
                      pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c
               JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
               WHERE c.contype = 'c' AND cardinality(c.conkey) = 1
                 AND pg_get_constraintdef(c.oid) LIKE '%ANY (ARRAY[%'"""
        )
    finally:
        await conn.close()
    return {
        (row["tbl"], row["col"]): re.findall(r"'((?:[^']|'')*)'::text", row["def"]) for row in rows
    }


async def test_every_check_list_is_the_python_declaration(database: str) -> None:
    """A kind of action, a phase or a status added in Python needs a migration that widens
    its CHECK (docs/extending.md), and one added in SQL needs the Python literal: either one
    alone fails here, naming the column."""
    found = await _check_lists(database)
    assert set(found) == set(CHECK_LISTS), "a CHECK list this test does not know of, or lost"
    for column, values in found.items():
        assert sorted(values) == sorted(CHECK_LISTS[column]), column
