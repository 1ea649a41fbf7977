"""Open panes: what one scope did during one pane, accumulated event by event.

A pane is mutable while open and becomes a ``schemas.panes.PaneSummary`` (as a plain dict,
serialised with orjson — building thousands of pydantic models a second would cost more than
the aggregation itself) when it closes. "First" and "last" are by event time; equal event
times keep arrival (offset) order, so a rebuilt pane equals the original one.
"""

from __future__ import annotations

from math import ceil, log
from typing import Any

from schemas.panes import scope_text
from schemas.sketch import DEFAULT_MAPPING, Mapping, Sketch

__all__ = ["Pane", "ScopeKey", "scope_id"]

# (service, dimension, key, drill), as in schemas.panes.Scope (drill None: real traffic)
ScopeKey = tuple[str, str, str, str | None]


def scope_id(scope: ScopeKey) -> str:
    """``Scope.id``: ``service|dimension|key`` (``|drill:<id>`` for a drill's scope)."""
    return scope_text(*scope)


class RequestAcc:
    __slots__ = ("count", "errors", "max_ms", "min_ms", "sketch", "versions", "versions_cut")

    def __init__(self, mapping: Mapping) -> None:
        self.count = 0
        self.errors = 0
        self.min_ms = float("inf")
        self.max_ms = float("-inf")
        self.sketch = Sketch(mapping)
        self.versions: dict[str, int] = {}
        self.versions_cut = 0  # requests whose version MAX_VERSIONS left uncounted

    def wire(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "errors": self.errors,
            "latency": self.sketch.to_wire(),
            "min_ms": self.min_ms,
            "max_ms": self.max_ms,
            "versions": self.versions,
        }


class LogAcc:
    __slots__ = ("errors", "total")

    def __init__(self) -> None:
        self.total = 0
        self.errors = 0

    def add(self, level: str) -> None:
        self.total += 1
        if level == "error" or level == "critical":
            self.errors += 1

    def wire(self) -> dict[str, Any]:
        return {"total": self.total, "errors": self.errors}


class Gauge:
    """Last (by event time) and maximum of one reading."""

    __slots__ = ("last", "last_ts", "max")

    def __init__(self) -> None:
        self.last: float | None = None
        self.last_ts = float("-inf")
        self.max: float | None = None

    def add(self, ts: float, value: float | None) -> None:
        if value is None:
            return
        if ts >= self.last_ts:
            self.last, self.last_ts = value, ts
        if self.max is None or value > self.max:
            self.max = value


class ResourceAcc:
    __slots__ = ("cpu", "mem", "samples")

    def __init__(self) -> None:
        self.samples = 0
        self.cpu = Gauge()
        self.mem = Gauge()

    def add(self, ts: float, cpu_pct: float | None, mem_pct: float | None) -> None:
        self.samples += 1
        self.cpu.add(ts, cpu_pct)
        self.mem.add(ts, mem_pct)

    def wire(self) -> dict[str, Any]:
        cpu, mem = self.cpu, self.mem
        return {
            "samples": self.samples,
            "cpu_last": cpu.last,
            "cpu_max": cpu.max,
            "mem_last": mem.last,
            "mem_max": mem.max,
        }


class QueueAcc:
    __slots__ = ("first", "first_ts", "last", "last_ts", "max", "samples")

    def __init__(self, ts: float, depth: int) -> None:
        self.samples = 1
        self.first, self.first_ts = depth, ts
        self.last, self.last_ts = depth, ts
        self.max = depth

    def add(self, ts: float, depth: int) -> None:
        self.samples += 1
        if ts < self.first_ts:
            self.first, self.first_ts = depth, ts
        if ts >= self.last_ts:
            self.last, self.last_ts = depth, ts
        if depth > self.max:
            self.max = depth

    def wire(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "depth_first": self.first,
            "depth_last": self.last,
            "depth_max": self.max,
            "last_ts": self.last_ts,
        }


# Bounds that keep one pane far below Kafka's message size limit, whatever producers send: the
# request count stays exact; only these lists are cut, and the pane's ``truncated`` says by
# how much (README, "Sending telemetry").
MAX_VERSIONS = 64  # distinct versions counted per request pane
MAX_TRANSITIONS = 128  # bot status transitions per pane (first and last halves)
MAX_DEPLOYS = 64  # deploy events per pane
MAX_BACKUPS = 64  # backup and restore-test events per pane (together)


def collapse(reports: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Status reports in event-time order, keeping only those that change the status."""
    transitions: list[tuple[float, str]] = []
    for ts, status in sorted(reports, key=lambda report: report[0]):  # stable: ties by arrival
        if not transitions or transitions[-1][1] != status:
            transitions.append((ts, status))
    return transitions


class BotAcc:
    __slots__ = ("cut", "reports")

    def __init__(self) -> None:
        self.reports: list[tuple[float, str]] = []
        self.cut = 0  # transitions MAX_TRANSITIONS left out, known once wire() has run

    def add(self, ts: float, status: str) -> None:
        self.reports.append((ts, status))

    def wire(self) -> dict[str, Any]:
        transitions = collapse(self.reports)
        last = transitions[-1][1]
        if len(transitions) > MAX_TRANSITIONS:  # a flapping bot: the first and the last ones
            half = MAX_TRANSITIONS // 2
            self.cut = len(transitions) - 2 * half
            transitions = transitions[:half] + transitions[-half:]
        return {"transitions": transitions, "last_status": last}


class IntegrityAcc:
    __slots__ = ("checks", "failed_ts", "failures", "last_detail")

    def __init__(self) -> None:
        self.checks = 0
        self.failures = 0
        self.last_detail: str | None = None
        self.failed_ts = float("-inf")

    def add(self, ts: float, ok: bool, detail: str | None) -> None:
        self.checks += 1
        if ok:
            return
        self.failures += 1
        if detail is not None and ts >= self.failed_ts:  # the latest explained failure
            self.last_detail, self.failed_ts = detail, ts

    def wire(self) -> dict[str, Any]:
        return {"checks": self.checks, "failures": self.failures, "last_detail": self.last_detail}


class Pane:
    """One open pane of one scope; each signal's accumulator exists once it has an event."""

    __slots__ = (
        "backups",
        "backups_cut",
        "bot",
        "deploys",
        "deploys_cut",
        "integrity",
        "logs",
        "mapping",
        "queue",
        "requests",
        "resource",
        "restore_tests",
        "revision",
        "scope",
        "start_ms",
    )

    def __init__(self, scope: ScopeKey, start_ms: int, mapping: Mapping = DEFAULT_MAPPING) -> None:
        self.scope = scope
        self.start_ms = start_ms
        self.mapping = mapping
        self.requests: RequestAcc | None = None
        self.logs: LogAcc | None = None
        self.resource: ResourceAcc | None = None
        self.queue: QueueAcc | None = None
        self.bot: BotAcc | None = None
        self.integrity: IntegrityAcc | None = None
        # The rare events' lists exist once one arrives: three empty lists were 168 B of
        # every open pane (~8 MB at 10,000 endpoints; docs/benchmarks.md, "Memory").
        self.deploys: list[tuple[float, str, str]] | None = None
        self.deploys_cut = 0  # deploy events beyond MAX_DEPLOYS
        self.backups: list[tuple[float, Any]] | None = None  # (report time, backup reading)
        self.restore_tests: list[tuple[float, Any]] | None = None  # (report time, test reading)
        self.backups_cut = 0  # backup and restore-test events beyond MAX_BACKUPS
        self.revision: int | None = None  # of its latest publication (None: not published)

    def add(self, kind: str, ts: float, a: Any, b: Any, c: Any) -> None:
        """Add one reading's payload (see streams.aggregate.validate for a, b, c per kind)."""
        if kind == "request":
            self.add_request(a, b, c)
        elif kind == "log":
            self._logs().add(a)
        elif kind == "resource":
            self._resource().add(ts, a, b)
        elif kind == "queue":
            self.add_queue(ts, a)
        elif kind == "bot":
            self._bot().add(ts, a)
        elif kind == "integrity":
            self._integrity().add(ts, a, b)
        elif kind == "backup" or kind == "restore_test":
            self.add_backup(kind, ts, a)
        else:
            self.add_deploy(ts, a, b)

    def add_request(self, status: int, latency_ms: float, version: str | None) -> None:
        # The hot path: the request accumulator and Sketch.add written out in one function,
        # because each Python call costs ~60-80 ns and this runs for most events.
        acc = self.requests
        if acc is None:
            acc = self.requests = RequestAcc(self.mapping)
        acc.count += 1
        if status >= 500:
            acc.errors += 1
        if latency_ms < acc.min_ms:
            acc.min_ms = latency_ms
        if latency_ms > acc.max_ms:
            acc.max_ms = latency_ms
        sketch = acc.sketch
        if latency_ms > sketch.min_value:
            index = ceil(log(latency_ms) * sketch.multiplier)
            bins = sketch.bins
            bins[index] = bins.get(index, 0) + 1
        else:
            sketch.zeros += 1
        if version is not None:
            versions = acc.versions
            seen = versions.get(version)
            if seen is not None:
                versions[version] = seen + 1
            elif len(versions) < MAX_VERSIONS:  # a pane stays small whatever producers send
                versions[version] = 1
            else:
                acc.versions_cut += 1

    def add_deploy(self, ts: float, version: str, status: str) -> None:
        if self.deploys is None:
            self.deploys = []
        if len(self.deploys) < MAX_DEPLOYS:
            self.deploys.append((ts, version, status))
        else:
            self.deploys_cut += 1

    def add_backup(self, kind: str, ts: float, reading: Any) -> None:
        if self.backups is None or self.restore_tests is None:
            self.backups, self.restore_tests = [], []
        if len(self.backups) + len(self.restore_tests) >= MAX_BACKUPS:
            self.backups_cut += 1
        elif kind == "backup":
            self.backups.append((ts, reading))
        else:
            self.restore_tests.append((ts, reading))

    def add_queue(self, ts: float, depth: int) -> None:
        if self.queue is None:
            self.queue = QueueAcc(ts, depth)
        else:
            self.queue.add(ts, depth)

    def _logs(self) -> LogAcc:
        if self.logs is None:
            self.logs = LogAcc()
        return self.logs

    def _resource(self) -> ResourceAcc:
        if self.resource is None:
            self.resource = ResourceAcc()
        return self.resource

    def _bot(self) -> BotAcc:
        if self.bot is None:
            self.bot = BotAcc()
        return self.bot

    def _integrity(self) -> IntegrityAcc:
        if self.integrity is None:
            self.integrity = IntegrityAcc()
        return self.integrity

    def summary(self, pane_ms: int, partition: int | None) -> dict[str, Any]:
        """The ``PaneSummary`` wire form (a dict ``PaneSummary.model_validate`` accepts)."""
        service, dimension, key, drill = self.scope
        base = f"{scope_id(self.scope)}@{self.start_ms}"
        scope = {"service": service, "dimension": dimension, "key": key}
        if drill is not None:  # absent for real traffic: its panes stay as they were
            scope["drill"] = drill
        summary = {
            "v": 1,
            "pane_id": base if partition is None else f"{base}/{partition}",
            "scope": scope,
            "start_ms": self.start_ms,
            "end_ms": self.start_ms + pane_ms,
            "partition": partition,
            "revision": self.revision or 0,
            "requests": _wire(self.requests),
            "logs": _wire(self.logs),
            "resource": _wire(self.resource),
            "queue": _wire(self.queue),
            "bot": _wire(self.bot),
            "integrity": _wire(self.integrity),
            "deploys": [
                {"ts": ts, "version": version, "status": status}
                for ts, version, status in sorted(self.deploys or (), key=lambda d: d[0])
            ],
        }
        if self.backups:  # dataset panes only: the others stay as small as before
            summary["backups"] = [_backup(ts, b) for ts, b in sorted(self.backups, key=_first)]
        if self.restore_tests:
            tests = sorted(self.restore_tests, key=_first)
            summary["restore_tests"] = [_restore_test(ts, t) for ts, t in tests]
        truncated = self.truncated()  # after the bot's wire(): it counts the cut transitions
        if truncated:  # absent when nothing was cut: the usual pane stays as small as before
            summary["truncated"] = truncated
        return summary

    def truncated(self) -> dict[str, int]:
        """What the caps left out of this pane, by list; only the lists that were cut."""
        cuts = {
            "versions": self.requests.versions_cut if self.requests is not None else 0,
            "transitions": self.bot.cut if self.bot is not None else 0,
            "deploys": self.deploys_cut,
            "backups": self.backups_cut,
        }
        return {name: cut for name, cut in cuts.items() if cut}


def _first(item: tuple[float, Any]) -> float:
    return item[0]


def _backup(ts: float, reading: Any) -> dict[str, Any]:
    kind, status, backup_id, taken_at, size_bytes, location = reading
    return {"ts": ts, "backup_id": backup_id, "type": kind, "status": status,
            "taken_at": taken_at, "size_bytes": size_bytes, "location": location}  # fmt: skip


def _restore_test(ts: float, reading: Any) -> dict[str, Any]:
    backup_id, ok, duration_s, environment = reading
    return {"ts": ts, "backup_id": backup_id, "ok": ok, "duration_s": duration_s,
            "environment": environment}  # fmt: skip


def _wire(acc: RequestAcc | LogAcc | ResourceAcc | QueueAcc | BotAcc | IntegrityAcc | None) -> Any:
    return None if acc is None else acc.wire()
