"""The API on a fresh database, built by the composition root (the ``api`` role without the
HTTP server) and driven in-process over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.pipeline import Responder, build_pipeline
from app.settings import Settings
from handlers.incidents.manager import IncidentManager


@dataclass
class Api:
    client: httpx.AsyncClient
    responder: Responder

    @property
    def manager(self) -> IncidentManager:
        r = self.responder
        return IncidentManager(r.incidents, None, r.settings.response, r.clock)  # type: ignore[arg-type]


@pytest.fixture
async def api(database: str) -> AsyncIterator[Api]:
    pipeline = await build_pipeline(Settings(database_url=database), ("api",), http=False)
    assert pipeline.responder is not None and pipeline.asgi is not None
    transport = httpx.ASGITransport(app=pipeline.asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Api(client, pipeline.responder)
    await pipeline.close()
