"""No input makes a 5xx: schemathesis against the API's own OpenAPI document, every route.

The API runs as it does in production — the ``api`` role built by the composition root, served
by uvicorn on a loopback port, on a fresh migrated PostgreSQL database — in a thread of its
own, and schemathesis calls it over HTTP with the admin (bootstrap) token, so every route is
reachable (the ingest routes with an ``ingest`` token, the one role that may write there) (the dashboard's live stream with invalid input only: a valid request never ends). For each operation it generates a bounded number of cases, valid and invalid
(``max_examples`` below: a few hundred in all), and checks each answer: no server error, a
status the operation documents, its documented content type, and a body its documented schema
accepts (every 4xx is the one error body).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api.ingest import INGEST_PATHS
from app.pipeline import build_pipeline
from app.settings import AuthSettings, Settings

ADMIN = "bootstrap-admin-token-for-the-fuzzer-run"
EXAMPLES = 8  # per operation and mode: ~30 operations x 2 modes, about 480 cases in all
ENDLESS = {"/api/stream"}  # the dashboard's live feed (server-sent events): invalid input only
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class ServedApi:
    url: str = ""
    headers: dict[str, str] = field(default_factory=lambda: {"Authorization": f"Bearer {ADMIN}"})
    ready: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    loop: asyncio.AbstractEventLoop | None = None
    stop: asyncio.Event | None = None


async def _serve(settings: Settings, served: ServedApi) -> None:
    """The ``api`` role's every part started (the HTTP server, the dashboard's feed), as
    ``alertpipe run --role api`` starts them, until the test is done."""
    pipeline = await build_pipeline(settings, ("api",))
    assert pipeline.http is not None
    served.loop, served.stop = asyncio.get_running_loop(), asyncio.Event()
    for role in pipeline.roles:
        await role.start()
    running = [asyncio.create_task(role.run()) for role in pipeline.roles]
    served.url = pipeline.http.url
    served.ready.set()
    try:
        await served.stop.wait()
    finally:
        for role in reversed(pipeline.roles):
            await role.stop()
        await asyncio.gather(*running, return_exceptions=True)
        await pipeline.close()


def _run(settings: Settings, served: ServedApi) -> None:
    try:
        asyncio.run(_serve(settings, served))
    except BaseException as error:  # reported by the fixture
        served.error = error
        served.ready.set()


@pytest.fixture
async def fuzz_settings(
    database: str, bootstrap: str, make_topic: Callable[..., Awaitable[str]]
) -> Settings:
    # Failed sign-ins are part of the input: never throttle the fuzzer's own address.
    auth = AuthSettings(bootstrap_token=SecretStr(ADMIN), max_failures=1_000_000)
    topics = {name: await make_topic(name) for name in ("panes", "decisions", "telemetry")}
    return Settings(
        database_url=database, kafka_bootstrap=bootstrap, topics=topics, auth=auth, http_port=0
    )


@pytest.fixture
def served_api(fuzz_settings: Settings) -> Iterator[ServedApi]:
    served = ServedApi()
    thread = threading.Thread(target=_run, args=(fuzz_settings, served), name="api-under-fuzz")
    thread.start()
    assert served.ready.wait(60), "the API did not start within 60 s"
    if served.error is not None:
        raise served.error
    yield served
    assert served.loop is not None and served.stop is not None
    served.loop.call_soon_threadsafe(served.stop.set)
    thread.join(30)


def _fuzz(operation: APIOperation, mode: GenerationMode, headers: dict[str, str]) -> None:
    """``EXAMPLES`` cases of one operation in one mode, each called and checked."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,  # the same cases on every run: no example database in the worktree
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def one(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    one()


# schemathesis draws some values with the `random` module inside its strategies
@pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
def test_no_input_makes_a_5xx_or_an_answer_its_schema_does_not_describe(
    served_api: ServedApi,
) -> None:
    schema = schemathesis.openapi.from_url(
        f"{served_api.url}/openapi.json", headers=served_api.headers
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [o.label for o in operations]  # every route is in it
    ingest = {"Authorization": f"Bearer {_ingest_token(served_api)}"}
    failures = []
    for operation in operations:
        headers = ingest if operation.path in INGEST_PATHS else served_api.headers
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.POSITIVE and operation.path in ENDLESS:
                continue  # a valid request opens a stream that never ends: nothing to validate
            try:
                _fuzz(operation, mode, headers)
            except Unsatisfiable:  # no invalid input exists: it has no parameters and no body
                assert mode is GenerationMode.NEGATIVE, operation.label
            except (Exception, BaseExceptionGroup) as failure:  # all tried, all reported
                failures.append(f"{operation.label} ({mode.value}): {failure}")
    assert not failures, "\n\n".join(failures)


def _ingest_token(served: ServedApi) -> str:
    answer = httpx.post(
        f"{served.url}/tokens",
        json={"name": "fuzz-ingest", "role": "ingest"},
        headers=served.headers,
        timeout=30,
    )
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


def test_the_served_api_refuses_a_300_mb_body_before_reading_it(served_api: ServedApi) -> None:
    """Through uvicorn, as the issue's report sent it: the answer is a 413 in the one error
    body while only the headers and a first 64 KiB have been sent."""
    host, port = served_api.url.removeprefix("http://").rsplit(":", 1)
    head = (
        f"POST /silences HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {served_api.headers['Authorization']}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {300 * 1024 * 1024}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head.encode() + b" " * 65536)
        chunks = []
        while chunk := conn.recv(65536):  # the server closes the connection after its answer
            chunks.append(chunk)
        answer = b"".join(chunks).decode()
    status, _, rest = answer.partition("\r\n")
    assert status == "HTTP/1.1 413 Request Entity Too Large", answer
    body = json.loads(rest.partition("\r\n\r\n")[2])
    assert body["error"] == "too_large" and "1048576 bytes" in body["message"]
