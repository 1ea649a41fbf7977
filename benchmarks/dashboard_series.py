"""The dashboard while 50 services x 6 endpoints flow: the series route, the live stream, the
ring's memory (a script, not a test).

    .venv/bin/python benchmarks/dashboard_series.py                  # 40 s of flow, 400 requests
    .venv/bin/python benchmarks/dashboard_series.py --seconds 60 --requests 1000

Needs the local broker (``alertpipe local up``); uses fresh topics and deletes them.

This process runs the ``api`` role's dashboard as production builds it — the ring, the
``DashboardFeed`` reading a real panes topic, the HTTP server (uvicorn) with the real
authentication (a bootstrap token) — with the ring prefilled with one hour of panes for every
scope (300 endpoint scopes x 3,600 one-second panes: what a full retention holds). A producer
process then sends one pane per scope per second (300 panes/s, sketches of ~70 latencies, as
stage 1 would), and a client process, with cores and clock of its own:

* asks ``GET /api/series`` for one scope's last hour (3,600 buckets x 7 series), alternating
  with a **baseline** request: a static JSON body of the same size, through the same server and
  the same authentication — what HTTP, auth and the client cost without the series work;
* follows ``GET /api/stream`` (a service overview, 6 endpoints) and records, for each message,
  how old the newest pane in it is (receive time - pane end): the live updates keep up when
  this stays about one cadence (1 s) plus the broker hop, never growing.

Also measured in this process: the raw cost of the series (the ring reduced to the grid and
encoded, no HTTP) and the feed's ingest capacity (panes parsed and kept per second) against
the 300 panes/s flowing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import statistics
import time
import tracemalloc
import uuid
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import APIRouter, FastAPI, Response
from pydantic import SecretStr

from app.api import dashboard as dashboard_routes
from app.api.app import create_probe_app
from app.api.auth import Authenticator, Viewer
from app.api.dashboard import DashboardDeps
from app.api.server import HttpServer
from app.dashboard import Dashboard, DashboardFeed, FiringLog, PaneRing
from app.dashboard.series import Grid
from app.settings import AuthSettings
from handlers.config import ResponseConfig
from schemas.clock import SystemClock
from schemas.panes import Scope
from schemas.sketch import Sketch
from streams.policy import load_policy

DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
TOKEN = "benchmark-bootstrap-token-0123456789"
SERVICES = tuple(f"svc-{n:02d}" for n in range(50))
ENDPOINTS = ("POST /api/message", "GET /api/history", "POST /api/search", "GET /api/r3",
             "POST /api/bot/launch", "GET /api/r5")  # fmt: skip
RETENTION_S = 3600
PANE_MS = 1000
PROBE = (SERVICES[7], ENDPOINTS[3])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.50), 2),
        "p99": round(percentile(values, 0.99), 2),
        "max": round(max(values), 2),
        "mean": round(statistics.fmean(values), 2),
    }


# --- the flow: one pane per scope per second, as stage 1 publishes them ---------------------


def _sketch_wire(rng: random.Random) -> tuple[dict[str, Any], float, float]:
    values = [rng.lognormvariate(4.5, 0.6) for _ in range(70)]
    sketch = Sketch()
    sketch.extend(values)
    return sketch.to_wire(), min(values), max(values)


def pane_bytes(service: str, endpoint: str, start_ms: int, rng: random.Random) -> bytes:
    wire, low, high = _sketch_wire(rng)
    scope = {"service": service, "dimension": "endpoint", "key": endpoint}
    return orjson.dumps(
        {
            "v": 1,
            "pane_id": f"{service}|endpoint|{endpoint}@{start_ms}/0",
            "scope": scope,
            "start_ms": start_ms,
            "end_ms": start_ms + PANE_MS,
            "partition": 0,
            "requests": {"count": 70, "errors": rng.randrange(3), "latency": wire,
                         "min_ms": low, "max_ms": high, "versions": {"1.0": 70}},
        }
    )  # fmt: skip


def produce(bootstrap: str, topic: str, seconds: float, sent: Any) -> None:
    """The producer process: every second, the pane that just ended of every scope."""

    async def run() -> None:
        rng = random.Random(1)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        await producer.start()
        try:
            end = time.time() + seconds
            while time.time() < end:
                now = time.time()
                start_ms = int(now) * 1000 - PANE_MS
                for service in SERVICES:
                    for endpoint in ENDPOINTS:
                        value = pane_bytes(service, endpoint, start_ms, rng)
                        await producer.send(topic, value, key=f"{service}|{endpoint}".encode())
                await producer.flush()
                sent.value += len(SERVICES) * len(ENDPOINTS)
                await asyncio.sleep(max(0.0, int(now) + 1 - time.time()))
        finally:
            await producer.stop()

    asyncio.run(run())


# --- the client process: the route, its baseline, the live stream --------------------------


def measure(url: str, requests: int, seconds: float, out: Any) -> None:
    async def run() -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        service, key = PROBE
        params = {"service": service, "dimension": "endpoint", "key": key, "minutes": 60}
        route: list[float] = []
        static: list[float] = []
        ages: list[float] = []
        sizes: list[int] = []
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            live = asyncio.create_task(_follow(client, seconds, ages))
            await asyncio.sleep(2.0)  # the flow has started
            for _ in range(requests):
                begin = time.perf_counter()
                answer = await client.get("/api/series", params=params)
                route.append((time.perf_counter() - begin) * 1000)
                assert answer.status_code == 200, answer.text
                sizes.append(len(answer.content))
                begin = time.perf_counter()
                answer = await client.get("/bench/static")
                static.append((time.perf_counter() - begin) * 1000)
                assert answer.status_code == 200, answer.text
            await live
        out.put({"route": route, "static": static, "ages": ages, "bytes": sizes[-1]})

    asyncio.run(run())


async def _follow(client: httpx.AsyncClient, seconds: float, ages: list[float]) -> None:
    """The overview of one service, live: the age of the newest pane in each message."""
    params = {"service": PROBE[0], "minutes": 15}
    end = time.time() + seconds
    async with client.stream("GET", "/api/stream", params=params) as stream:
        async for line in stream.aiter_lines():
            if not line.startswith("data: "):
                continue
            now = time.time()
            payload = orjson.loads(line[6:])
            newest = _newest_pane_end(payload)
            if newest is not None:
                ages.append(now - newest)
            if now > end:
                return


def _newest_pane_end(payload: dict[str, Any]) -> float | None:
    times = payload["t"]
    newest = None
    for scope in payload["scopes"]:
        requests = scope["series"]["requests"]
        for n in range(len(requests) - 1, -1, -1):
            if requests[n] is not None:
                end = times[n] + PANE_MS / 1000
                newest = end if newest is None else max(newest, end)
                break
    return newest


# --- this process: the api role's dashboard ---------------------------------------------------


def prefill(ring: PaneRing, now_ms: int) -> None:
    """One hour of one-second panes for every scope, ending where the flow begins."""
    first = (now_ms // PANE_MS) * PANE_MS - RETENTION_S * 1000
    rng = random.Random(3)
    for service in SERVICES:
        for endpoint in ENDPOINTS:
            scope = ring._scope(Scope(service=service, dimension="endpoint", key=endpoint))
            for n in range(RETENTION_S - 5):
                p50 = rng.uniform(80, 100)
                row = (70.0, float(rng.randrange(3)), p50, p50 * 3.5, p50 * 6)
                scope.put(first + n * PANE_MS, 0, 0, row)


def build_app(dashboard: Dashboard, static: bytes) -> FastAPI:
    app = create_probe_app(dict, Authenticator(AuthSettings(bootstrap_token=SecretStr(TOKEN)),
                                               SystemClock()))  # fmt: skip
    app.state.dashboard = DashboardDeps(dashboard, None, ResponseConfig())  # type: ignore[arg-type]
    app.include_router(dashboard_routes.router)
    baseline = APIRouter()

    @baseline.get("/bench/static")
    async def served(viewer: Viewer) -> Response:
        return Response(static, media_type="application/json")

    app.include_router(baseline)
    return app


def raw_series(dashboard: Dashboard, repeats: int) -> list[float]:
    service, key = PROBE
    took = []
    for _ in range(repeats):
        begin = time.perf_counter()
        grid = Grid.ending(dashboard.now_ms(), RETENTION_S * 1000, PANE_MS)
        orjson.dumps(dashboard.series(service, "endpoint", key, grid))
        took.append((time.perf_counter() - begin) * 1000)
    return took


def ingest_rate(feed: DashboardFeed, count: int) -> float:
    """Panes parsed and kept per second by the feed's own handler (one core, no Kafka)."""
    rng = random.Random(5)
    start_ms = feed.dashboard.now_ms() + 10_000_000  # a scope of its own, far from the rest
    values = [pane_bytes("ingest", f"GET /x{n % 50}", start_ms + n * PANE_MS, rng)
              for n in range(count)]  # fmt: skip
    begin = time.perf_counter()
    for value in values:
        feed._pane(value)
    return count / (time.perf_counter() - begin)


async def topics(bootstrap: str, names: list[str], create: bool) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if create:
            await admin.create_topics([NewTopic(n, 3, 1) for n in names])
        else:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    names = [f"bench-{run}.panes", f"bench-{run}.decisions"]
    await topics(args.bootstrap, names, create=True)
    try:
        return await _run(args, names)
    finally:
        await topics(args.bootstrap, names, create=False)


async def _run(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    capacity = RETENTION_S * 1000 // PANE_MS
    ring = PaneRing(capacity, max_scopes=2000)
    dashboard = Dashboard(ring, FiringLog(), load_policy(None), SystemClock(), pane_ms=PANE_MS,
                          retention_s=RETENTION_S, live_every_s=1.0, hold_ms=10_000)  # fmt: skip
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    prefill(ring, dashboard.now_ms())
    traced = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    memory = {
        "scopes": len(ring),
        "rows": sum(r.size for r in ring),
        "ring_bytes": ring.nbytes,
        "traced_bytes": traced,
        "bytes_per_scope": ring.nbytes // len(ring),
        "bound_bytes_default": ring.bound_bytes(),
    }
    feed = DashboardFeed(dashboard, args.bootstrap, names[0], names[1], f"bench-{names[0]}")
    await feed.start()
    feeding = asyncio.create_task(feed.run())
    hour = Grid.ending(dashboard.now_ms(), RETENTION_S * 1000, PANE_MS)
    grid_bytes = orjson.dumps(dashboard.series(PROBE[0], "endpoint", PROBE[1], hour))
    server = HttpServer(build_app(dashboard, grid_bytes), "127.0.0.1", 0)
    await server.start()
    serving = asyncio.create_task(server.run())
    ctx = multiprocessing.get_context("spawn")
    sent = ctx.Value("q", 0)
    results = ctx.Queue()
    producer = ctx.Process(target=produce, args=(args.bootstrap, names[0], args.seconds, sent))
    client = ctx.Process(target=measure, args=(server.url, args.requests, args.seconds, results))
    producer.start()
    client.start()
    raw: list[float] = []
    while client.is_alive():  # the raw cost, sampled while the flow and the requests run
        raw.extend(raw_series(dashboard, 1))
        await asyncio.sleep(0.25)
    measured = results.get(timeout=30)
    client.join()
    producer.join()
    await asyncio.sleep(2.0)  # the last second's panes reach the ring
    kept_live = ring.panes
    await server.stop()
    await feed.stop()
    await asyncio.gather(serving, feeding, return_exceptions=True)
    capacity_rate = ingest_rate(feed, 20_000)
    route, static = summary(measured["route"]), summary(measured["static"])
    raw_s = summary(raw)
    flow = len(SERVICES) * len(ENDPOINTS)
    return {
        "flow": f"{len(SERVICES)} services x {len(ENDPOINTS)} endpoints, one pane each per second",
        "memory": memory,
        "series_one_scope_last_hour": {
            "bytes": measured["bytes"],
            "route_ms": route,
            "baseline_static_same_size_ms": static,
            "raw_series_no_http_ms": raw_s,
            "route_p99_over_static_p99": round(route["p99"] / static["p99"], 2),
            "route_p99_minus_static_p99_ms": round(route["p99"] - static["p99"], 2),
            "target": "p99 < 50 ms",
        },
        "live": {
            "messages": len(measured["ages"]),
            "seconds": args.seconds,
            "newest_pane_age_s": summary(measured["ages"]),
            "panes_sent": sent.value,
            "panes_kept": kept_live,
            "kept_over_sent": round(kept_live / max(1, sent.value), 4),
            "ingest_capacity_panes_per_s": round(capacity_rate),
            "capacity_over_flow": round(capacity_rate / flow, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--seconds", type=float, default=40.0, help="how long panes flow (40)")
    parser.add_argument("--requests", type=int, default=400, help="series requests (400)")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
