"""The api role with its ingest producer on real Kafka and PostgreSQL, driven in-process over
httpx's ASGI transport (the HTTP server left out): ``IngestApi.client`` carries an ``ingest``
token named ``collector``, ``IngestApi.as_(role)`` a token of another role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from app.credentials import issue_token
from app.pipeline import Pipeline, build_pipeline
from app.settings import Settings
from streams.ingest.writer import KafkaWriter

__all__ = ["IngestApi", "ingest_api"]

NAMES = {"ingest": "collector", "operator": "ana", "admin": "root"}


@dataclass
class IngestApi:
    pipeline: Pipeline
    clients: dict[str, httpx.AsyncClient]
    anonymous: httpx.AsyncClient

    @property
    def client(self) -> httpx.AsyncClient:
        return self.clients["ingest"]

    def as_(self, role: str) -> httpx.AsyncClient:
        return self.clients[role]

    @property
    def writer(self) -> KafkaWriter:
        writer = self.pipeline.role("ingest-producer")
        assert isinstance(writer, KafkaWriter)
        return writer


def _client(pipeline: Pipeline, token: str | None) -> httpx.AsyncClient:
    assert pipeline.asgi is not None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=pipeline.asgi)
    return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)


@asynccontextmanager
async def ingest_api(
    database: str, bootstrap: str, topics: dict[str, str], **settings: Any
) -> AsyncIterator[IngestApi]:
    built = Settings(database_url=database, kafka_bootstrap=bootstrap, topics=topics, **settings)
    pipeline = await build_pipeline(built, ("api",), http=False)
    assert pipeline.responder is not None
    r = pipeline.responder
    writer = pipeline.role("ingest-producer")
    await writer.start()
    try:
        async with AsyncExitStack() as stack:
            clients = {}
            for role, name in NAMES.items():
                _, token = await issue_token(r.credentials, name, role, "tests", r.clock.now())
                clients[role] = await stack.enter_async_context(_client(pipeline, token))
            anonymous = await stack.enter_async_context(_client(pipeline, None))
            yield IngestApi(pipeline, clients, anonymous)
    finally:
        await writer.stop()
        await pipeline.close()
