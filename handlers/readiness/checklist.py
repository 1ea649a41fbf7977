"""The plan's readiness checklist, judged on evidence — pure: ``judge(evidence, cfg)``.

The plan's eight items, in its order, then its four pre-deployment baselines, each ``pass``,
``fail`` or ``unknown`` (not on record: no drill of the service has run yet — never a pass),
with its evidence and, unless it passes, what would make it pass. What passes each item:
docs/readiness.md; why the gate reads live panes: design.md record 44.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from handlers.incidents.notices import duration_text
from handlers.readiness.baselines import Measured
from schemas.timestamps import to_rfc3339

__all__ = [
    "BASELINES",
    "CHECKLIST",
    "Attestation",
    "DatasetBackups",
    "Deploy",
    "DrillRun",
    "Evidence",
    "GateConfig",
    "ItemResult",
    "ItemStatus",
    "Readiness",
    "judge",
]

ItemStatus = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class GateConfig:
    """The gate's numbers: the baselines are the policy's ``readiness``, the rest settings."""

    error_rate: float = 0.01
    p95_ms: float = 1000.0
    cpu_pct: float = 50.0
    mem_pct: float = 60.0
    window_s: float = 600.0
    min_requests: int = 100
    drill_within_s: float = 30 * 86_400.0
    monitoring_within_s: float = 300.0
    restore_test_within_s: float = 7 * 86_400.0


@dataclass(frozen=True)
class DrillRun:
    """A DR drill that ended (``app.drills``): whether its report passed."""

    drill_id: str
    service: str | None
    ended_at: float
    passed: bool = True
    scenario: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "drill_id": self.drill_id,
            "scenario": self.scenario,
            "ended_at": to_rfc3339(self.ended_at),
            "result": "passed" if self.passed else "failed",
        }


@dataclass(frozen=True)
class Deploy:
    version: str
    status: str
    at: float


@dataclass(frozen=True)
class DatasetBackups:
    """One dataset of the service: its newest full backup and its last passed restore test."""

    dataset: str
    full_backup_id: str | None = None
    full_taken_at: float | None = None
    tested_backup_id: str | None = None
    tested_at: float | None = None


@dataclass(frozen=True)
class Attestation:
    actor: str
    at: float
    expires_at: float
    note: str = ""


@dataclass(frozen=True)
class Evidence:
    """What the gate found about a service, gathered by ``app.readiness``."""

    service: str
    version: str | None
    now: float
    measured: Measured
    drills_recorded: bool = False  # False: no drill store here (every drill item unknown)
    service_drill: DrillRun | None = None  # the latest passed drill of the service
    any_drill: DrillRun | None = None  # the latest passed drill of any service
    service_last: DrillRun | None = None  # the latest drill of the service, whatever its result
    any_last: DrillRun | None = None
    last_deploy: Deploy | None = None
    stable: Deploy | None = None
    datasets: tuple[DatasetBackups, ...] = ()
    rules: tuple[str, ...] = ()
    attestation: Attestation | None = None
    receivers: Mapping[str, bool] = field(default_factory=dict)  # pager, chat, statuspage
    chat_channel: str = "default"  # the chat channel the policy's routes give the service


@dataclass(frozen=True)
class ItemResult:
    item: str
    title: str
    status: ItemStatus
    detail: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    fix: str | None = None  # what would make it pass (None: it passes)

    def to_json(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "evidence": dict(self.evidence),
            "fix": self.fix,
        }


@dataclass(frozen=True)
class Readiness:
    service: str
    version: str | None
    at: float
    checklist: tuple[ItemResult, ...]
    baselines: tuple[ItemResult, ...]

    @property
    def ready(self) -> bool:
        return all(r.status == "pass" for r in (*self.checklist, *self.baselines))

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in (*self.checklist, *self.baselines) if r.status != "pass"]

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "version": self.version,
            "at": to_rfc3339(self.at),
            "ready": self.ready,
            "checklist": [r.to_json() for r in self.checklist],
            "baselines": [r.to_json() for r in self.baselines],
            "failed": [r.item for r in self.failed],
        }


Result = tuple[ItemStatus, str, dict[str, Any], str | None]  # status, detail, evidence, fix
Judge = Callable[[Evidence, GateConfig], Result]


def _ago(now: float, at: float) -> str:
    return f"{to_rfc3339(at)} ({duration_text(round(max(0.0, now - at)))} ago)"


def _drill(
    drill: DrillRun | None,
    last: DrillRun | None,
    e: Evidence,
    cfg: GateConfig,
    what: str,
    fix: str,
) -> Result:
    """Passed within the window: pass. No drill on record at all: unknown (nothing says
    whether the procedure works). Otherwise fail, naming the latest drill and its result."""
    within = duration_text(cfg.drill_within_s)
    if not e.drills_recorded:
        why = "drills are not recorded here: whether one passed is not known"
        return "unknown", why, {}, fix
    if drill is not None and e.now - drill.ended_at <= cfg.drill_within_s:
        detail = f"drill {drill.drill_id} passed {_ago(e.now, drill.ended_at)}"
        return "pass", detail, drill.to_json(), None
    latest = last if last is not None else drill
    if latest is None:
        return "unknown", f"no {what} on record", {}, fix
    result = "passed" if latest.passed else "failed"
    detail = (
        f"no {what} passed in the last {within}; the latest, {latest.drill_id}, "
        f"{result} {_ago(e.now, latest.ended_at)}"
    )
    return "fail", detail, latest.to_json(), fix


def _rollback_tested(e: Evidence, cfg: GateConfig) -> Result:
    fix = (
        f"run a DR drill of {e.service} and pass it: "
        f"alertpipe drill start --scenario s1 --service {e.service}"
    )
    return _drill(e.service_drill, e.service_last, e, cfg, f"drill of {e.service}", fix)


def _dr_drill(e: Evidence, cfg: GateConfig) -> Result:
    fix = "run the monthly DR drill and pass it: alertpipe drill start --scenario s1"
    return _drill(e.any_drill, e.any_last, e, cfg, "DR drill", fix)


def _backup_tested(e: Evidence, cfg: GateConfig) -> Result:
    since = e.last_deploy.at if e.last_deploy is not None else None
    if not e.datasets:
        fix = f"back {e.service}'s data up and report it (`backup` telemetry, docs/telemetry.md)"
        return "fail", f"no backup of {e.service} on record", {}, fix
    within = duration_text(cfg.restore_test_within_s)
    after = f" since the last deploy ({to_rfc3339(since)})" if since is not None else ""
    missing, fixes, found = [], [], {}
    for d in e.datasets:
        found[d.dataset] = {
            "full_backup_id": d.full_backup_id,
            "full_taken_at": None if d.full_taken_at is None else to_rfc3339(d.full_taken_at),
            "tested_backup_id": d.tested_backup_id,
            "tested_at": None if d.tested_at is None else to_rfc3339(d.tested_at),
        }
        if d.full_taken_at is None or (since is not None and d.full_taken_at < since):
            missing.append(f"no full backup of {d.dataset}{after}")
            fixes.append(f"take a full backup of {d.dataset}")
        if d.tested_at is None or e.now - d.tested_at > cfg.restore_test_within_s:
            missing.append(f"no passed restore test of {d.dataset} in {within}")
            fixes.append(f"restore a backup of {d.dataset} in a test environment and pass it")
    if missing:
        return "fail", "; ".join(missing), found, "; ".join(fixes)
    names = ", ".join(d.dataset for d in e.datasets)
    detail = f"a full backup{after or ''} and a passed restore test of {names}"
    return "pass", detail, found, None


def _last_stable_version(e: Evidence, cfg: GateConfig) -> Result:
    if e.stable is None:
        fix = (
            f"deploy tooling reports each deploy of {e.service} (`deploy` telemetry): a version "
            "that deployed successfully and never failed is the rollback target"
        )
        return "fail", "no earlier version deployed successfully on record", {}, fix
    found = {"version": e.stable.version, "deployed_at": to_rfc3339(e.stable.at)}
    return "pass", f"{e.stable.version}, deployed {to_rfc3339(e.stable.at)}", found, None


def _monitoring(e: Evidence, cfg: GateConfig) -> Result:
    newest = e.measured.newest_pane_end_ms
    within = duration_text(cfg.monitoring_within_s)
    if newest is None or e.now - newest / 1000 > cfg.monitoring_within_s:
        fix = f"send {e.service}'s telemetry (docs/telemetry.md); its dashboards fill from it"
        return "fail", f"no telemetry from {e.service} in the last {within}", {}, fix
    found = {"newest_pane_end": to_rfc3339(newest / 1000), "scopes": list(e.measured.scopes)}
    detail = f"{len(e.measured.scopes)} scope(s) reporting, latest {_ago(e.now, newest / 1000)}"
    return "pass", detail, found, None


def _alert_thresholds(e: Evidence, cfg: GateConfig) -> Result:
    if not e.rules:
        fix = f"add rules for {e.service} to the policy (or widen a rule's service match)"
        return "fail", f"no rule of the policy watches {e.service}", {}, fix
    return "pass", f"{len(e.rules)} rules watch {e.service}", {"rules": list(e.rules)}, None


def _team_trained(e: Evidence, cfg: GateConfig) -> Result:
    fix = (
        f"an operator attests it: POST /v1/readiness/{e.service}/attestations "
        '{"item": "team_trained", "note": "…"}'
    )
    a = e.attestation
    if a is None:
        return "fail", "no attestation on record", {}, fix
    found = {"by": a.actor, "at": to_rfc3339(a.at), "expires_at": to_rfc3339(a.expires_at)}
    if a.expires_at <= e.now:
        return "fail", f"attested by {a.actor}, expired {to_rfc3339(a.expires_at)}", found, fix
    detail = f"attested by {a.actor} {_ago(e.now, a.at)}, until {to_rfc3339(a.expires_at)}"
    return "pass", detail, {**found, "note": a.note}, None


_CHANNELS = {"pager": "ALERTPIPE_PAGER_URL", "chat": "ALERTPIPE_CHAT_URL",
             "statuspage": "ALERTPIPE_STATUSPAGE_URL"}  # fmt: skip


def _communication_plan(e: Evidence, cfg: GateConfig) -> Result:
    missing = [name for name in _CHANNELS if not e.receivers.get(name)]
    found = {name: bool(e.receivers.get(name)) for name in _CHANNELS}
    if missing:
        team_chat = f'ALERTPIPE_CHAT_URLS["{e.chat_channel}"] (its route\'s channel)'
        settings = ", ".join(
            team_chat if name == "chat" and e.chat_channel != "default" else _CHANNELS[name]
            for name in missing
        )
        detail = f"{', '.join(missing)} not configured: only the console would hear of it"
        return "fail", detail, found, f"set {settings}"
    return "pass", "pager, chat and status page receivers configured", found, None


CHECKLIST: Mapping[str, tuple[str, Judge]] = {
    "rollback_tested": ("Rollback procedure documented and tested", _rollback_tested),
    "backup_tested": ("Database backup created and tested", _backup_tested),
    "last_stable_version": ("Last stable version identified", _last_stable_version),
    "monitoring": ("Monitoring dashboards configured", _monitoring),
    "alert_thresholds": ("Alert thresholds set", _alert_thresholds),
    "team_trained": ("Team trained on runbook", _team_trained),
    "communication_plan": ("Communication plan ready", _communication_plan),
    "dr_drill": ("DR drill completed successfully", _dr_drill),
}


def _window(e: Evidence, cfg: GateConfig) -> dict[str, Any]:
    m = e.measured
    return {
        "window_start": to_rfc3339(m.start_ms / 1000),
        "window_end": to_rfc3339(m.end_ms / 1000),
        "window_s": cfg.window_s,
    }


def _over(cfg: GateConfig) -> str:
    return f"over the last {duration_text(cfg.window_s)}"


@dataclass(frozen=True)
class _Reading:
    """One baseline's live value (None: not enough data to say), and how to show it."""

    name: str
    value: float | None
    limit: float
    shown: Callable[[float], str]
    extra: Mapping[str, Any]
    no_data: tuple[str, str]  # what is missing, and how to get it


def _judged(r: _Reading, e: Evidence, cfg: GateConfig) -> Result:
    found = {"metric": r.name, "value": r.value, "threshold": r.limit, **_window(e, cfg)}
    found |= r.extra
    if r.value is None:
        return "fail", r.no_data[0], found, r.no_data[1]
    detail = f"{r.name} {r.shown(r.value)} {_over(cfg)} (baseline < {r.shown(r.limit)})"
    if r.value >= r.limit:
        return "fail", detail, found, f"bring {r.name} below {r.shown(r.limit)} before deploying"
    return "pass", detail, found, None


def _per_request(
    name: str, value: float | None, limit: float, shown: Callable[[float], str], e: Evidence,
    cfg: GateConfig,
) -> Result:  # fmt: skip
    m = e.measured
    missing = (
        f"too few requests to judge: {m.requests} {_over(cfg)}, {cfg.min_requests} needed",
        f"let {e.service} serve at least {cfg.min_requests} requests in "
        f"{duration_text(cfg.window_s)}",
    )
    enough = value if m.requests >= cfg.min_requests else None  # too few: never a pass
    reading = _Reading(name, enough, limit, shown, {"requests": m.requests}, missing)
    return _judged(reading, e, cfg)


def _error_rate(e: Evidence, cfg: GateConfig) -> Result:
    def shown(v: float) -> str:
        return f"{v * 100:.2f}%"

    return _per_request("error_rate", e.measured.error_rate, cfg.error_rate, shown, e, cfg)


def _p95(e: Evidence, cfg: GateConfig) -> Result:
    def shown(v: float) -> str:
        return f"{v:.0f} ms"

    return _per_request("p95_ms", e.measured.p95_ms, cfg.p95_ms, shown, e, cfg)


def _percent(value: float) -> str:
    return f"{value:.1f}%"


def _load(name: str, limit: float) -> Judge:
    """CPU or memory: the worst host's mean over the window."""

    def judge_load(e: Evidence, cfg: GateConfig) -> Result:
        worst = e.measured.worst(name)
        value = None if worst is None else getattr(worst, name)
        extra = {"host": worst.host, "samples": worst.samples} if worst is not None else {}
        missing = (
            f"no {name} readings from {e.service}'s hosts {_over(cfg)}",
            f"report {e.service}'s hosts' resources (`resource` telemetry)",
        )
        return _judged(_Reading(name, value, limit, _percent, extra, missing), e, cfg)

    return judge_load


def _baselines(cfg: GateConfig) -> Mapping[str, tuple[str, Judge]]:
    """The plan's "Pre-Deployment" baselines, with the policy's numbers in their titles."""
    return {
        "error_rate": (f"Error rate baseline: < {cfg.error_rate * 100:g}%", _error_rate),
        "p95_ms": (f"Latency baseline: < {cfg.p95_ms:g} ms p95", _p95),
        "cpu_pct": (
            f"CPU usage baseline: < {cfg.cpu_pct:g}%",
            _load("cpu_pct", cfg.cpu_pct),
        ),
        "mem_pct": (
            f"Memory usage baseline: < {cfg.mem_pct:g}%",
            _load("mem_pct", cfg.mem_pct),
        ),
    }


BASELINES: tuple[str, ...] = ("error_rate", "p95_ms", "cpu_pct", "mem_pct")


def _run(
    table: Mapping[str, tuple[str, Judge]], e: Evidence, cfg: GateConfig
) -> tuple[ItemResult, ...]:
    results = []
    for item, (title, judge_item) in table.items():
        status, detail, evidence, fix = judge_item(e, cfg)
        results.append(ItemResult(item, title, status, detail, evidence, fix))
    return tuple(results)


def judge(evidence: Evidence, cfg: GateConfig) -> Readiness:
    """Every item of the checklist and every baseline, judged on ``evidence``."""
    return Readiness(
        service=evidence.service,
        version=evidence.version,
        at=evidence.now,
        checklist=_run(CHECKLIST, evidence, cfg),
        baselines=_run(_baselines(cfg), evidence, cfg),
    )


def _check_baselines() -> None:
    """At import: the baselines' table names exactly ``BASELINES``, in order."""
    names = tuple(_baselines(GateConfig()))
    if names != BASELINES:
        raise TypeError(f"baselines {names}, expected {BASELINES}")


_check_baselines()
