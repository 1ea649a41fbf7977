"""The API on a fresh database: ``create_app(responder.api_deps())`` over httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from app.api import create_app
from app.respond import Responder, build_responder
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
    responder = await build_responder(Settings(database_url=database), roles=())
    transport = httpx.ASGITransport(app=create_app(responder.api_deps()))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Api(client, responder)
    await responder.close()
