"""The responder on real servers for integration tests: PostgreSQL, Kafka, a loopback recorder.

Built by the composition root (``app.pipeline.build_pipeline``: the responder and API roles,
the API driven in-process instead of through the HTTP server), so the wiring under test is
production's. Every duration is shortened through
``Settings`` (never by patching code); topics, consumer groups and the database are unique to
the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from app.pipeline import RESPONDER_PARTS, Pipeline, Responder, build_pipeline
from app.settings import Settings
from schemas.decisions import Decision
from schemas.panes import PaneSummary
from streams.lifecycle import Role
from streams.supervise import DependencyWatch, Supervised
from tests.support.contracts import COMPONENTS, ROUTING_KEY, STATUSPAGE_KEY
from tests.support.decisions import healthy_pane
from tests.support.recorder import Recorder
from tests.support.waiting import eventually

__all__ = ["FAST", "Stack", "fast_settings"]

RECEIVERS = (
    "pager",
    "chat",
    "statuspage",
    "breaker",
    "rollback",
    "restore",
    "bot_restart",
    "pager_fallback",
)

FAST: dict[str, dict[str, Any]] = {
    "response": {
        "investigation_s": 1.5,
        "timers_poll_s": 0.1,
        "chat_update_every_s": 3600,
        "status_update_every_s": 3600,
    },
    "rollback": {
        "poll_s": 0.05,
        "verify_every_s": 0.2,
        "verify_window_s": 2.0,
        "verify_min_requests": 5,
        "verify_min_s": 1.0,
        "verify_budget_s": 15,
        "lease_s": 2.0,
    },
    "delivery": {
        "poll_s": 0.05,
        "timeout_s": 1.0,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5,
        "lease_s": 3.0,
    },
}


def fast_settings(
    dsn: str, bootstrap: str, topics: dict[str, str], recorder: Recorder | None, **groups: Any
) -> Settings:
    urls = {f"{name}_url": recorder.url(f"/{name}") for name in RECEIVERS} if recorder else {}
    merged = {k: {**v, **groups.pop(k, {})} for k, v in FAST.items()}
    # The evaluator's state topic (the budget recorder reads it): the test's own, not shared.
    names = {k: v for k, v in topics.items() if k != "state"}
    state = topics.get("state") or f"{topics['panes']}.state"
    groups["evaluator"] = {"state_topic": state, **groups.get("evaluator", {})}
    # The receivers' secrets and ids, as the contracts of tests.support.contracts expect them.
    receivers: dict[str, Any] = {
        "pager_routing_key": ROUTING_KEY,
        "statuspage_api_key": STATUSPAGE_KEY,
        "statuspage_components": COMPONENTS,
    }
    return Settings(
        database_url=dsn,
        kafka_bootstrap=bootstrap,
        group_prefix=f"test-{uuid.uuid4().hex[:8]}",
        topics=names,
        webhook_secret="test-secret",
        **urls,
        **merged,
        **{**receivers, **groups},
    )


@dataclass
class Stack:
    settings: Settings
    recorder: Recorder | None
    pipeline: Pipeline | None = None
    responder: Responder | None = None
    producer: AIOKafkaProducer | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    running: list[Role] = field(default_factory=list)  # the parts as ``alertpipe run`` runs them
    printed: list[str] = field(default_factory=list)

    async def start(self, roles: tuple[str, ...] | None = None) -> None:
        """``roles``: the responder's parts to run (default: every one, ``RESPONDER_PARTS``),
        each under its supervisor with the watches of the servers they need, as
        ``alertpipe run`` runs them (``role`` hands a part out unwrapped)."""
        self.pipeline = await build_pipeline(
            self.settings,
            ("responder", "api"),
            write=self.printed.append,
            http=False,
            parts=RESPONDER_PARTS if roles is None else roles,
        )
        self.responder = self.pipeline.responder
        assert self.responder is not None
        parts = {id(part) for part in self.responder.roles}
        self.running = [
            r
            for r in self.pipeline.roles
            if isinstance(r, DependencyWatch) or (isinstance(r, Supervised) and id(r.role) in parts)
        ]
        for role in self.running:
            await role.start()
        self.tasks = [asyncio.create_task(r.run(), name=r.name) for r in self.running]
        self.producer = AIOKafkaProducer(bootstrap_servers=self.settings.bootstrap, acks="all")
        await self.producer.start()

    def role(self, name: str) -> Role:
        assert self.responder is not None
        return next(r for r in self.responder.roles if r.name == name)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.responder is not None:
            for role in reversed(self.running):
                with contextlib.suppress(Exception):
                    await role.stop()
        for task in self.tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.producer is not None:
            await self.producer.stop()
        if self.pipeline is not None:
            await self.pipeline.close()
        # Stopped for good: a test that stops a stack early ("the responder went down") leaves
        # nothing for the fixture's own stop to do twice.
        self.tasks, self.producer, self.responder, self.pipeline = [], None, None, None
        self.running = []

    async def send(self, *decisions: Decision) -> None:
        assert self.producer is not None
        for d in decisions:
            await self.producer.send_and_wait(
                self.settings.topics.decisions, d.model_dump_json().encode(), key=d.service.encode()
            )

    async def send_panes(self, *panes: PaneSummary) -> None:
        """Panes on the panes topic, keyed by scope as stage 1 publishes them."""
        assert self.producer is not None
        for pane in panes:
            await self.producer.send_and_wait(
                self.settings.topics.panes,
                pane.model_dump_json().encode(),
                key=pane.scope.id.encode(),
            )

    async def feed_healthy(self, service: str, seconds: float = 30.0) -> None:
        """Closed healthy panes of ``service``, one every 0.2 s of wall time (live traffic)."""
        assert self.producer is not None
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            start_ms = int(time.time() * 1000) - 1000
            pane = healthy_pane(service, start_ms)
            await self.producer.send_and_wait(
                self.settings.topics.panes,
                pane.model_dump_json().encode(),
                key=pane.scope.id.encode(),
            )
            await asyncio.sleep(0.2)

    def background(self, coro: Awaitable[None]) -> None:
        self.tasks.append(asyncio.ensure_future(coro))

    async def incidents(self, service: str | None = None) -> list[dict[str, Any]]:
        assert self.responder is not None
        return await self.responder.queries.list_incidents(service=service)

    async def incident(self, incident_id: str) -> dict[str, Any]:
        assert self.responder is not None
        found = await self.responder.queries.get_incident(incident_id)
        assert found is not None
        return found

    async def wait_incident(
        self,
        service: str,
        done: Callable[[dict[str, Any]], bool],
        within_s: float = 20.0,
        what: str = "",
        incident_id: str | None = None,
    ) -> dict[str, Any]:
        """Wait until the service's newest incident (or ``incident_id``) satisfies ``done``."""

        async def probe() -> dict[str, Any] | None:
            if incident_id is not None:
                return await self.incident(incident_id)
            found = await self.incidents(service)
            return await self.incident(found[0]["id"]) if found else None

        result = await eventually(
            probe, lambda i: i is not None and done(i), within_s, what or "incident state"
        )
        assert result is not None
        return result
