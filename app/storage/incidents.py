"""asyncpg adapter of ``handlers.incidents.ports``: incidents, timeline, timers, rollbacks.

One ``PgIncidentTx`` wraps one transaction. ``record`` writes everything a step produced —
incident, timeline, outbox actions (``ON CONFLICT (idempotency_key) DO NOTHING``), timers,
lifecycle events, a rollback request — so a step's effects exist exactly when the step does.
Every statement is parameterised.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from typing import Any

import asyncpg

from app.storage.pool import Conn, Row, epoch, moment
from handlers.incidents import notices
from handlers.incidents.classify import Cascade
from handlers.incidents.effects import (
    ActionIntent,
    Effects,
    EventIntent,
    RollbackIntent,
    TimelineEntry,
    TimerIntent,
)
from handlers.incidents.incident import AlertEntry, HoldRelease, Incident
from handlers.incidents.ports import DueTimer, Recorded
from handlers.incidents.target import basis_text, settle_target
from handlers.outbox.retry import NextReason
from handlers.readiness.verdict import CheckedVersion, GateVerdict
from handlers.rollback.phases import ActionStatus, PhaseRecord, Rollback, restore_point
from handlers.rollback.restore import Backup
from schemas.decisions import Decision
from schemas.incidents import IncidentEvent
from schemas.panes import BackupRecord, RestoreTestRecord
from schemas.rollback import parse_phase
from schemas.severity import Severity
from schemas.slo import SloBudget
from schemas.timestamps import to_rfc3339

__all__ = [
    "PgIncidentStore",
    "PgIncidentTx",
    "incident_from_row",
    "incident_labels",
    "rollback_from_row",
]


def _alerts_json(incident: Incident) -> dict[str, Any]:
    return {
        fp: {
            "rule": a.rule,
            "state": a.state,
            "severity": a.severity.value,
            "at": a.at,
            "scope": dict(a.scope),
            "window_start": a.window_start,
            "breaching": a.breaching,
            "evidence": dict(a.evidence),
            "response": a.response,
        }
        for fp, a in incident.alerts.items()
    }


def _alerts(raw: Mapping[str, Any]) -> dict[str, AlertEntry]:
    return {
        fp: AlertEntry(
            fp,
            a["rule"],
            a["state"],
            Severity(a["severity"]),
            a["at"],
            a["scope"],
            a.get("window_start"),  # absent in rows written before it was kept
            a.get("breaching"),
            a.get("evidence") or {},
            a.get("response"),
        )
        for fp, a in raw.items()
    }


def incident_from_row(row: Row) -> Incident:
    return Incident(
        id=row["id"],
        service=row["service"],
        severity=Severity(row["severity"]),
        status=row["status"],
        title=row["title"],
        opened_at=float(row["opened_at"].timestamp()),
        last_decision_at=float(row["last_decision_at"].timestamp()),
        scenario=row["scenario"],
        acknowledged_at=epoch(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        ack_note=row["ack_note"],
        mitigated_at=epoch(row["mitigated_at"]),
        resolved_at=epoch(row["resolved_at"]),
        bad_version=row["bad_version"],
        last_good_version=row["last_good_version"],
        target_basis=row["target_basis"],
        involves_data=row["involves_data"],
        alerts=_alerts(row["alerts"]),
        steps=frozenset(row["steps"]),
        rollback_status=row["rollback_status"],
        human_decision=row["human_decision"],
        dry_run=row["dry_run"],
        hold_releases=tuple(HoldRelease(**r) for r in row["hold_releases"]),
        drill=row["drill"],
    )


def incident_labels(row: Mapping[str, Any]) -> dict[str, str]:
    """What silences match an incident row on (as served: service, severity, scenario, alerts)."""
    at = row.get("opened_at")
    opened = float(at.timestamp()) if at is not None else 0.0
    incident = Incident(
        id=row["id"],
        service=row["service"],
        severity=Severity(row["severity"]),
        status=row["status"],
        title=row.get("title", ""),
        opened_at=opened,
        last_decision_at=opened,
        scenario=row.get("scenario"),
        alerts=_alerts(row.get("alerts") or {}),
    )
    return notices.labels(incident)


def _releases(incident: Incident) -> list[dict[str, Any]]:
    return [asdict(r) for r in incident.hold_releases]


def _phase_from_row(row: Row) -> PhaseRecord:
    return PhaseRecord.from_stored(
        phase=parse_phase(row["phase"]),
        status=row["status"],
        started_at=float(row["started_at"].timestamp()),
        finished_at=epoch(row["finished_at"]),
        detail=row["detail"],
        attempt=row["attempt"],
        attempt_started_at=epoch(row["attempt_started_at"]),
    )


def rollback_from_row(row: Row, phases: list[Row]) -> Rollback:
    return Rollback(
        id=row["id"],
        incident_id=row["incident_id"],
        service=row["service"],
        reason=row["reason"],
        status=row["status"],
        requested_at=float(row["requested_at"].timestamp()),
        from_version=row["from_version"],
        target_version=row["target_version"],
        target_basis=row["target_basis"],
        involves_data=row["involves_data"],
        emergency=row["emergency"],
        capacity=row["capacity"],
        phases={parse_phase(p["phase"]): _phase_from_row(p) for p in phases},
        restore_before=epoch(row["restore_before"]),
        restore_basis=row["restore_basis"],
        drill=row["drill"],
    )


_UPSERT_BACKUP = """
INSERT INTO backups (service, dataset, backup_id, type, status, taken_at, reported_at,
    size_bytes, location, drill)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (service, dataset, backup_id, (coalesce(drill, ''))) DO UPDATE SET type = EXCLUDED.type,
    status = EXCLUDED.status, taken_at = EXCLUDED.taken_at, reported_at = EXCLUDED.reported_at,
    size_bytes = EXCLUDED.size_bytes, location = EXCLUDED.location, recorded_at = now()
WHERE backups.reported_at < EXCLUDED.reported_at
"""

# Per dataset: the 50 newest successful backups taken before the restore point, and the
# newest taken at or after it (to say why none qualifies). ``tested``: false when a restore
# test of it failed, true when one passed (and none failed), null when it was never tested.
_RESTORE_CANDIDATES = """
WITH ranked AS (
    SELECT b.*, row_number() OVER (
        PARTITION BY b.dataset, b.taken_at < $2 ORDER BY b.taken_at DESC) AS n
    FROM backups b WHERE b.service = $1 AND b.status = 'succeeded'
        AND b.drill IS NOT DISTINCT FROM $3
)
SELECT r.dataset, r.backup_id, r.type, r.taken_at, r.location, r.size_bytes,
    CASE WHEN bool_or(NOT t.ok) THEN false WHEN bool_or(t.ok) THEN true END AS tested
FROM ranked r LEFT JOIN restore_tests t
    ON t.service = r.service AND t.dataset = r.dataset AND t.backup_id = r.backup_id
        AND t.drill IS NOT DISTINCT FROM $3
WHERE (r.taken_at < $2 AND r.n <= 50) OR (r.taken_at >= $2 AND r.n = 1)
GROUP BY r.dataset, r.backup_id, r.type, r.taken_at, r.location, r.size_bytes
ORDER BY r.dataset, r.taken_at DESC
"""

_UPSERT_INCIDENT = """
INSERT INTO incidents (id, service, scenario, severity, status, title, opened_at, last_decision_at,
    acknowledged_at, acknowledged_by, ack_note, mitigated_at, resolved_at, bad_version,
    last_good_version, involves_data, alerts, steps, rollback_status, human_decision, updated_at,
    target_basis, dry_run, hold_releases, drill)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25)
ON CONFLICT (id) DO UPDATE SET
    scenario = EXCLUDED.scenario, severity = EXCLUDED.severity, status = EXCLUDED.status,
    title = EXCLUDED.title, last_decision_at = EXCLUDED.last_decision_at,
    acknowledged_at = EXCLUDED.acknowledged_at, acknowledged_by = EXCLUDED.acknowledged_by,
    ack_note = EXCLUDED.ack_note, mitigated_at = EXCLUDED.mitigated_at,
    resolved_at = EXCLUDED.resolved_at, bad_version = EXCLUDED.bad_version,
    last_good_version = EXCLUDED.last_good_version, involves_data = EXCLUDED.involves_data,
    alerts = EXCLUDED.alerts, steps = EXCLUDED.steps, rollback_status = EXCLUDED.rollback_status,
    human_decision = EXCLUDED.human_decision, updated_at = EXCLUDED.updated_at,
    target_basis = EXCLUDED.target_basis, hold_releases = EXCLUDED.hold_releases
"""

_INSERT_ACTION = """
INSERT INTO actions (incident_id, kind, idempotency_key, severity, labels, closing, payload,
    next_attempt_at, created_at, dry_run)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
ON CONFLICT (idempotency_key) DO NOTHING
"""

_INSERT_TIMELINE = """
INSERT INTO timeline (incident_id, at, kind, actor, message, reason, evidence, result)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""

_INSERT_ROLLBACK = """
INSERT INTO rollbacks (id, incident_id, service, reason, status, from_version, target_version,
    involves_data, emergency, capacity, requested_at, restore_before, restore_basis, target_basis,
    drill)
VALUES ($1, $2, $3, $4, 'requested', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT DO NOTHING
"""

# The newest other version whose deploy succeeded before the bad version's latest deploy (any
# time, when the bad version has no deploy on record) and that never failed or rolled back.
# A drill's deploy history is its own ($3: the drill, NULL for the real one).
_PREVIOUS_DEPLOY = """
SELECT version FROM deploys
WHERE service = $1 AND status = 'succeeded' AND version <> $2
  AND drill IS NOT DISTINCT FROM $3
  AND version NOT IN (SELECT version FROM deploys
                      WHERE service = $1 AND status IN ('failed', 'rolled_back')
                        AND drill IS NOT DISTINCT FROM $3)
  AND at < COALESCE((SELECT max(at) FROM deploys WHERE service = $1 AND version = $2
                       AND status IN ('started', 'succeeded') AND drill IS NOT DISTINCT FROM $3),
                    'infinity'::timestamptz)
ORDER BY at DESC LIMIT 1
"""

_UPSERT_SLO_BUDGET = """
INSERT INTO slo_budgets (slo, scope_id, service, scope, objective, period_s, at, since, requests,
    errors, budget_remaining, burn_rates, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (slo, scope_id) DO UPDATE SET
    service = EXCLUDED.service, scope = EXCLUDED.scope, objective = EXCLUDED.objective,
    period_s = EXCLUDED.period_s, at = EXCLUDED.at, since = EXCLUDED.since,
    requests = EXCLUDED.requests, errors = EXCLUDED.errors,
    budget_remaining = EXCLUDED.budget_remaining, burn_rates = EXCLUDED.burn_rates,
    updated_at = EXCLUDED.updated_at
WHERE slo_budgets.at <= EXCLUDED.at
"""

# The bad version's latest deploy before the rollback: its start, or (no start recorded) its
# success — a redeploy after an earlier rollback counts from its own start, not the first one.
_BAD_DEPLOY_STARTED = """
SELECT at FROM deploys
WHERE service = $1 AND version = $2 AND status IN ('started', 'succeeded') AND at <= $3
  AND drill IS NOT DISTINCT FROM $4
ORDER BY status = 'started' DESC, at DESC LIMIT 1
"""

_CLAIM_ROLLBACK = """
UPDATE rollbacks SET status = 'running', started_at = COALESCE(started_at, $2),
    lease_owner = $1, lease_until = $3
WHERE id = (
    SELECT id FROM rollbacks
    WHERE status IN ('requested', 'running') AND (lease_until IS NULL OR lease_until < $2)
    ORDER BY requested_at
    FOR UPDATE SKIP LOCKED
    LIMIT 1
)
RETURNING id
"""


class PgIncidentTx:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    # decisions -------------------------------------------------------------------------------

    async def remember_decision(self, decision: Decision, now: float) -> bool:
        status = await self._conn.execute(
            """INSERT INTO decisions (decision_id, fingerprint, service, state, severity, at, body,
                   received_at, drill)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (decision_id) DO NOTHING""",
            decision.decision_id,
            decision.fingerprint,
            decision.service,
            decision.state,
            decision.severity.value,
            moment(decision.at_ms / 1000.0),
            decision.model_dump(mode="json"),
            moment(now),
            decision.drill,
        )
        return bool(status.endswith(" 1"))

    async def link_decision(self, decision_id: str, incident_id: str) -> None:
        await self._conn.execute(
            "UPDATE decisions SET incident_id = $2 WHERE decision_id = $1", decision_id, incident_id
        )

    async def latest_decision(self, fingerprint: str) -> tuple[Decision, str | None] | None:
        row = await self._conn.fetchrow(
            """SELECT body, incident_id FROM decisions WHERE fingerprint = $1
               ORDER BY at DESC, received_at DESC LIMIT 1""",
            fingerprint,
        )
        if row is None:
            return None
        return Decision.model_validate(row["body"]), row["incident_id"]

    async def lock_service(self, service: str, drill: str | None = None) -> None:
        key = service if drill is None else f"{service}|drill:{drill}"
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('incident:' || $1))", key)

    async def cascade(self, since: float, drill: str | None = None) -> Cascade:
        row = await self._conn.fetchrow(
            # Alerts that *began* firing in the window: a firing alert's later turns between
            # breaching and held (previous = firing) are not new alerts.
            """SELECT count(DISTINCT fingerprint) AS alerts, count(DISTINCT service) AS services
               FROM decisions WHERE state = 'firing' AND severity = 'CRITICAL' AND at >= $1
                 AND body->>'previous' IS DISTINCT FROM 'firing'
                 AND NOT COALESCE((body->>'dry_run')::boolean, false)
                 AND drill IS NOT DISTINCT FROM $2""",
            moment(since),
            drill,
        )
        assert row is not None
        return Cascade(critical_alerts=row["alerts"], services=row["services"])

    async def previous_deploy(
        self, service: str, bad_version: str, drill: str | None = None
    ) -> str | None:
        value = await self._conn.fetchval(_PREVIOUS_DEPLOY, service, bad_version, drill)
        return None if value is None else str(value)

    async def record_deploy(
        self, service: str, version: str, status: str, at: float, drill: str | None = None
    ) -> None:
        await self._conn.execute(
            """INSERT INTO deploys (service, version, status, at, drill)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
            service,
            version,
            status,
            moment(at),
            drill,
        )

    async def record_slo_budget(self, budget: SloBudget) -> None:
        await self._conn.execute(
            _UPSERT_SLO_BUDGET,
            budget.slo,
            budget.scope_id,
            budget.service,
            budget.scope,
            budget.objective,
            budget.period_ms / 1000.0,
            moment(budget.at_ms / 1000.0),
            moment(budget.since_ms / 1000.0),
            budget.requests,
            budget.errors,
            budget.budget_remaining,
            budget.burn_rates,
            moment(time.time()),
        )

    # the readiness gate ----------------------------------------------------------------------

    async def readiness_check(
        self, service: str, version: str, before: float
    ) -> CheckedVersion | None:
        row = await self._conn.fetchrow(
            """SELECT id, ready, at, report, actor FROM readiness_checks
               WHERE service = $1 AND version = $2 AND at <= $3 ORDER BY at DESC, id DESC
               LIMIT 1""",
            service,
            version,
            moment(before),
        )
        if row is None:
            return None
        failed = tuple(str(item) for item in row["report"].get("failed", ()))
        at = float(row["at"].timestamp())
        return CheckedVersion(row["id"], row["ready"], at, failed, row["actor"])

    async def record_gate(self, verdict: GateVerdict) -> GateVerdict:
        await self._conn.execute(
            """INSERT INTO deploy_gate (service, version, deployed_at, ready, reason, check_id)
               VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            verdict.service,
            verdict.version,
            moment(verdict.deployed_at),
            verdict.ready,
            verdict.reason,
            verdict.check_id,
        )
        found = await self._gate(
            "g.service = $1 AND g.version = $2 AND g.deployed_at = $3",
            verdict.service,
            verdict.version,
            moment(verdict.deployed_at),
        )
        assert found is not None
        return found

    async def unready_deploy(self, service: str, version: str) -> GateVerdict | None:
        where = "g.service = $1 AND g.version = $2 AND NOT g.ready"
        return await self._gate(where, service, version)

    async def _gate(self, where: str, *args: Any) -> GateVerdict | None:
        row = await self._conn.fetchrow(
            f"""SELECT g.*, c.at AS check_at, c.report FROM deploy_gate g
                LEFT JOIN readiness_checks c ON c.id = g.check_id
                WHERE {where} ORDER BY g.deployed_at DESC LIMIT 1""",  # noqa: S608 (constant)
            *args,
        )
        if row is None:
            return None
        report = row["report"] or {}
        return GateVerdict(
            service=row["service"],
            version=row["version"],
            deployed_at=float(row["deployed_at"].timestamp()),
            ready=row["ready"],
            reason=row["reason"],
            check_id=row["check_id"],
            check_at=epoch(row["check_at"]),
            failed=tuple(str(item) for item in report.get("failed", ())),
        )

    # backups ---------------------------------------------------------------------------------

    async def record_backup(
        self, service: str, dataset: str, backup: BackupRecord, drill: str | None = None
    ) -> None:
        await self._conn.execute(
            _UPSERT_BACKUP,
            service,
            dataset,
            backup.backup_id,
            backup.type,
            backup.status,
            moment(backup.taken_at),
            moment(backup.ts),
            backup.size_bytes,
            backup.location,
            drill,
        )

    async def record_restore_test(
        self, service: str, dataset: str, test: RestoreTestRecord, drill: str | None = None
    ) -> None:
        await self._conn.execute(
            """INSERT INTO restore_tests (service, dataset, backup_id, ok, duration_s,
                   environment, at, drill)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            service,
            dataset,
            test.backup_id,
            test.ok,
            test.duration_s,
            test.environment,
            moment(test.ts),
            drill,
        )

    async def datasets(self, service: str, drill: str | None = None) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT DISTINCT dataset FROM backups
               WHERE service = $1 AND drill IS NOT DISTINCT FROM $2 ORDER BY dataset""",
            service,
            drill,
        )
        return [row["dataset"] for row in rows]

    async def restore_candidates(
        self, service: str, before: float, drill: str | None = None
    ) -> list[Backup]:
        rows = await self._conn.fetch(_RESTORE_CANDIDATES, service, moment(before), drill)
        return [
            Backup(
                dataset=r["dataset"],
                backup_id=r["backup_id"],
                type=r["type"],
                taken_at=float(r["taken_at"].timestamp()),
                tested=r["tested"],
                location=r["location"],
                size_bytes=r["size_bytes"],
            )
            for r in rows
        ]

    # incidents -------------------------------------------------------------------------------

    async def open_incident(
        self, service: str, dry_run: bool = False, drill: str | None = None
    ) -> Incident | None:
        row = await self._conn.fetchrow(
            """SELECT * FROM incidents WHERE service = $1 AND status <> 'resolved'
                 AND dry_run = $2 AND drill IS NOT DISTINCT FROM $3
               ORDER BY opened_at DESC LIMIT 1 FOR NO KEY UPDATE""",
            service,
            dry_run,
            drill,
        )
        return None if row is None else incident_from_row(row)

    async def incident(self, incident_id: str) -> Incident | None:
        row = await self._conn.fetchrow(
            "SELECT * FROM incidents WHERE id = $1 FOR NO KEY UPDATE", incident_id
        )
        return None if row is None else incident_from_row(row)

    async def record(self, before: Incident | None, effects: Effects, now: float) -> Recorded:
        incident = effects.incident
        timeline = list(effects.timeline)
        recorded = Recorded()
        await self._save(incident, now)
        if effects.rollback is not None and incident.dry_run:
            timeline.append(await self._rollback_not_requested(incident, effects.rollback))
        elif effects.rollback is not None:
            incident, note, recorded = await self._request_rollback(incident, effects.rollback, now)
            timeline.append(note)
            await self._save(incident, now)
        await self._timeline(incident.id, timeline, now)
        await self._actions(incident.id, effects.actions, now, incident.dry_run)
        await self._timers(incident.id, effects.timers)
        await self._events(incident, effects.events, now)
        return recorded

    async def note(self, incident_id: str, entry: TimelineEntry, now: float) -> None:
        await self._timeline(incident_id, [entry], now)

    async def _save(self, i: Incident, now: float) -> None:
        await self._conn.execute(
            _UPSERT_INCIDENT,
            i.id,
            i.service,
            i.scenario,
            i.severity.value,
            i.status,
            i.title,
            moment(i.opened_at),
            moment(i.last_decision_at),
            moment(i.acknowledged_at),
            i.acknowledged_by,
            i.ack_note,
            moment(i.mitigated_at),
            moment(i.resolved_at),
            i.bad_version,
            i.last_good_version,
            i.involves_data,
            _alerts_json(i),
            sorted(i.steps),
            i.rollback_status,
            i.human_decision,
            moment(now),
            i.target_basis,
            i.dry_run,
            _releases(i),
            i.drill,
        )

    async def _timeline(self, incident_id: str, entries: list[TimelineEntry], now: float) -> None:
        if not entries:
            return
        await self._conn.executemany(
            _INSERT_TIMELINE,
            [
                (
                    incident_id,
                    moment(now),
                    e.kind,
                    e.actor,
                    e.message,
                    e.reason,
                    dict(e.evidence),
                    dict(e.result),
                )
                for e in entries
            ],
        )

    async def _actions(
        self, incident_id: str, actions: tuple[ActionIntent, ...], now: float, dry_run: bool
    ) -> None:
        if not actions:
            return
        await self._conn.executemany(
            _INSERT_ACTION,
            [
                (
                    incident_id,
                    a.kind,
                    a.key,
                    a.severity.value,
                    dict(a.labels),
                    a.closing,
                    dict(a.payload),
                    moment(now),
                    dry_run,
                )
                for a in actions
            ],
        )

    async def _timers(self, incident_id: str, timers: tuple[TimerIntent, ...]) -> None:
        if not timers:
            return
        await self._conn.executemany(
            """INSERT INTO timers (incident_id, kind, due_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            [(incident_id, t.kind, moment(t.due_at)) for t in timers],
        )

    async def _events(self, i: Incident, events: tuple[EventIntent, ...], now: float) -> None:
        rows = []
        for intent in events:
            event = IncidentEvent(
                event_id=uuid.uuid4().hex,
                incident_id=i.id,
                type=intent.type,
                at=now,
                service=i.service,
                scenario=i.scenario,
                severity=i.severity,
                status=i.status,
                title=i.title,
                bad_version=i.bad_version,
                last_good_version=i.last_good_version,
                detail=dict(intent.detail),
                dry_run=i.dry_run,
                drill=i.drill,
            )
            rows.append(
                (event.event_id, i.id, i.service, event.model_dump(mode="json"), moment(now))
            )
        if rows:
            await self._conn.executemany(
                """INSERT INTO incident_events (event_id, incident_id, service, body, created_at)
                   VALUES ($1, $2, $3, $4, $5)""",
                rows,
            )

    async def _request_rollback(
        self, incident: Incident, intent: RollbackIntent, now: float
    ) -> tuple[Incident, TimelineEntry, Recorded]:
        incident = await settle_target(self, incident)
        target = incident.last_good_version
        involves_data = intent.involves_data or incident.involves_data
        restore = await self._restore_point(incident, now) if involves_data else (None, None)
        rollback_id = f"rb_{incident.id}"
        status = await self._conn.execute(
            _INSERT_ROLLBACK,
            rollback_id,
            incident.id,
            incident.service,
            intent.reason,
            incident.bad_version,
            target,
            involves_data,
            intent.emergency,
            intent.capacity,
            moment(now),
            moment(restore[0]),
            restore[1],
            incident.target_basis if target is not None else None,
            incident.drill,
        )
        if status.endswith(" 1"):
            after = replace(incident, rollback_status="requested")
            message = (
                f"rollback requested: {incident.bad_version or '?'} → {target or '(none known)'}"
            )
            evidence: dict[str, Any] = (
                {"restore_before": to_rfc3339(restore[0]), "restore_basis": restore[1]}
                if restore[0] is not None
                else {}
            )
            basis = basis_text(incident.target_basis) if target is not None else None
            if basis is not None:
                evidence["target_basis"] = incident.target_basis
                message += f" ({basis})"
            note = TimelineEntry("rollback", message, reason=intent.reason, evidence=evidence)
            return after, note, Recorded(rollback_id=rollback_id)
        blocker = await self._conn.fetchrow(
            """SELECT id, incident_id FROM rollbacks WHERE incident_id = $1
               OR (service = $2 AND status IN ('requested', 'running')
                   AND drill IS NOT DISTINCT FROM $3)
               ORDER BY incident_id = $1 DESC LIMIT 1""",
            incident.id,
            incident.service,
            incident.drill,
        )
        if blocker is not None and blocker["incident_id"] == incident.id:
            why = f"rollback {blocker['id']} already exists for this incident"
        else:
            # Another incident's rollback of this service runs: this one's is not spent, so the
            # escalation clock or a human decision can request it again once that one ended.
            incident = replace(incident, steps=incident.steps - {"rollback"})
            incident = incident.with_steps("rollback:blocked")
            running = blocker["id"] if blocker is not None else "another rollback"
            why = (
                f"rollback {running} is running for {incident.service}; the escalation clock "
                "or POST /incidents/{id}/decision can request this one once it ended"
            )
        note = TimelineEntry("rollback", "rollback not started", reason=why)
        return incident, note, Recorded(rollback_blocked=why)

    async def _rollback_not_requested(
        self, incident: Incident, intent: RollbackIntent
    ) -> TimelineEntry:
        """A dry-run incident's rollback: what would have been requested, and nothing more."""
        target = (await settle_target(self, incident)).last_good_version
        message = (
            f"dry run: rollback {incident.bad_version or '?'} → {target or '(none known)'} "
            "would have been requested"
        )
        return TimelineEntry("rollback", message, reason=intent.reason)

    async def _restore_point(self, incident: Incident, now: float) -> tuple[float, str]:
        started = None
        if incident.bad_version is not None:
            at = await self._conn.fetchval(
                _BAD_DEPLOY_STARTED,
                incident.service,
                incident.bad_version,
                moment(now),
                incident.drill,
            )
            started = epoch(at)
        return restore_point(incident, started, now)

    # timers ----------------------------------------------------------------------------------

    async def claim_timer(self, timer_id: int) -> DueTimer | None:
        row = await self._conn.fetchrow(
            """SELECT id, incident_id, kind, due_at FROM timers
               WHERE id = $1 AND fired_at IS NULL FOR UPDATE SKIP LOCKED""",
            timer_id,
        )
        if row is None:
            return None
        return DueTimer(
            row["id"], row["incident_id"], row["kind"], float(row["due_at"].timestamp())
        )

    async def mark_fired(self, timer_id: int, now: float, outcome: str) -> None:
        await self._conn.execute(
            "UPDATE timers SET fired_at = $2, outcome = $3 WHERE id = $1",
            timer_id,
            moment(now),
            outcome,
        )

    # rollbacks -------------------------------------------------------------------------------

    async def rollback(self, rollback_id: str) -> Rollback | None:
        row = await self._conn.fetchrow("SELECT * FROM rollbacks WHERE id = $1", rollback_id)
        if row is None:
            return None
        phases = await self._conn.fetch(
            "SELECT * FROM rollback_phases WHERE rollback_id = $1", rollback_id
        )
        return rollback_from_row(row, list(phases))

    async def claim_rollback(self, owner: str, now: float, lease_s: float) -> Rollback | None:
        rollback_id = await self._conn.fetchval(
            _CLAIM_ROLLBACK, owner, moment(now), moment(now + lease_s)
        )
        return None if rollback_id is None else await self.rollback(rollback_id)

    async def renew_lease(self, rollback_id: str, owner: str, now: float, lease_s: float) -> bool:
        status = await self._conn.execute(
            """UPDATE rollbacks SET lease_until = $3
               WHERE id = $1 AND lease_owner = $2 AND status = 'running'""",
            rollback_id,
            owner,
            moment(now + lease_s),
        )
        return bool(status.endswith(" 1"))

    async def start_phase(
        self, rb: Rollback, record: PhaseRecord, budget: tuple[float, float]
    ) -> None:
        await self._conn.execute(
            """INSERT INTO rollback_phases (rollback_id, phase, status, started_at, budget_min_s,
                   budget_s, detail)
               VALUES ($1, $2, 'running', $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
            rb.id,
            record.phase,
            moment(record.started_at),
            budget[0],
            budget[1],
            record.stored_detail(),
        )

    async def emergency_rollbacks_short_of_resume(self, rb: Rollback) -> list[str]:
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtext('emergency-resume'))")
        rows = await self._conn.fetch(
            """SELECT r.service FROM rollbacks r
               WHERE r.emergency AND r.id <> $1 AND r.status IN ('requested', 'running')
                 AND r.drill IS NOT DISTINCT FROM $2
                 AND NOT EXISTS (SELECT 1 FROM rollback_phases p
                                 WHERE p.rollback_id = r.id AND p.phase = 'resume')
               ORDER BY r.service""",
            rb.id,
            rb.drill,
        )
        return [row["service"] for row in rows]

    async def end_phase(self, rb: Rollback, record: PhaseRecord, now: float) -> None:
        await self._conn.execute(
            """INSERT INTO rollback_phases (rollback_id, phase, status, started_at, finished_at,
                   budget_min_s, budget_s, duration_s, detail)
               VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7)
               ON CONFLICT (rollback_id, phase) DO UPDATE SET status = EXCLUDED.status,
                   finished_at = EXCLUDED.finished_at, duration_s = EXCLUDED.duration_s,
                   detail = EXCLUDED.detail""",
            rb.id,
            record.phase,
            record.status,
            moment(record.started_at),
            moment(now),
            now - record.started_at,
            record.stored_detail(),
        )

    async def failed_actions(self, keys: list[str]) -> dict[str, bool]:
        rows = await self._conn.fetch(
            """SELECT idempotency_key, reason FROM actions
               WHERE idempotency_key = ANY($1::text[]) AND status = 'failed'""",
            keys,
        )
        return {r["idempotency_key"]: r["reason"] != NextReason.EXHAUSTED.value for r in rows}

    async def requeue_actions(self, keys: list[str], now: float) -> None:
        await self._conn.execute(
            """UPDATE actions SET status = 'pending', attempts = 0, next_attempt_at = $2,
                   reason = NULL, last_error = NULL, finished_at = NULL, lease_until = NULL
               WHERE idempotency_key = ANY($1::text[]) AND status = 'failed'""",
            keys,
            moment(now),
        )

    async def retry_phase(self, rb: Rollback, record: PhaseRecord) -> None:
        await self._conn.execute(
            """UPDATE rollback_phases SET attempt = $3, attempt_started_at = $4, detail = $5
               WHERE rollback_id = $1 AND phase = $2 AND status = 'running'""",
            rb.id,
            record.phase,
            record.attempt,
            moment(record.attempt_start),
            record.stored_detail(),
        )

    async def end_rollback(self, rb: Rollback, ok: bool, outcome: str, now: float) -> None:
        await self._conn.execute(
            """UPDATE rollbacks SET status = $2, finished_at = $3, outcome = $4,
                   lease_owner = NULL, lease_until = NULL
               WHERE id = $1""",
            rb.id,
            "succeeded" if ok else "failed",
            moment(now),
            outcome,
        )

    async def wake_held(self, incident_id: str | None, now: float) -> None:
        await self._conn.execute(
            """UPDATE actions SET next_attempt_at = $2
               WHERE status = 'held' AND ($1::text IS NULL OR incident_id = $1)""",
            incident_id,
            moment(now),
        )

    async def action_statuses(self, keys: list[str]) -> dict[str, ActionStatus]:
        rows = await self._conn.fetch(
            "SELECT idempotency_key, status FROM actions WHERE idempotency_key = ANY($1::text[])",
            keys,
        )
        return {row["idempotency_key"]: row["status"] for row in rows}


class PgIncidentStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgIncidentTx]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PgIncidentTx(conn)

    async def due_timers(self, now: float, limit: int) -> list[DueTimer]:
        rows = await self._pool.fetch(
            """SELECT id, incident_id, kind, due_at FROM timers
               WHERE fired_at IS NULL AND due_at <= $1 ORDER BY due_at, id LIMIT $2""",
            moment(now),
            limit,
        )
        return [
            DueTimer(r["id"], r["incident_id"], r["kind"], float(r["due_at"].timestamp()))
            for r in rows
        ]

    async def next_timer_at(self) -> float | None:
        at = await self._pool.fetchval("SELECT min(due_at) FROM timers WHERE fired_at IS NULL")
        return epoch(at)
