"""Builders for Decision and PaneSummary messages, as stage 2 and stage 1 would send them."""

from __future__ import annotations

import time
from typing import Any

from schemas.decisions import Decision, Evidence
from schemas.panes import (
    BackupRecord,
    LatencySketch,
    PaneSummary,
    RequestStats,
    RestoreTestRecord,
    Scope,
)
from schemas.severity import Severity

__all__ = ["backup", "dataset_pane", "decision", "healthy_pane", "restore_test"]

_RESPONSE = {
    Severity.CRITICAL: "rollback",
    Severity.HIGH: "investigate",
    Severity.MEDIUM: "notify",
    Severity.LOW: "record",
}


def decision(
    service: str = "chat-api",
    severity: Severity = Severity.CRITICAL,
    state: str = "firing",
    *,
    rule: str = "error_rate_critical",
    metric: str = "error_rate",
    seq: int = 1,
    at: float | None = None,
    fingerprint: str | None = None,
    **extra: Any,
) -> Decision:
    fp = fingerprint or f"{rule}|{service}"
    at_ms = int((time.time() if at is None else at) * 1000)
    fields: dict[str, Any] = {
        "decision_id": f"{fp}:{seq}",
        "fingerprint": fp,
        "rule": rule,
        "scope": {"endpoint": "POST /api/search"},
        "service": service,
        "state": state,
        "previous": "pending" if state == "firing" else "firing",
        "severity": severity,
        "response": _RESPONSE[severity],
        "at_ms": at_ms,
        "evidence": Evidence(
            metric=metric,
            window_start_ms=at_ms - 60_000,
            window_end_ms=at_ms,
            observed=0.25,
            comparison=">",
            threshold=0.10,
            samples=400,
            min_samples=20,
        ),
        "version": "2.4.0",
        "last_good_version": "2.3.9",
        "summary": f"{severity.value}: {rule} on {service}",
    }
    fields.update(extra)
    return Decision(**fields)


def healthy_pane(service: str, start_ms: int, requests: int = 50, errors: int = 0) -> PaneSummary:
    scope = Scope(service=service, dimension="service", key=service)
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start_ms),
        scope=scope,
        start_ms=start_ms,
        end_ms=start_ms + 1000,
        requests=RequestStats(
            count=requests,
            errors=errors,
            latency=LatencySketch(alpha=0.01, offset=300, counts=[requests]),
            min_ms=20.0,
            max_ms=80.0,
        ),
    )


def backup(
    backup_id: str, taken_at: float, kind: str = "wal", status: str = "succeeded"
) -> BackupRecord:
    """A backup as a dataset pane carries it, reported 5 s after it was taken."""
    return BackupRecord.model_validate(
        {"ts": taken_at + 5, "backup_id": backup_id, "type": kind, "status": status,
         "taken_at": taken_at, "size_bytes": 1 << 20, "location": f"s3://backups/{backup_id}"}
    )  # fmt: skip


def restore_test(backup_id: str, at: float, ok: bool = True) -> RestoreTestRecord:
    return RestoreTestRecord(
        ts=at, backup_id=backup_id, ok=ok, duration_s=95.0, environment="staging"
    )


def dataset_pane(
    service: str,
    dataset: str,
    backups: list[BackupRecord],
    restore_tests: list[RestoreTestRecord] | None = None,
    start_ms: int | None = None,
) -> PaneSummary:
    """One dataset pane with these reports, as stage 1 publishes it."""
    scope = Scope(service=service, dimension="dataset", key=dataset)
    start = int(time.time() * 1000) if start_ms is None else start_ms
    return PaneSummary(
        pane_id=PaneSummary.make_id(scope, start),
        scope=scope,
        start_ms=start,
        end_ms=start + 1000,
        backups=backups,
        restore_tests=restore_tests or [],
    )
