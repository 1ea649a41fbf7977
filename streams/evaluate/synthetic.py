"""Synthetic panes from compact series, for policy tests, test suites and benchmarks.

Each series is one scope's values per pane in the notation of ``streams.evaluate.series``
("70x60", "0x30 28x30", "_x10"): requests, errors, latency_ms (every request of the pane),
version; cpu, mem; depth; status (bots); checks, failures; deploys for a service-only scope;
backups and restore_tests for a dataset scope (each a list of reports, optionally repeated
``every`` so long ``until``).
Pane i of a series covers [START_MS + i * pane_ms, START_MS + (i + 1) * pane_ms).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from schemas.panes import Dimension, PaneSummary, Scope
from schemas.sketch import Sketch
from streams.evaluate.series import expand, expand_numbers
from streams.policy.durations import parse_duration_ms

__all__ = [
    "START_MS",
    "BackupInput",
    "DeployInput",
    "RestoreTestInput",
    "SeriesInput",
    "build_panes",
]

START_MS = 1_700_000_000_000
DurationMs = Annotated[int, BeforeValidator(parse_duration_ms), Field(ge=0)]
SeriesText = Annotated[str, BeforeValidator(lambda v: v if isinstance(v, str) else f"{v}")]
_DIMENSIONS: tuple[Dimension, ...] = ("endpoint", "host", "queue", "bot", "check", "dataset")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DeployInput(_Model):
    at_ms: DurationMs = Field(alias="at")
    version: SeriesText
    status: Literal["started", "succeeded", "failed", "rolled_back"] = "started"


class _Repeated(_Model):
    """A report at ``at``, and again every ``every`` before ``until`` (when both are given)."""

    at_ms: DurationMs = Field(alias="at")
    every_ms: DurationMs | None = Field(default=None, alias="every", gt=0)
    until_ms: DurationMs | None = Field(default=None, alias="until")

    def times(self) -> list[int]:
        if self.every_ms is None or self.until_ms is None:
            return [self.at_ms]
        return list(range(self.at_ms, self.until_ms, self.every_ms))


class BackupInput(_Repeated):
    """A backup reported at ``at``, taken ``age`` before it (0: at once)."""

    type: Literal["wal", "incremental", "full", "offsite"] = "wal"
    status: Literal["succeeded", "failed"] = "succeeded"
    age_ms: DurationMs = Field(default=0, alias="age")


class RestoreTestInput(_Repeated):
    ok: bool = True
    duration_s: float = Field(default=60.0, ge=0)


class SeriesInput(_Model):
    """One scope's panes; every field is a series with one value per pane."""

    scope: dict[str, str]
    requests: SeriesText | None = None
    errors: SeriesText | None = None
    latency_ms: SeriesText | None = None
    version: SeriesText | None = None
    log_lines: SeriesText | None = None
    log_errors: SeriesText | None = None
    cpu: SeriesText | None = None
    mem: SeriesText | None = None
    depth: SeriesText | None = None
    status: SeriesText | None = None
    checks: SeriesText | None = None
    failures: SeriesText | None = None
    deploys: tuple[DeployInput, ...] = ()
    backups: tuple[BackupInput, ...] = ()
    restore_tests: tuple[RestoreTestInput, ...] = ()


# --- building panes ------------------------------------------------------------------------


def _scope(raw: dict[str, str]) -> Scope:
    service = raw.get("service")
    if not service:
        raise ValueError(f"scope needs a service, got {raw}")
    named = [d for d in _DIMENSIONS if d in raw]
    unknown = set(raw) - {"service", *_DIMENSIONS}
    if unknown or len(named) > 1:
        raise ValueError(f"scope is service plus one of {', '.join(_DIMENSIONS)}, got {raw}")
    if not named:
        return Scope(service=service, dimension="service", key=service)
    return Scope(service=service, dimension=named[0], key=raw[named[0]])


_NUMERIC = (
    "requests",
    "errors",
    "latency_ms",
    "log_lines",
    "log_errors",
    "cpu",
    "mem",
    "depth",
    "checks",
    "failures",
)


class _Columns:
    """The expanded series of one input, by field name."""

    def __init__(self, series: SeriesInput) -> None:
        self.numbers: dict[str, list[float | None]] = {}
        self.texts: dict[str, list[str | None]] = {}
        for name in _NUMERIC:
            raw = getattr(series, name)
            if raw is not None:
                self.numbers[name] = expand_numbers(raw)
        for name in ("version", "status"):
            raw = getattr(series, name)
            if raw is not None:
                self.texts[name] = expand(raw)

    @property
    def length(self) -> int:
        lengths = [len(v) for v in self.numbers.values()]
        lengths.extend(len(v) for v in self.texts.values())
        return max(lengths, default=0)

    def number(self, name: str, index: int) -> float | None:
        values = self.numbers.get(name, [])
        return values[index] if index < len(values) else None

    def text(self, name: str, index: int) -> str | None:
        values = self.texts.get(name, [])
        return values[index] if index < len(values) else None


def _requests(columns: _Columns, index: int) -> dict[str, Any] | None:
    count = columns.number("requests", index)
    if count is None:
        return None
    latency = columns.number("latency_ms", index) or 100.0
    sketch = Sketch()
    if count:
        sketch.bins[sketch.mapping.index(latency)] = int(count)
    version = columns.text("version", index)
    return {
        "count": int(count),
        "errors": int(columns.number("errors", index) or 0),
        "latency": sketch.to_wire(),
        "min_ms": latency,
        "max_ms": latency,
        "versions": {version: int(count)} if version and count else {},
    }


def _gauges(columns: _Columns, index: int, ts: float) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    cpu, mem = columns.number("cpu", index), columns.number("mem", index)
    if cpu is not None or mem is not None:
        fields["resource"] = {
            "samples": 1,
            **({"cpu_last": cpu, "cpu_max": cpu} if cpu is not None else {}),
            **({"mem_last": mem, "mem_max": mem} if mem is not None else {}),
        }
    depth = columns.number("depth", index)
    if depth is not None:
        d = int(depth)
        fields["queue"] = {"samples": 1, "depth_first": d, "depth_last": d, "depth_max": d}
    status = columns.text("status", index)
    if status is not None:
        fields["bot"] = {"transitions": [(ts, status)], "last_status": status}
    return fields


def _checks(columns: _Columns, index: int) -> dict[str, Any] | None:
    failures = columns.number("failures", index)
    checks = columns.number("checks", index)
    if failures is None and checks is None:
        return None
    failed = int(failures or 0)
    return {"checks": max(int(checks or 0), failed, 1), "failures": failed}


def _logs(columns: _Columns, index: int) -> dict[str, Any] | None:
    errors, lines = columns.number("log_errors", index), columns.number("log_lines", index)
    if errors is None and lines is None:
        return None
    return {"total": int(max(lines or 0, errors or 0)), "errors": int(errors or 0)}


def _pane(scope: Scope, start: int, pane_ms: int, fields: dict[str, Any]) -> PaneSummary:
    return PaneSummary.model_validate(
        {
            "pane_id": PaneSummary.make_id(scope, start),
            "scope": scope.model_dump(),
            "start_ms": start,
            "end_ms": start + pane_ms,
            **fields,
        }
    )


def _reports(series: SeriesInput, pane_ms: int) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Deploy, backup and restore-test records by pane index and list."""
    found: dict[int, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for deploy in series.deploys:
        ts = (START_MS + deploy.at_ms) / 1000.0
        record = {"ts": ts, "version": deploy.version, "status": deploy.status}
        found[deploy.at_ms // pane_ms]["deploys"].append(record)
    for n, backup in enumerate(series.backups):
        for at in backup.times():
            ts = (START_MS + at) / 1000.0
            record = {"ts": ts, "backup_id": f"{backup.type}-{n}-{at}", "type": backup.type,
                      "status": backup.status, "taken_at": ts - backup.age_ms / 1000.0}  # fmt: skip
            found[at // pane_ms]["backups"].append(record)
    for test in series.restore_tests:
        for at in test.times():
            ts = (START_MS + at) / 1000.0
            record = {"ts": ts, "backup_id": f"tested-{at}", "ok": test.ok,
                      "duration_s": test.duration_s, "environment": "staging"}  # fmt: skip
            found[at // pane_ms]["restore_tests"].append(record)
    return found


def _series_panes(series: SeriesInput, pane_ms: int) -> Iterator[PaneSummary]:
    scope = _scope(series.scope)
    columns = _Columns(series)
    reports = _reports(series, pane_ms)
    for index in range(max(columns.length, max(reports, default=-1) + 1)):
        start = START_MS + index * pane_ms
        fields: dict[str, Any] = _gauges(columns, index, start / 1000.0)
        optional = {
            "requests": _requests(columns, index),
            "integrity": _checks(columns, index),
            "logs": _logs(columns, index),
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        fields.update(reports.get(index, {}))
        if fields:
            yield _pane(scope, start, pane_ms, fields)


def build_panes(series: tuple[SeriesInput, ...], pane_ms: int = 1000) -> list[list[PaneSummary]]:
    """The panes of some series, grouped by pane end time, in time order."""
    by_end: dict[int, list[PaneSummary]] = defaultdict(list)
    for one in series:
        for pane in _series_panes(one, pane_ms):
            by_end[pane.end_ms].append(pane)
    return [by_end[end] for end in sorted(by_end)]
