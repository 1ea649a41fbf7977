"""asyncpg adapter of the readiness gate's evidence and records (``app.readiness``): deploy
history, the backup catalogue, attestations, the checks run and the drills that ended. Every
statement is parameterised; checks and attestations are append-only (migration 0015)."""

from __future__ import annotations

from typing import Any

import asyncpg

from app.storage.pool import moment
from handlers.readiness.checklist import Attestation, DatasetBackups, Deploy, DrillRun

__all__ = ["PgDrillRecords", "PgReadinessStore"]

# The newest version other than the one to deploy that deployed successfully and never failed
# or rolled back: what a rollback of the new one would go back to.
_STABLE = """
SELECT version, max(at) AS at FROM deploys
WHERE service = $1 AND status = 'succeeded' AND ($2::text IS NULL OR version <> $2)
  AND drill IS NULL
  AND version NOT IN (SELECT version FROM deploys
                      WHERE service = $1 AND status IN ('failed', 'rolled_back') AND drill IS NULL)
GROUP BY version ORDER BY max(at) DESC LIMIT 1
"""

# Per dataset of the service: its newest successful full backup and its last passed restore
# test.
_DATASETS = """
WITH datasets AS (
    SELECT dataset FROM backups WHERE service = $1 AND drill IS NULL
    UNION SELECT dataset FROM restore_tests WHERE service = $1 AND drill IS NULL
)
SELECT d.dataset, f.backup_id AS full_id, f.taken_at AS full_at,
       t.backup_id AS tested_id, t.at AS tested_at
FROM datasets d
LEFT JOIN LATERAL (
    SELECT backup_id, taken_at FROM backups
    WHERE service = $1 AND dataset = d.dataset AND type = 'full' AND status = 'succeeded'
      AND drill IS NULL
    ORDER BY taken_at DESC LIMIT 1) f ON true
LEFT JOIN LATERAL (
    SELECT backup_id, at FROM restore_tests
    WHERE service = $1 AND dataset = d.dataset AND ok AND drill IS NULL
    ORDER BY at DESC LIMIT 1) t ON true
ORDER BY d.dataset
"""


# The latest DR drill that ended (a finished one whose report passed, when ``$2``) of the
# service (``$1``: the drill's own service, or one its incidents were of; null: any service).
_DRILL = """
SELECT id, service, scenario, ended_at,
       status = 'finished' AND coalesce((report->>'passed')::boolean, false) AS passed
FROM drills d
WHERE ended_at IS NOT NULL AND status IN ('finished', 'aborted')
  AND ($1::text IS NULL OR service = $1 OR EXISTS (
        SELECT 1 FROM jsonb_array_elements(coalesce(d.report->'incidents', '[]'::jsonb)) i
        WHERE i->>'service' = $1))
  AND (NOT $2 OR (status = 'finished' AND coalesce((report->>'passed')::boolean, false)))
ORDER BY ended_at DESC LIMIT 1
"""


def _epoch(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


class PgReadinessStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def last_deploy(self, service: str) -> Deploy | None:
        row = await self._pool.fetchrow(
            """SELECT version, status, at FROM deploys WHERE service = $1 AND drill IS NULL
               ORDER BY at DESC, id DESC LIMIT 1""",
            service,
        )
        return None if row is None else Deploy(row["version"], row["status"], _at(row))

    async def stable_version(self, service: str, other_than: str | None) -> Deploy | None:
        row = await self._pool.fetchrow(_STABLE, service, other_than)
        return None if row is None else Deploy(row["version"], "succeeded", _at(row))

    async def datasets(self, service: str) -> list[DatasetBackups]:
        rows = await self._pool.fetch(_DATASETS, service)
        return [
            DatasetBackups(
                dataset=r["dataset"],
                full_backup_id=r["full_id"],
                full_taken_at=_epoch(r["full_at"]),
                tested_backup_id=r["tested_id"],
                tested_at=_epoch(r["tested_at"]),
            )
            for r in rows
        ]

    async def attestation(self, service: str, item: str) -> Attestation | None:
        row = await self._pool.fetchrow(
            """SELECT actor, at, expires_at, note FROM readiness_attestations
               WHERE service = $1 AND item = $2 ORDER BY at DESC, id DESC LIMIT 1""",
            service,
            item,
        )
        if row is None:
            return None
        return Attestation(
            row["actor"], _at(row), float(row["expires_at"].timestamp()), row["note"]
        )

    async def attest(
        self, service: str, item: str, actor: str, note: str, now: float, valid_s: float
    ) -> Attestation:
        await self._pool.execute(
            """INSERT INTO readiness_attestations (service, item, actor, note, at, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            service,
            item,
            actor,
            note,
            moment(now),
            moment(now + valid_s),
        )
        return Attestation(actor, now, now + valid_s, note)

    async def record_check(
        self, service: str, version: str | None, report: dict[str, Any], actor: str, now: float
    ) -> int:
        found = await self._pool.fetchval(
            """INSERT INTO readiness_checks (service, version, ready, report, actor, at)
               VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
            service,
            version,
            bool(report["ready"]),
            report,
            actor,
            moment(now),
        )
        return int(found)


def _at(row: Any) -> float:
    return float(row["at"].timestamp())


class PgDrillRecords:
    """The readiness gate's view of the drills (issue 14): which ended, and whether passed."""

    recorded = True

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def last_passed(self, service: str | None) -> DrillRun | None:
        return await self._drill(service, passed=True)

    async def latest(self, service: str | None) -> DrillRun | None:
        return await self._drill(service, passed=False)

    async def _drill(self, service: str | None, passed: bool) -> DrillRun | None:
        row = await self._pool.fetchrow(_DRILL, service, passed)
        if row is None:
            return None
        return DrillRun(
            row["id"],
            row["service"],
            float(row["ended_at"].timestamp()),
            passed=bool(row["passed"]),
            scenario=str(row["scenario"]).upper(),
        )
