"""Validation on the hot path: the schemas/telemetry.py contract at a fraction of its cost.

``schemas.telemetry.validate_event`` (pydantic, strict) is the contract, and it costs ~2.3 µs
per event — a third of the stage's budget. So each kind has a fast reader that accepts only
the *canonical* shape of a valid event and extracts what aggregation needs; anything else,
invalid or merely unusual (200.0 as a status, " a " as a name, an RFC 3339 ``ts``), goes to
pydantic, so what is accepted, the values and a rejection's reason are pydantic's by
construction (tests/unit/streams prove it with hypothesis; docs/design.md record 27).

A *reading* is a flat tuple (cheap to build, ~30 ns, unlike a model or a NamedTuple):
``(kind, service, dimension, key, ts, a, b, c, drill)`` with ``ts`` in epoch seconds exactly
as pydantic parses it, ``drill`` the DR drill id (None for real traffic: drill events are
rare, so they always take the pydantic path) and ``a, b, c`` per kind:

========== ================== ================== ==========
kind       a                  b                  c
========== ================== ================== ==========
request    status             latency_ms         version
log        level              None               None
resource   cpu_pct            mem_pct            None
queue      depth              None               None
bot        status             None               None
integrity  ok                 detail             None
deploy     version            status             None
backup     (type, status,     None               None
           backup_id,
           taken_at,
           size_bytes,
           location)
restore_   (backup_id, ok,    None               None
test       duration_s,
           environment)
========== ================== ================== ==========

(dimension, key), with the drill, is the pane scope: requests and logs with an endpoint go to
the endpoint, logs without one and deploys to the service-wide scope ("service", service),
backups and restore tests to their dataset ("dataset", dataset).

``read_record`` decodes the bytes with msgspec straight into a typed struct of their kind (a
union tagged by ``kind``, validating while it decodes: ``streams.aggregate.canonical``);
whatever it refuses — a drill's event, an unknown or repeated kind, a non-canonical or
invalid event — takes the path above, so the verdicts are still pydantic's.

This module is compiled with mypyc when built (``make native``, docs/design.md record 47).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

import orjson

from schemas.telemetry import (
    BOT_STATUSES,
    DEPLOY_STATUSES,
    LOG_LEVELS,
    MAX_DEPTH,
    MAX_LATENCY_MS,
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
    validate_event,
)
from schemas.timestamps import MAX_EPOCH_S
from streams.aggregate import canonical
from streams.aggregate.canonical import MAX_NAME, MAX_TEXT

__all__ = ["Reading", "decode", "read_event", "read_record", "reading_of"]

Reading = tuple[str, str, str, str, float, Any, Any, Any, str | None]
Reader = Callable[[dict[str, Any]], "Reading | None"]

_MAX_FLOAT = 1.7976931348623157e308  # finite: NaN and ±inf fail the range check
# Same magnitude thresholds as schemas/timestamps.py (ms, µs, ns read as such).
_MS_FROM, _US_FROM, _NS_FROM = 1e11, 1e14, 1e17
_LEVELS = frozenset(LOG_LEVELS)
_BOT_STATUSES = frozenset(BOT_STATUSES)
_DEPLOY_STATUSES = frozenset(DEPLOY_STATUSES)


def decode(raw: bytes | None) -> Any:
    """The JSON value of a message; InvalidEvent with schemas' wording when it is not JSON."""
    if raw is None:
        raise InvalidEvent("not valid JSON: empty message (no value)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidEvent(f"not valid JSON: {error}") from None


def read_event(data: Any) -> Reading:
    """The reading of a decoded event; raises InvalidEvent exactly as validate_event would."""
    if type(data) is dict:
        kind = data.get("kind")
        reader = _READERS.get(kind) if type(kind) is str else None
        if reader is not None:
            reading = reader(data)
            if reading is not None:
                return reading
    return reading_of(validate_event(data))


# --- every kind straight from bytes (msgspec) ----------------------------------------------


def read_record(raw: bytes) -> Reading:
    """The reading of one message's bytes; raises InvalidEvent (or orjson's JSONDecodeError,
    for bytes that are not JSON) exactly as ``read_event(orjson.loads(raw))`` would."""
    try:
        event: canonical.Event = canonical.decode_event(raw)
    except canonical.NOT_CANONICAL:
        return read_event(orjson.loads(raw))
    service, seconds = event.service, event.ts
    if seconds >= _MS_FROM:  # ms and finer: the shared rule (a call only for these)
        seconds = _scale(seconds)
    if service.strip() is service and seconds < MAX_EPOCH_S:
        if type(event) is canonical.Request:  # most telemetry
            reading = _request_reading(event, service, seconds)
        else:
            reading = _struct_reading(event, service, seconds)
        if reading is not None:
            return reading
    return read_event(orjson.loads(raw))  # not canonical: the readers and pydantic decide


# Each struct's reading, ``ts`` in epoch seconds; None when a check msgspec cannot express
# (names with nothing to strip) fails.


def _request_reading(event: canonical.Request, service: str, ts: float) -> Reading | None:
    endpoint, version = event.endpoint, event.version
    if endpoint.strip() is not endpoint or (version is not None and version.strip() is not version):
        return None
    return ("request", service, "endpoint", endpoint, ts, event.status, event.latency_ms,
            version, None)  # fmt: skip


def _struct_reading(event: canonical.Event, service: str, ts: float) -> Reading | None:
    if type(event) is canonical.Log:
        return _log_reading(event, service, ts)
    if type(event) is canonical.Resource:
        host, cpu, mem = event.host, event.cpu_pct, event.mem_pct
        if host.strip() is not host or (cpu is None and mem is None):
            return None
        return ("resource", service, "host", host, ts, cpu, mem, None, None)
    if type(event) is canonical.Queue:
        queue = event.queue
        if queue.strip() is not queue:
            return None
        return ("queue", service, "queue", queue, ts, event.depth, None, None, None)
    if type(event) is canonical.Bot:
        bot = event.bot_id
        if bot.strip() is not bot:
            return None
        return ("bot", service, "bot", bot, ts, event.status, None, None, None)
    if type(event) is canonical.Integrity:
        check, detail = event.check, event.detail
        if check.strip() is not check or (detail is not None and detail.strip() is not detail):
            return None
        return ("integrity", service, "check", check, ts, event.ok, detail, None, None)
    if type(event) is canonical.Deploy:
        version = event.version
        if version.strip() is not version:
            return None
        return ("deploy", service, "service", service, ts, version, event.status, None, None)
    if type(event) is canonical.Backup:
        return _backup_reading(event, service, ts)
    if type(event) is canonical.RestoreTest:
        return _restore_test_reading(event, service, ts)
    return None


def _log_reading(event: canonical.Log, service: str, ts: float) -> Reading | None:
    endpoint = event.endpoint
    if endpoint is None:
        return ("log", service, "service", service, ts, event.level, None, None, None)
    if endpoint.strip() is not endpoint:
        return None
    return ("log", service, "endpoint", endpoint, ts, event.level, None, None, None)


def _backup_reading(event: canonical.Backup, service: str, ts: float) -> Reading | None:
    names = (event.dataset, event.backup_id, *(() if event.location is None else (event.location,)))
    taken = event.taken_at
    if taken >= _MS_FROM:
        taken = _scale(taken)
    if taken >= MAX_EPOCH_S or any(n.strip() is not n for n in names):
        return None
    backup = (event.type, event.status, event.backup_id, taken, event.size_bytes, event.location)
    return ("backup", service, "dataset", event.dataset, ts, backup, None, None, None)


def _restore_test_reading(event: canonical.RestoreTest, service: str, ts: float) -> Reading | None:
    names = (event.backup_id, event.dataset, event.environment)
    if any(n.strip() is not n for n in names):
        return None
    test = (event.backup_id, event.ok, event.duration_s, event.environment)
    return ("restore_test", service, "dataset", event.dataset, ts, test, None, None, None)


# --- canonical-shape checks (None means "not canonical: let pydantic decide") -------------


def _name(value: Any) -> TypeGuard[str]:
    # str.strip() returns the very object when there is nothing to strip (the model strips
    # with str.strip too); a non-empty string with nothing to strip is not blank either.
    return type(value) is str and 0 < len(value) <= MAX_NAME and value.strip() is value


def _optional_name(value: Any) -> bool:
    return value is None or _name(value)


def _number(value: Any) -> TypeGuard[float]:
    kind = type(value)
    return (kind is float or kind is int) and 0.0 <= value <= _MAX_FLOAT


def _seconds(value: Any) -> float | None:
    """Epoch seconds of a numeric ``ts``, exactly as schemas.timestamps computes them (None:
    out of range, for pydantic to word the reason)."""
    if not _number(value):
        return None
    seconds = _scale(float(value))
    return seconds if seconds < MAX_EPOCH_S else None


def _scale(number: float) -> float:
    if number >= _NS_FROM:
        return number / 1e9
    if number >= _US_FROM:
        return number / 1e6
    if number >= _MS_FROM:
        return number / 1e3
    return number


def _head(data: dict[str, Any]) -> tuple[str, float] | None:
    """(service, ts) when the fields every kind shares are canonical."""
    version = data.get("v", 1)
    if version != 1 or version is True:  # 1 and 1.0 are version 1; true is not (True == 1)
        return None
    if data.get("drill") is not None:
        return None
    service = data.get("service")
    ts = _seconds(data.get("ts"))
    if ts is None or not _name(service):
        return None
    return service, ts


def _read_request(data: dict[str, Any]) -> Reading | None:
    # The hot path (most telemetry is requests): the same checks as _head/_name/_number/
    # _seconds, written out inline because each Python call costs ~60 ns of an ~8 µs budget.
    get = data.get
    service, endpoint, status = get("service"), get("endpoint"), get("status")
    latency, version, ts = get("latency_ms"), get("version"), get("ts")
    if not (
        type(service) is str
        and 0 < len(service) <= MAX_NAME
        and service.strip() is service
        and type(endpoint) is str
        and 0 < len(endpoint) <= MAX_NAME
        and endpoint.strip() is endpoint
        and type(status) is int
        and 100 <= status <= 599
        and (type(latency) is float or type(latency) is int)
        and 0.0 <= latency <= MAX_LATENCY_MS
        and (type(ts) is float or type(ts) is int)
        and 0.0 <= ts <= _MAX_FLOAT
        and get("v", 1) == 1
        and get("v") is not True
        and get("drill") is None
    ):
        return None
    if version is not None and not (
        type(version) is str and 0 < len(version) <= MAX_NAME and version.strip() is version
    ):
        return None
    seconds = float(ts)
    if seconds >= _MS_FROM:  # ms and finer: the shared rule (a call only for these)
        seconds = _scale(seconds)
        if seconds >= MAX_EPOCH_S:
            return None
    return ("request", service, "endpoint", endpoint, seconds, status, float(latency), version,
            None)  # fmt: skip


def _read_log(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    level, message, endpoint = data.get("level"), data.get("message"), data.get("endpoint")
    if head is None or type(level) is not str or level not in _LEVELS:
        return None
    if type(message) is not str or len(message) > MAX_TEXT or not _optional_name(endpoint):
        return None
    service = head[0]
    if endpoint is None:
        return ("log", service, "service", service, head[1], level, None, None, None)
    return ("log", service, "endpoint", endpoint, head[1], level, None, None, None)


def _optional_percent(value: Any) -> bool:
    return value is None or (_number(value) and value <= 100)


def _read_resource(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    host, cpu, mem = data.get("host"), data.get("cpu_pct"), data.get("mem_pct")
    if head is None or not _name(host) or (cpu is None and mem is None):
        return None
    if not (_optional_percent(cpu) and _optional_percent(mem)):
        return None
    cpu_pct = None if cpu is None else float(cpu)
    mem_pct = None if mem is None else float(mem)
    return ("resource", head[0], "host", host, head[1], cpu_pct, mem_pct, None, None)


def _read_queue(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    queue, depth = data.get("queue"), data.get("depth")
    if head is None or not _name(queue) or type(depth) is not int or not 0 <= depth <= MAX_DEPTH:
        return None
    return ("queue", head[0], "queue", queue, head[1], depth, None, None, None)


def _read_bot(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    bot, status = data.get("bot_id"), data.get("status")
    if head is None or not _name(bot) or type(status) is not str:
        return None
    if status not in _BOT_STATUSES:
        return None
    return ("bot", head[0], "bot", bot, head[1], status, None, None, None)


def _optional_text(value: Any) -> bool:
    return value is None or (
        type(value) is str and len(value) <= MAX_TEXT and value.strip() is value
    )


def _read_integrity(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    check, ok, detail = data.get("check"), data.get("ok"), data.get("detail")
    if head is None or not _name(check) or type(ok) is not bool or not _optional_text(detail):
        return None
    return ("integrity", head[0], "check", check, head[1], ok, detail, None, None)


def _read_deploy(data: dict[str, Any]) -> Reading | None:
    head = _head(data)
    version, status = data.get("version"), data.get("status")
    if head is None or not _name(version) or type(status) is not str:
        return None
    if status not in _DEPLOY_STATUSES:
        return None
    service = head[0]
    return ("deploy", service, "service", service, head[1], version, status, None, None)


_READERS: dict[str, Reader] = {
    "request": _read_request,
    "log": _read_log,
    "resource": _read_resource,
    "queue": _read_queue,
    "bot": _read_bot,
    "integrity": _read_integrity,
    "deploy": _read_deploy,
}


# --- the reference path: a validated pydantic event as a reading --------------------------


def reading_of(event: TelemetryEvent) -> Reading:
    """The reading of a validated event (the slow path, and the oracle of the tests)."""
    service, ts, drill = event.service, event.ts, event.drill
    match event:
        case RequestEvent():
            key = event.endpoint
            return ("request", service, "endpoint", key, ts, event.status, event.latency_ms,
                    event.version, drill)  # fmt: skip
        case LogEvent(endpoint=None):
            return ("log", service, "service", service, ts, event.level, None, None, drill)
        case LogEvent():
            endpoint = str(event.endpoint)
            return ("log", service, "endpoint", endpoint, ts, event.level, None, None, drill)
        case ResourceEvent():
            return ("resource", service, "host", event.host, ts, event.cpu_pct, event.mem_pct,
                    None, drill)  # fmt: skip
        case QueueEvent():
            return ("queue", service, "queue", event.queue, ts, event.depth, None, None, drill)
        case BotEvent():
            return ("bot", service, "bot", event.bot_id, ts, event.status, None, None, drill)
        case IntegrityEvent():
            return ("integrity", service, "check", event.check, ts, event.ok, event.detail,
                    None, drill)  # fmt: skip
        case DeployEvent():
            return ("deploy", service, "service", service, ts, event.version, event.status,
                    None, drill)  # fmt: skip
        case BackupEvent():
            backup = (event.type, event.status, event.backup_id, event.taken_at,
                      event.size_bytes, event.location)  # fmt: skip
            return ("backup", service, "dataset", event.dataset, ts, backup, None, None, drill)
        case RestoreTestEvent():
            test = (event.backup_id, event.ok, event.duration_s, event.environment)
            return ("restore_test", service, "dataset", event.dataset, ts, test, None, None,
                    drill)  # fmt: skip
    raise AssertionError(f"unknown event type {type(event).__name__}")
