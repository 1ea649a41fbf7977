"""Wire models: the contract between producers, alertpipe's stages and its subscribers.

Imports nothing of alertpipe's own packages; everything else imports from here.
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas.decisions import AlertState, Decision, Evidence, Response
from schemas.incidents import (
    ActionKind,
    ActionRecord,
    IncidentEvent,
    IncidentRecord,
    IncidentStatus,
    PhaseRecord,
    RollbackRecord,
    TimelineEntry,
)
from schemas.maintenance import HoldRecord, WindowRecord
from schemas.panes import LatencySketch, PaneSummary, Scope
from schemas.severity import Scenario, Severity
from schemas.telemetry import (
    BackupEvent,
    BotEvent,
    DeployEvent,
    IntegrityEvent,
    InvalidEvent,
    LogEvent,
    QueueEvent,
    RequestEvent,
    ResourceEvent,
    RestoreTestEvent,
    TelemetryEvent,
    encode_event,
    parse_event,
    validate_event,
)
from schemas.timestamps import parse_timestamp, to_rfc3339

__all__ = [
    "EXPORTED_MODELS",
    "ActionKind",
    "ActionRecord",
    "AlertState",
    "BackupEvent",
    "BotEvent",
    "Decision",
    "DeployEvent",
    "Evidence",
    "IncidentEvent",
    "IncidentRecord",
    "IncidentStatus",
    "IntegrityEvent",
    "InvalidEvent",
    "LatencySketch",
    "LogEvent",
    "PaneSummary",
    "PhaseRecord",
    "QueueEvent",
    "RequestEvent",
    "ResourceEvent",
    "Response",
    "RestoreTestEvent",
    "RollbackRecord",
    "Scenario",
    "Scope",
    "Severity",
    "TelemetryEvent",
    "TimelineEntry",
    "encode_event",
    "parse_event",
    "parse_timestamp",
    "to_rfc3339",
    "validate_event",
]

# Models published as JSON Schema by `alertpipe schema export`, by file stem.
EXPORTED_MODELS: dict[str, type[BaseModel]] = {
    "telemetry.request.v1": RequestEvent,
    "telemetry.log.v1": LogEvent,
    "telemetry.resource.v1": ResourceEvent,
    "telemetry.queue.v1": QueueEvent,
    "telemetry.bot.v1": BotEvent,
    "telemetry.integrity.v1": IntegrityEvent,
    "telemetry.deploy.v1": DeployEvent,
    "telemetry.backup.v1": BackupEvent,
    "telemetry.restore_test.v1": RestoreTestEvent,
    "pane.v1": PaneSummary,
    "decision.v1": Decision,
    "incident-event.v1": IncidentEvent,
    "incident.v1": IncidentRecord,
    "action.v1": ActionRecord,
    "maintenance-window.v1": WindowRecord,
    "automation-hold.v1": HoldRecord,
}
