"""The API on a fresh database, built by the composition root (the ``api`` role without the
HTTP server) and driven in-process over httpx's ASGI transport.

``api.client`` is signed in with an operator token named ``ana`` (the actor the timeline
records); ``api.as_(role)`` gives a client with a token of another role, ``api.anonymous`` one
with no credential at all. The ``api`` fixture also runs the role's dashboard reader (on fresh
topics), so the process is whole: ``/health`` reports it ready."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from app.credentials import issue_token
from app.pipeline import Responder, build_pipeline
from app.settings import AuthSettings, Settings
from handlers.incidents.manager import IncidentManager
from schemas.clock import Clock

BOOTSTRAP = "bootstrap-admin-token-for-the-tests"
NAMES = {"viewer": "vic", "operator": "ana", "admin": "root"}


@dataclass
class Api:
    client: httpx.AsyncClient
    anonymous: httpx.AsyncClient
    responder: Responder
    asgi: FastAPI
    tokens: dict[str, str]
    clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    @property
    def manager(self) -> IncidentManager:
        r = self.responder
        return IncidentManager(r.incidents, None, r.settings.response, r.clock)  # type: ignore[arg-type]

    def as_(self, role: str) -> httpx.AsyncClient:
        return self.clients[role]


def client_for(asgi: FastAPI, token: str | None = None, **kw: object) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=asgi, **kw)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)


async def start_api(
    database: str,
    auth: AuthSettings | None = None,
    clock: Clock | None = None,
    topics: dict[str, str] | None = None,
) -> AsyncIterator[Api]:
    """With ``topics`` (panes, decisions), the dashboard's reader runs on them too."""
    auth = auth or AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP))
    settings = Settings(database_url=database, auth=auth, topics=topics or {})
    pipeline = await build_pipeline(settings, ("api",), http=False, clock=clock)
    assert pipeline.responder is not None and pipeline.asgi is not None
    feed = pipeline.dashboard if topics else None
    if feed is not None:
        await feed.start()
        reading = asyncio.create_task(feed.run())
    writer = pipeline.role("ingest-producer")  # the role's ingest, ready like its other parts
    await writer.start()
    r = pipeline.responder
    tokens = {}
    for role, name in NAMES.items():
        _, tokens[role] = await issue_token(r.credentials, name, role, "tests", r.clock.now())
    async with AsyncExitStack() as stack:
        clients = {
            role: await stack.enter_async_context(client_for(pipeline.asgi, token))
            for role, token in tokens.items()
        }
        anonymous = await stack.enter_async_context(client_for(pipeline.asgi))
        yield Api(clients["operator"], anonymous, r, pipeline.asgi, tokens, clients)
    if feed is not None:
        await feed.stop()
        await reading
    await writer.stop()
    await pipeline.close()


@pytest.fixture
async def api(database: str, make_topic: Callable[..., Awaitable[str]]) -> AsyncIterator[Api]:
    topics = {"panes": await make_topic("panes"), "decisions": await make_topic("decisions")}
    async for started in start_api(database, topics=topics):
        yield started
