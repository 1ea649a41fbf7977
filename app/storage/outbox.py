"""asyncpg adapter of ``handlers.outbox.ports.OutboxStore``: claim, settle, events, silences."""

from __future__ import annotations

from collections.abc import Collection

import asyncpg
import orjson

from app.storage.pool import Conn, Row, epoch, moment
from app.storage.silences import silence_from_row
from handlers.incidents.effects import TimelineEntry
from handlers.outbox.ports import Claimed, Missed, PendingEvent, Settlement
from handlers.silences import Inhibitor, Silence
from schemas.incidents import ActionKind
from schemas.severity import Severity

__all__ = ["PgOutboxStore"]

# Due actions of the lane's kinds, oldest first, never two of one (incident, kind) at once: a
# receiver sees an incident's actions in the order they were queued (trigger before acknowledge
# before resolve). Lanes claim separately, so one kind's backlog never holds up another's. A
# held action is claimed again when its recheck is due, to see whether its hold still applies;
# it blocks the (incident, kind) behind it like a pending one (a breaker's close never
# overtakes its held open).
_CLAIM = """
WITH due AS (
    SELECT a.id, a.status AS was FROM actions a
    WHERE ((a.status IN ('pending', 'held') AND a.next_attempt_at <= $1)
           OR (a.status = 'sending' AND a.lease_until < $1))
      AND a.kind = ANY($4::text[])
      AND NOT EXISTS (
          SELECT 1 FROM actions b
          WHERE b.incident_id = a.incident_id AND b.kind = a.kind AND b.id < a.id
            AND b.status IN ('pending', 'sending', 'held'))
    ORDER BY a.id
    LIMIT $3
    FOR UPDATE OF a SKIP LOCKED
)
UPDATE actions a SET status = 'sending', attempts = a.attempts + 1, lease_until = $2
FROM due, incidents i
WHERE a.id = due.id AND i.id = a.incident_id
RETURNING a.*, due.was, i.service, i.resolved_at AS incident_resolved_at,
    i.hold_releases AS incident_releases
"""

# A held action gives its claim's attempt back: waiting out a hold spends no delivery attempt.
_SETTLE = """
UPDATE actions SET status = $2::text, reason = $3, last_error = $4,
    next_attempt_at = COALESCE($5, next_attempt_at), lease_until = NULL,
    attempts = CASE WHEN $2::text = 'held' THEN attempts - 1 ELSE attempts END,
    finished_at = CASE WHEN $2::text IN ('pending', 'held') THEN NULL ELSE $6::timestamptz END
WHERE id = $1 AND status = 'sending' AND attempts = $7
"""


# Failed notices of a kind, not carried yet, queued before the one being sent ($3: of one
# incident only, or NULL: of every incident), of the same DR drill as it ($5), or real as it
# is: a drill's notice never rides in a real one, nor a real one in a drill's.
_MISSED = """
SELECT id, incident_id, idempotency_key, created_at, payload FROM actions
WHERE kind = $1 AND status = 'failed' AND carried_into IS NULL AND id < $2
  AND ($3::text IS NULL OR incident_id = $3)
  AND (payload->>'drill') IS NOT DISTINCT FROM $5::text
ORDER BY id
LIMIT $4
"""

_CARRIED = """
UPDATE actions SET carried_into = $1
WHERE id = ANY($2::bigint[]) AND carried_into IS NULL
RETURNING incident_id, idempotency_key
"""

_NOTE = """
INSERT INTO timeline (incident_id, at, kind, actor, message, reason, evidence, result)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


def _missed(row: Row) -> Missed:
    payload = row["payload"]
    text = payload.get("text") or payload.get("body") or payload.get("summary") or ""
    return Missed(
        row["id"],
        row["incident_id"],
        row["idempotency_key"],
        float(row["created_at"].timestamp()),
        str(text),
    )


def _claimed(row: Row) -> Claimed:
    return Claimed(
        id=row["id"],
        incident_id=row["incident_id"],
        service=row["service"],
        kind=row["kind"],
        key=row["idempotency_key"],
        severity=Severity(row["severity"]),
        payload=row["payload"],
        attempts=row["attempts"],
        created_at=float(row["created_at"].timestamp()),
        labels=row["labels"],
        closing=row["closing"],
        incident_resolved_at=epoch(row["incident_resolved_at"]),
        dry_run=row["dry_run"],
        held=row["was"] == "held",
        released=frozenset(r["cause"] for r in row["incident_releases"]),
    )


async def _note(conn: Conn, incident_id: str, entry: TimelineEntry, now: float) -> None:
    await conn.execute(
        _NOTE,
        incident_id,
        moment(now),
        entry.kind,
        entry.actor,
        entry.message,
        entry.reason,
        dict(entry.evidence),
        dict(entry.result),
    )


async def _mark_carried(conn: Conn, action: Claimed, ids: tuple[int, ...], now: float) -> None:
    """The carried notices point at the one that delivered them; each incident says so."""
    for row in await conn.fetch(_CARRIED, action.id, list(ids)):
        note = TimelineEntry(
            "action",
            f"{action.kind} notice delivered late, carried into a later one",
            reason="it had failed for good; the next notice of its channel carried it",
            result={"key": row["idempotency_key"], "carried_into": action.key},
        )
        await _note(conn, row["incident_id"], note, now)


class PgOutboxStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(
        self, now: float, lease_s: float, limit: int, kinds: Collection[ActionKind]
    ) -> list[Claimed]:
        rows = await self._pool.fetch(
            _CLAIM, moment(now), moment(now + lease_s), limit, sorted(kinds)
        )
        return sorted((_claimed(r) for r in rows), key=lambda c: c.id)

    async def settle(self, action: Claimed, outcome: Settlement, now: float) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                _SETTLE,
                action.id,
                outcome.status,
                outcome.reason,
                outcome.error,
                moment(outcome.next_at),
                moment(now),
                action.attempts,
            )
            entry = outcome.timeline
            if not status.endswith(" 1"):
                return  # a newer attempt owns the action now; it records its own result
            if entry is not None:
                await _note(conn, action.incident_id, entry, now)
            if outcome.status == "sent" and outcome.carried:
                await _mark_carried(conn, action, outcome.carried, now)

    async def missed(self, action: Claimed, *, same_incident: bool, limit: int) -> list[Missed]:
        incident = action.incident_id if same_incident else None
        drill = action.payload.get("drill")
        drill = drill if isinstance(drill, str) else None
        rows = await self._pool.fetch(_MISSED, action.kind, action.id, incident, limit, drill)
        return [_missed(r) for r in rows]

    async def silences(self, now: float) -> list[Silence]:
        rows = await self._pool.fetch(
            "SELECT * FROM silences WHERE starts_at <= $1 AND ends_at > $1 ORDER BY created_at",
            moment(now),
        )
        return [silence_from_row(r) for r in rows]

    async def inhibitors(self) -> list[Inhibitor]:
        rows = await self._pool.fetch(
            # A drill's CRITICAL incident never holds back the real service's notices.
            """SELECT id, service, severity FROM incidents
               WHERE status <> 'resolved' AND severity = 'CRITICAL' AND NOT dry_run
                 AND drill IS NULL"""
        )
        return [Inhibitor(r["id"], r["service"], Severity(r["severity"])) for r in rows]

    async def unpublished_events(self, limit: int) -> list[PendingEvent]:
        rows = await self._pool.fetch(
            """SELECT seq, event_id, service, body FROM incident_events
               WHERE published_at IS NULL ORDER BY seq LIMIT $1""",
            limit,
        )
        return [
            PendingEvent(r["seq"], r["event_id"], r["service"], orjson.dumps(r["body"]))
            for r in rows
        ]

    async def mark_published(self, seqs: list[int], now: float) -> None:
        await self._pool.execute(
            "UPDATE incident_events SET published_at = $2 WHERE seq = ANY($1::bigint[])",
            seqs,
            moment(now),
        )
