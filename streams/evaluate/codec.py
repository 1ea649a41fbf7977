"""The compacted state topic's records: alert records and per-service state, as JSON.

Keys: ``alert:{fingerprint}`` (one alert's record), ``service:{name}`` (the version track,
the throughput baselines and the datasets' backup tracks of a service) and ``clock`` (the
partition's event time once idle ticks moved it past its latest pane). Values are JSON
objects with a ``kind``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson

from schemas.panes import Scope
from streams.evaluate.backups import BackupTrack
from streams.evaluate.baseline import Baseline
from streams.evaluate.deploys import VersionTrack
from streams.evaluate.state import AlertRecord

__all__ = [
    "CLOCK_KEY",
    "alert_key",
    "decode",
    "decode_alert",
    "decode_clock",
    "decode_service",
    "encode",
    "encode_alert",
    "encode_clock",
    "encode_service",
    "service_key",
]


CLOCK_KEY = "clock"


def alert_key(fingerprint: str) -> str:
    return f"alert:{fingerprint}"


def service_key(service: str, drill: str | None = None) -> str:
    """A drill's services keep their own record (``service:<name>|drill:<id>``)."""
    return f"service:{service}" if drill is None else f"service:{service}|drill:{drill}"


def encode_alert(rule: str, scope: Scope, record: AlertRecord) -> dict[str, Any]:
    return {"kind": "alert", "rule": rule, "scope": scope.model_dump(), "record": asdict(record)}


def decode_alert(value: dict[str, Any]) -> tuple[str, Scope, AlertRecord]:
    return (
        str(value["rule"]),
        Scope.model_validate(value["scope"]),
        AlertRecord(**value["record"]),
    )


def encode_service(
    service: str,
    track: VersionTrack,
    baselines: dict[str, Baseline],
    backups: dict[str, BackupTrack] | None = None,
    drill: str | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {"drill": drill} if drill is not None else {}
    value = {
        **found,
        "kind": "service",
        "service": service,
        "track": asdict(track),
        "baselines": {scope_id: asdict(b) for scope_id, b in baselines.items()},
    }
    if backups:  # absent for a service without datasets, as it always was
        value["backups"] = {scope_id: b.to_json() for scope_id, b in backups.items()}
    return value


def decode_service(
    value: dict[str, Any],
) -> tuple[str, str | None, VersionTrack, dict[str, Baseline], dict[str, BackupTrack]]:
    """(service, drill, version track, baselines, backup tracks)."""
    baselines = {key: Baseline(**raw) for key, raw in value.get("baselines", {}).items()}
    backups = {key: BackupTrack.from_json(raw) for key, raw in value.get("backups", {}).items()}
    drill = value.get("drill")
    service, track = str(value["service"]), VersionTrack(**value["track"])
    return service, None if drill is None else str(drill), track, baselines, backups


def encode_clock(clock_ms: int) -> dict[str, Any]:
    return {"kind": "clock", "clock_ms": clock_ms}


def decode_clock(value: dict[str, Any]) -> int:
    return int(value["clock_ms"])


def encode(value: dict[str, Any] | None) -> bytes | None:
    return None if value is None else orjson.dumps(value)


def decode(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = orjson.loads(raw)
    return value if isinstance(value, dict) else None
