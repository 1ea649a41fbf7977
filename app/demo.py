"""The main job's demo: the stack up, the whole pipeline on, a scenario of the plan through it.

This is what `make demo` runs. Scenarios S1–S4 run as a real DR drill through the pipeline's
own API (docs/drills.md), with the plan's clock compressed (``--compress 10``), receivers
with no URL printing what they would send, and a small fleet control plane on loopback
standing in for the deploy tooling. It ends once every incident of the drill is resolved (or
after ``--duration`` seconds) with the timelines, the rollback phases against the plan, the
drill's report, the reviews (for S2, the backup restored and the data it lost against the
RPO) and a readiness check of the deployed service. The ``healthy`` scenario is plain
traffic, no drill. What it prints: README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from app.api.server import HttpServer
from app.credentials import issue_token
from app.drills.store import PgDrillStore
from app.infra import local_if_needed, prepare
from app.pipeline import Pipeline, Responder, build_pipeline, readiness_service
from app.policy import policy_from_settings
from app.readiness.text import report_text
from app.reviews.control import ReviewMissing
from app.settings import Settings
from app.simulation.fleet import Fleet, fleet_app
from app.simulation.pacing import play
from app.simulation.scenarios import (
    NEW_VERSION,
    Remedies,
    ScenarioName,
    Timeline,
    generate,
    plan_for,
)
from app.topics import declared_topics
from handlers.actions import ACTIONS
from handlers.incidents.notices import duration_text
from handlers.readiness.checklist import Readiness
from handlers.rollback.phases import BUDGET_FIELDS
from schemas.clock import Clock, SystemClock
from schemas.decisions import Decision
from schemas.incidents import IncidentEvent
from schemas.severity import Severity
from schemas.telemetry import DeployEvent, TelemetryEvent, parse_event
from streams.lifecycle import run_roles
from streams.producer import TelemetryProducer

__all__ = ["DEMO_SCHEMA", "DemoResult", "demo_namespace", "drill_settings", "run_demo"]

Progress = Callable[[str], None]

# The plan's durations that a drill compresses (the policy's windows stay as they are).
_RESPONSE_CLOCK = (
    "investigation_s",
    "lead_engineer_after_s",
    "team_lead_after_s",
    "critical_rollback_after_s",
    "final_contact_after_s",
    "chat_update_every_s",
    "status_update_every_s",
    "review_reminder_after_s",
)
# The control calls' URLs: the demo fleet answers them (notifications go where the user says).
_CONTROL = tuple(dict.fromkeys(spec.url for spec in ACTIONS.values() if not spec.notification))
_WIDTH = 180  # a drill's notices start with "[DRILL]"
_QUIET = frozenset({"response", "severity", "budget_s", "budget_min_s"})  # said elsewhere


DEMO_SCHEMA = "alertpipe_demo"  # + "_<run id>": concurrent demos never share tables


def demo_namespace(settings: Settings, run_id: str) -> Settings:
    """``settings`` with topics, consumer groups and a database schema of this run only, so
    the demo never sees (nor disturbs) what an ``alertpipe run`` on the same servers does."""
    prefix = f"demo-{run_id}"
    t = settings.topics
    topics = t.model_copy(
        update={
            name: f"{prefix}.{getattr(t, name)}"
            for name in ("telemetry", "dead_letter", "panes", "decisions", "incidents")
        }
    )
    evaluator = settings.evaluator.model_copy(
        update={"state_topic": f"{prefix}.{settings.evaluator.state_topic}"}
    )
    return settings.model_copy(
        update={
            "topics": topics,
            "evaluator": evaluator,
            "group_prefix": f"alertpipe-{prefix}",
            "database_schema": f"{DEMO_SCHEMA}_{run_id}",
        }
    )


async def _drop_schema(settings: Settings) -> None:
    """This run's tables go with it (the migrations create the schema at start)."""
    conn = await asyncpg.connect(settings.dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE')
    finally:
        await conn.close()


async def _drop_topics(settings: Settings) -> None:
    names = [spec.name for spec in declared_topics(settings)]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([*names, settings.evaluator.state_topic])
    finally:
        await admin.close()


def drill_settings(settings: Settings, fleet_url: str, compress: float) -> Settings:
    """``settings`` as a drill runs them: the plan's clock ÷ ``compress``, control calls to
    the demo fleet, the HTTP API on a free port. Verify still judges ≥ 15 s of live panes
    (chosen when panes arrived ``allowed_lateness`` after their end; they now arrive at their
    end, refined within it)."""
    r, rb = settings.response, settings.rollback
    response = r.model_copy(
        update={name: getattr(r, name) / compress for name in _RESPONSE_CLOCK}
        | {"timers_poll_s": min(r.timers_poll_s, 0.25)}
    )
    rollback = rb.model_copy(
        update={name: getattr(rb, name) / compress for name in BUDGET_FIELDS}
        | {
            "verify_window_s": max(15.0, rb.verify_window_s / compress),
            "verify_every_s": min(rb.verify_every_s, 1.0),
            "poll_s": min(rb.poll_s, 0.2),
        }
    )
    delivery = settings.delivery.model_copy(update={"poll_s": min(settings.delivery.poll_s, 0.2)})
    urls = {f"{name}_url": SecretStr(f"{fleet_url}/{name}") for name in _CONTROL}
    # A drill's control calls go to the fleet too, its pages where production's go (under the
    # drill routing key); its report scales the plan's budgets by the compression.
    routing = settings.drill.pager_routing_key or settings.pager_routing_key
    drill = settings.drill.model_copy(
        update={
            **urls,
            "pager_routing_key": routing or SecretStr("alertpipedemodrill" + "0" * 14),
            "compress": compress,
            "settle_s": min(settings.drill.settle_s, 3.0),
            "poll_s": min(settings.drill.poll_s, 0.5),
        }
    )
    return settings.model_copy(
        update={
            "response": response,
            "rollback": rollback,
            "delivery": delivery,
            "drill": drill,
            "http_port": 0,
            **urls,
        }
    )


@dataclass
class DemoResult:
    decisions: list[Decision] = field(default_factory=list)
    events: list[IncidentEvent] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    fleet_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: int = 0
    readiness: Readiness | None = None
    drill: dict[str, Any] | None = None  # the drill the scenario ran as (None: healthy)
    report: str = ""  # the drill's report, as Markdown
    reviews: dict[str, str] = field(default_factory=dict)  # incident id -> its review (Markdown)


class Feed:
    """Prints the pipeline's output as it happens: decisions that matter, incident events."""

    def __init__(self, settings: Settings, result: DemoResult, progress: Progress) -> None:
        self._topics = settings.topics
        self._result = result
        self._progress = progress
        self._started = time.monotonic()
        self._consumer = AIOKafkaConsumer(
            self._topics.decisions,
            self._topics.incidents,
            self._topics.telemetry,  # for the drill's deploys (the drill runner plays them)
            bootstrap_servers=settings.bootstrap,
            group_id=f"{settings.group_prefix}-demo-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )

    async def start(self) -> None:
        await self._consumer.start()
        while not self._consumer.assignment():
            await self._consumer.getmany(timeout_ms=100)
        for tp in self._consumer.assignment():
            await self._consumer.position(tp)  # pin "latest" now, before traffic starts

    async def run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    self._show(tp.topic, record.value)

    async def stop(self) -> None:
        await self._consumer.stop()

    def say(self, line: str) -> None:
        self._progress(f"{time.monotonic() - self._started:6.1f}s  {line}")

    def receiver(self, line: str) -> None:
        """What a console receiver would send, cut to one screen line."""
        self.say(line if len(line) <= _WIDTH else line[: _WIDTH - 1] + "…")

    def _show(self, topic: str, value: bytes) -> None:
        if topic == self._topics.telemetry:
            if b'"deploy"' in value:  # most telemetry is requests: skip it unparsed
                deploy = parse_event(value)
                if isinstance(deploy, DeployEvent):
                    self.say(f"deploy    {deploy.service} {deploy.version} {deploy.status}")
            return
        if topic == self._topics.decisions:
            decision = Decision.model_validate_json(value)
            self._result.decisions.append(decision)
            if decision.state in ("firing", "resolved") and decision.severity >= Severity.MEDIUM:
                self.say(f"decision  {decision.summary}")
            return
        event = IncidentEvent.model_validate_json(value)
        self._result.events.append(event)
        quiet = {*_QUIET, "backups"}  # a restore's backups: one line each, below
        shown = {k: v for k, v in event.detail.items() if v is not None and k not in quiet}
        detail = " ".join(f"{k}={v}" for k, v in shown.items())
        what = " ".join(str(w) for w in (event.severity.name, event.scenario, event.status) if w)
        title = f" — {event.title}" if event.type == "opened" else ""
        backups = event.detail.get("backups") or ()
        self.say(f"incident  {event.incident_id} {event.type} [{what}] {detail}{title}")
        for backup in backups:
            self.say(f"          {_restoring(backup)}")
        if event.type == "mitigated":
            self.say(
                "          it resolves once every alert of it has cleared: the policy's window "
                "must drop under the threshold, then stay there for keep_firing_for"
            )


def _restoring(backup: dict[str, Any]) -> str:
    """One restored dataset: its backup and the data it loses, against the RPO."""
    rpo, against = backup.get("rpo_s"), ""
    if rpo is not None:
        verdict = "within" if backup.get("within_rpo") else "BEYOND"
        against = f" ({verdict} the RPO of {duration_text(rpo)})"
    loss = duration_text(round(float(backup["loss_window_s"]), 1))
    return (
        f"restoring {backup['dataset']} from backup {backup['backup_id']}: data-loss window "
        f"{loss}{against}"
    )


async def _until_ready(pipeline: Pipeline, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not all(report.get("ready", True) for report in pipeline.health().values()):
        if time.monotonic() > deadline:
            waiting = [n for n, r in pipeline.health().items() if not r.get("ready", True)]
            raise TimeoutError(f"pipeline not ready after {within_s:g} s: {', '.join(waiting)}")
        await asyncio.sleep(0.1)


async def _until_settled(pipeline: Pipeline, deadline: float) -> None:
    """Until an incident opened and every incident of the run is resolved (the demo's schema
    is fresh each run, so every incident in it is this run's)."""
    assert pipeline.responder is not None
    queries = pipeline.responder.queries
    while time.monotonic() < deadline:
        found = await queries.list_incidents()
        if found and all(i["status"] == "resolved" for i in found):
            return
        await asyncio.sleep(0.5)


_CADENCE = ("chat update sent", "status_page monitoring sent", "status_page identified sent")


def _summary(incident: dict[str, Any], progress: Progress) -> None:
    """The incident's timeline (status-update cadence folded into a count) and its phases."""
    opened = incident["opened_at"]
    progress(
        f"\n{incident['id']}  {incident['service']}  {incident['scenario'] or '-'}  "
        f"{incident['severity']}  {incident['status']}  "
        f"{incident['bad_version'] or '?'} → {incident['last_good_version'] or '?'}"
    )
    updates = 0
    for entry in incident["timeline"]:
        if entry["message"] in _CADENCE:
            updates += 1
            continue
        offset = (entry["at"] - opened).total_seconds()
        progress(f"  +{offset:6.1f}s  {entry['kind']:<10} {entry['message']}")
    if updates:
        progress(f"  (and {updates} status updates on the plan's cadence)")
    rollback = incident.get("rollback") or {}
    for phase in rollback.get("phases", []):
        progress(_phase_line(phase))
    for restored in rollback.get("restored", []):
        progress(_restored_line(restored))


def _restored_line(restored: dict[str, Any]) -> str:
    line = "  " + _restoring(restored)
    took, rto = restored.get("restore_duration_s"), restored.get("rto_s")
    if took is not None and rto is not None:
        verdict = "within" if restored.get("within_rto") else "BEYOND"
        line += f"; restored in {took:.1f} s, {verdict} the RTO of {duration_text(rto)}"
    return line


def _phase_line(phase: dict[str, Any]) -> str:
    if phase["status"] == "skipped":
        why = (phase.get("detail") or {}).get("reason", "")
        return f"  phase {phase['phase']:<12} skipped   ({why})"
    duration = phase["duration_s"]
    shown = "—" if duration is None else f"{duration:.1f} s"
    budget = f"plan ≤ {phase['budget_s']:g} s"
    return f"  phase {phase['phase']:<12} {phase['status']:<9} {shown:>7} ({budget})"


async def _fleet(clock: Clock, progress: Progress) -> tuple[Fleet, HttpServer]:
    fleet = Fleet(Remedies(), clock, lambda line: progress(f"{'':8}{line}"))
    server = HttpServer(fleet_app(fleet), "127.0.0.1", 0)
    await server.start()
    return fleet, server


async def run_demo(
    settings: Settings,
    scenario: ScenarioName = "s1",
    timeline: Timeline | None = None,
    progress: Progress = print,
    *,
    compress: float = 10.0,
    max_s: float = 150.0,
    clock: Clock | None = None,
) -> DemoResult:
    """Run the demo end to end; return what the pipeline decided and did."""
    clock = clock or SystemClock()
    started, result = time.monotonic(), DemoResult()
    await local_if_needed(settings, progress)
    settings = demo_namespace(settings, uuid.uuid4().hex[:8])
    await prepare(settings, progress)
    fleet, fleet_http = await _fleet(clock, progress)
    drill = drill_settings(settings, fleet_http.url, compress)
    if timeline is not None:
        pace = {"warmup_s": timeline.warmup_s, "rate": timeline.rate, "max_s": timeline.failure_s}
        drill = drill.model_copy(update={"drill": drill.drill.model_copy(update=pace)})
    feed = Feed(drill, result, progress)
    pipeline = await build_pipeline(drill, clock=clock, write=feed.receiver)
    stop = asyncio.Event()
    running = asyncio.create_task(run_roles(pipeline.roles, stop, signals=False))
    try:
        timeline = timeline or Timeline(warmup_s=30.0, failure_s=max_s, rate=200.0)
        drilling = asyncio.create_task(
            _drill(pipeline, feed, scenario, timeline, fleet.remedies, clock, result, compress)
        )
        await asyncio.wait({drilling, running}, return_when=asyncio.FIRST_COMPLETED)
        if not drilling.done():  # a role failed to start or stopped: its error is the story
            drilling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drilling
            running.result()
            raise RuntimeError("the pipeline stopped before the drill finished")
        drilling.result()
    finally:
        await feed.stop()
        stop.set()
        try:
            await running
        finally:
            await pipeline.close()
        await fleet_http.stop()
        with contextlib.suppress(Exception):  # best effort: they are only this run's
            await _drop_topics(settings)
        with contextlib.suppress(Exception):
            await _drop_schema(settings)
    result.fleet_calls = list(fleet.calls)
    for incident in reversed(result.incidents):
        _summary(incident, progress)
    if not result.incidents:
        progress("\nno incident: nothing breached the policy's thresholds")
    if result.drill is not None:
        progress(f"\n{result.report}")
    for incident_id, review in result.reviews.items():
        progress(f"\n{review}")
        progress(f"(GET /incidents/{incident_id}/review, `alertpipe review {incident_id}`)")
    if result.readiness is not None:
        progress("\nreadiness check (alertpipe readiness check), as of the end of the demo:")
        progress(report_text(result.readiness))
    progress(
        f"\ndemo: {result.sent:,} events, {len(result.decisions)} decisions, "
        f"{len(result.incidents)} incident(s), {len(result.fleet_calls)} control calls, "
        f"{time.monotonic() - started:.0f} s"
    )
    return result


async def _drill(
    pipeline: Pipeline,
    feed: Feed,
    scenario: ScenarioName,
    timeline: Timeline,
    remedies: Remedies,
    clock: Clock,
    result: DemoResult,
    compress: float,
) -> None:
    """Traffic through the running pipeline until every incident resolved or time is up."""
    await _until_ready(pipeline)
    await feed.start()
    assert pipeline.http is not None and pipeline.responder is not None
    token = await _demo_token(pipeline.responder, clock)
    feed.say(
        f"pipeline ready: API and console {pipeline.http.url}/ (metrics {pipeline.http.url}"
        f"/metrics); demo admin token {token} (it ends with the demo)"
    )
    feed.say(
        f"scenario {scenario}: {timeline.warmup_s:g} s healthy, then a deploy; "
        f"plan clock ÷{compress:g}"
    )
    settings = pipeline.settings
    deadline = time.monotonic() + timeline.total_s
    if scenario == "healthy":  # plain traffic: there is no drill of "nothing goes wrong"
        playing = _traffic(settings, scenario, timeline, remedies, clock, result, feed)
    else:
        playing = _as_drill(pipeline, feed, scenario, token, deadline + 60.0, result)
    tasks = [asyncio.create_task(feed.run()), asyncio.create_task(playing)]
    if scenario == "healthy":
        tasks.append(asyncio.create_task(_until_settled(pipeline, deadline)))
    try:
        await asyncio.wait(tasks[1:], return_when=asyncio.FIRST_COMPLETED)
        if tasks[1].done():
            tasks[1].result()  # the drill's start failed: that is the story
        queries = pipeline.responder.queries
        for found in await queries.list_incidents():
            result.incidents.append(await queries.get_incident(found["id"]) or found)
        await _reviews(pipeline.responder, result)
        result.readiness = await _readiness(pipeline, scenario, clock)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _readiness(pipeline: Pipeline, scenario: ScenarioName, clock: Clock) -> Readiness:
    """The readiness check deploy tooling would run before the next deploy of the service the
    scenario deployed (recorded like any check, with "demo" as its actor)."""
    assert pipeline.responder is not None
    service = plan_for(scenario)[0][0]
    policy = policy_from_settings(pipeline.settings)
    gate = readiness_service(pipeline.settings, pipeline.responder.pool, policy, clock)
    return await gate.check(service, NEW_VERSION[service], "demo")


async def _as_drill(
    pipeline: Pipeline,
    feed: Feed,
    scenario: ScenarioName,
    token: str,
    deadline: float,
    result: DemoResult,
) -> None:
    """Start the drill through the pipeline's API, as an operator would, and wait for its end:
    the drill runner announces it, plays the scenario's traffic and stops it once every
    incident of the drill is resolved; its report is the demo's last word."""
    assert pipeline.http is not None and pipeline.responder is not None
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=pipeline.http.url, headers=headers) as api:
        answer = await api.post("/drills", json={"scenario": scenario})
        answer.raise_for_status()
        drill_id = answer.json()["id"]
        feed.say(f"drill     {drill_id} started through POST /drills (`alertpipe drill start`)")
        control = pipeline.responder.drills
        acknowledged: set[str] = set()
        while time.monotonic() < deadline:
            drill = await control.store.get(drill_id)
            if drill["status"] in ("finished", "aborted") and drill["report"] is not None:
                break
            await _on_call(api, control.store, drill_id, acknowledged, feed)
            await asyncio.sleep(0.5)
        else:
            feed.say((await api.post(f"/drills/{drill_id}/abort")).json()["message"])
        result.drill = await control.show(drill_id)
        result.sent = int(result.drill["events_sent"])
        report = await api.get(f"/drills/{drill_id}", params={"format": "markdown"})
        result.report = (
            f"{report.text}(GET /drills/{drill_id}, `alertpipe drill report {drill_id}`)"
        )


async def _on_call(
    api: httpx.AsyncClient,
    store: PgDrillStore,
    drill_id: str,
    acknowledged: set[str],
    feed: Feed,
) -> None:
    """The demo plays the on-call engineer: it acknowledges each page of the drill (without a
    note, so a HIGH incident's investigation rollback still runs), as the drill's team-roles
    criterion asks people to."""
    for incident in await store.incidents(drill_id):
        paged = any(a["kind"] == "page" and a["status"] == "sent" for a in incident["actions"])
        if incident["id"] in acknowledged or not paged or incident["status"] == "resolved":
            continue
        acknowledged.add(incident["id"])
        answer = await api.post(f"/incidents/{incident['id']}/ack", json={})
        if answer.status_code == 200:
            feed.say(f"on-call   demo acknowledged {incident['id']} (POST /incidents/…/ack)")


async def _reviews(responder: Responder, result: DemoResult, within_s: float = 30.0) -> None:
    """Each major incident's review, once the review drafter has drafted it."""
    wanted = [
        i["id"]
        for i in result.incidents
        if i["status"] == "resolved"
        and (i["severity"] in ("HIGH", "CRITICAL") or i.get("rollback") is not None)
    ]
    deadline = time.monotonic() + within_s
    for incident_id in wanted:
        while time.monotonic() < deadline:
            try:
                result.reviews[incident_id] = await responder.reviews.markdown(incident_id)
                break
            except ReviewMissing:
                await asyncio.sleep(0.5)


async def _demo_token(responder: Responder, clock: Clock) -> str:
    """An admin token in this run's own schema: the demo's database goes with the demo."""
    _, token = await issue_token(responder.credentials, "demo", "admin", "demo", clock.now())
    return token


class _Traffic:
    """The producer as ``play`` sees it: counts what is sent and announces each deploy."""

    def __init__(self, producer: TelemetryProducer, result: DemoResult, feed: Feed) -> None:
        self._producer, self._result, self._feed = producer, result, feed

    async def send(self, event: TelemetryEvent) -> None:
        await self._producer.send(event)  # the feed shows its deploys (from the topic)
        self._result.sent += 1

    async def flush(self) -> None:
        await self._producer.flush()


async def _traffic(
    settings: Settings,
    scenario: ScenarioName,
    timeline: Timeline,
    remedies: Remedies,
    clock: Clock,
    result: DemoResult,
    feed: Feed,
) -> None:
    async with TelemetryProducer(settings.bootstrap, settings.topics.telemetry) as producer:
        events = generate(scenario, clock.now(), timeline, remedies)
        await play(events, _Traffic(producer, result, feed), clock, rebase=False)
    feed.say(f"traffic: all {result.sent:,} events of the scenario sent")
