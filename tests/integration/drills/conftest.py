"""The whole pipeline (every role, in-process) against real Kafka and PostgreSQL, for drills.

Receivers are one loopback recorder: production's at ``/prod/<name>``, the drill's control
URLs at ``/staging/<name>``, so a test sees exactly where each call went. The plan's clock
is compressed 10× as the demo does; the policy has 20 s windows (``fast_policy``)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.credentials import issue_token
from app.demo import demo_namespace, drill_settings
from app.drills.runner import DrillRunner
from app.infra import prepare
from app.pipeline import Pipeline, build_pipeline
from app.settings import DRILL_URLS, Settings
from streams.lifecycle import run_roles
from tests.support.policy import fast_policy
from tests.support.recorder import Recorder
from tests.support.waiting import eventually

COMPRESS = 10.0
DRILL_KEY = "d" * 32  # PagerDuty routing keys are 32 characters
NOTIFICATIONS = ("pager", "chat", "statuspage")


@dataclass
class Running:
    pipeline: Pipeline
    api: httpx.AsyncClient
    recorder: Recorder
    settings: Settings

    @property
    def runner(self) -> DrillRunner:
        role = self.pipeline.role("drill-runner")
        assert isinstance(role, DrillRunner)
        return role

    async def drill(self, drill_id: str) -> dict[str, object]:
        answer = await self.api.get(f"/drills/{drill_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, object] = answer.json()
        return found


def _settings(database: str, bootstrap: str, recorder: Recorder, policy: Path) -> Settings:
    base = Settings(database_url=database, kafka_bootstrap=bootstrap, policy=policy)
    base = demo_namespace(base, uuid.uuid4().hex[:8])
    compressed = drill_settings(base, recorder.url("/prod"), COMPRESS)
    drill = compressed.drill.model_copy(
        update={
            **{name: SecretStr(recorder.url(f"/staging/{name[:-4]}")) for name in DRILL_URLS},
            "pager_routing_key": SecretStr(DRILL_KEY),
            "compress": COMPRESS,
            "warmup_s": 15.0,
            "max_s": 150.0,
            "settle_s": 2.0,
            "poll_s": 0.3,
            "rate": 80.0,  # the machine is shared: light traffic keeps the drill in step
        }
    )
    notify = {f"{name}_url": SecretStr(recorder.url(f"/prod/{name}")) for name in NOTIFICATIONS}
    return compressed.model_copy(
        update={
            "drill": drill,
            "pager_routing_key": SecretStr("p" * 32),
            "statuspage_api_key": SecretStr("statuspage-key"),
            **notify,
        }
    )


@pytest.fixture
async def running(database: str, bootstrap: str, tmp_path: Path) -> AsyncIterator[Running]:
    async with Recorder() as recorder:
        settings = _settings(database, bootstrap, recorder, fast_policy(tmp_path / "p.yaml"))
        await prepare(settings, lambda _: None)
        pipeline = await build_pipeline(settings, http=False, write=lambda _: None)
        stop = asyncio.Event()
        task = asyncio.create_task(run_roles(pipeline.roles, stop, signals=False))
        await eventually(
            lambda: asyncio.sleep(0, all(r.get("ready", True) for r in pipeline.health().values())),
            within_s=60,
            what="every role ready",
        )
        r = pipeline.responder
        assert r is not None and pipeline.asgi is not None
        _, token = await issue_token(r.credentials, "olga", "operator", "tests", r.clock.now())
        transport = httpx.ASGITransport(app=pipeline.asgi)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as api:
            try:
                yield Running(pipeline, api, recorder, settings)
            finally:
                stop.set()
                with contextlib.suppress(Exception):
                    await task
                await pipeline.close()
