"""HTTP ingest against producing the same events straight to Kafka (a script, not a test).

    .venv/bin/python benchmarks/ingest.py                      # 200k events, 3 trials
    .venv/bin/python benchmarks/ingest.py --events 400000 --trials 5 --batch 1000

It starts ``alertpipe run --role api`` (its own topics, database schema and port on the local
servers), gets an ``ingest`` token through the API, and then measures, interleaved per trial so
that background load hits both alike:

(a) the baseline: the same events, already encoded, sent straight to the telemetry topic by one
    aiokafka producer in this process — acks=all, idempotent, ``linger_ms`` 5, 512 KiB
    batches, and the records put into those batches by hand (``create_batch``/``send_batch``,
    per partition, by the producer's own partitioner), ~4× what a ``send`` per record does:
    the strongest honest Python producer (no validation; the events are valid). For scale,
    the same producer with one ``send`` per record, as ``streams.producer`` sends, is shown
    too (a′);
(b) HTTP ingest: the same events as JSON lines, ``--batch`` per request, ``--concurrency``
    requests in flight, each answered only after Kafka acknowledged its valid events (acks=all)
    — validation by stage 1's readers, the write and the answer included.

Each measurement runs from the first send to the last acknowledgement (a) or answer (b); the
ratio is b/a in events per second. The machine is shared: run it when ``uptime`` is low and
read min/median/max over trials, never one number.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.settings import Settings  # noqa: E402

ALERTPIPE = ROOT / ".venv" / "bin" / "alertpipe"
DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
BOOTSTRAP_TOKEN = "bench-ingest-bootstrap-token-0123456789"
READY = re.compile(r"^alertpipe: running (.+); (http://\S+)/health")
SERVICES = ("chat-api", "search-api", "bot-runner", "gateway", "billing")
TOPICS = ("telemetry", "dead_letter", "panes", "decisions", "incidents")


def events(count: int) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            "kind": "request",
            "ts": round(now + i / 20_000, 6),
            "service": SERVICES[i % len(SERVICES)],
            "endpoint": f"{('GET', 'POST')[i % 2]} /api/r{i % 100}",
            "status": 503 if i % 50 == 0 else 200,
            "latency_ms": float(10 + i % 300),
            "version": "2.4.0",
        }
        for i in range(count)
    ]


# --- the api process ------------------------------------------------------------------------


def _env(run: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    env.update(
        {f"ALERTPIPE_TOPICS__{name.upper()}": f"bench-{run}.{name}" for name in TOPICS},
        ALERTPIPE_KAFKA_BOOTSTRAP=DEFAULT_BOOTSTRAP,
        ALERTPIPE_DATABASE_SCHEMA=f"bench_ingest_{run}",
        ALERTPIPE_GROUP_PREFIX=f"bench-{run}",
        ALERTPIPE_EVALUATOR__STATE_TOPIC=f"bench-{run}.alerts.state",
        ALERTPIPE_HTTP_PORT="0",
        ALERTPIPE_AUTH__BOOTSTRAP_TOKEN=BOOTSTRAP_TOKEN,
        ALERTPIPE_AUTH__MAX_FAILURES="1000",
        ALERTPIPE_INGEST__MAX_IN_FLIGHT="1000000",
        ALERTPIPE_LOG_LEVEL="WARNING",
    )
    return env


_DRAINS: set[asyncio.Task[None]] = set()


async def start_api(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        str(ALERTPIPE),
        "run",
        "--role",
        "api",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(process.stdout.readline(), 120)).decode().rstrip()
        if not line and process.returncode is not None:
            break
        seen.append(line)
        match = READY.match(line)
        if match:
            drain = asyncio.create_task(_drain(process.stdout))  # its output must not block it
            _DRAINS.add(drain)
            drain.add_done_callback(_DRAINS.discard)
            return process, match.group(2)
    raise SystemExit("the api role did not start:\n" + "\n".join(seen[-30:]))


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def ingest_token(url: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(
            "/tokens",
            json={"name": f"bench-{uuid.uuid4().hex[:6]}", "role": "ingest"},
            headers={"Authorization": f"Bearer {BOOTSTRAP_TOKEN}"},
        )
        answer.raise_for_status()
        token: str = answer.json()["token"]
        return token


# --- the two measurements -------------------------------------------------------------------


async def produce_straight(
    topic: str, encoded: list[tuple[bytes, bytes]], *, by_hand: bool = True
) -> float:
    """(a) events/s of one tuned aiokafka producer, first send to last acknowledgement;
    ``by_hand=False``: one ``send`` per record (a′)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=DEFAULT_BOOTSTRAP,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        start = time.perf_counter()
        if by_hand:
            futures = await _batches(producer, topic, partitions, encoded)
        else:
            futures = [await producer.send(topic, value=v, key=k) for k, v in encoded]
        await asyncio.gather(*futures)
        return len(encoded) / (time.perf_counter() - start)
    finally:
        await producer.stop()


async def _batches(
    producer: AIOKafkaProducer,
    topic: str,
    partitions: list[int],
    encoded: list[tuple[bytes, bytes]],
) -> list[Any]:
    partitioner = DefaultPartitioner()
    open_batches: dict[int, Any] = {}
    futures = []
    chosen: dict[bytes, int] = {}  # as the ingest writer does: murmur2 once per key
    for key, value in encoded:
        partition = chosen.get(key)
        if partition is None:
            partition = chosen[key] = partitioner(key, partitions, partitions)
        batch = open_batches.get(partition)
        if batch is None:
            batch = open_batches[partition] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is None:
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = open_batches[partition] = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    for partition, batch in open_batches.items():
        batch.close()
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def post_http(
    url: str, token: str, bodies: list[bytes], count: int, concurrency: int
) -> float:
    """(b) events/s through ``POST /v1/telemetry``, first request to last answer."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    accepted = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            while True:
                answer = await client.post("/v1/telemetry", content=body)
                if answer.status_code != 429:
                    break
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
            answer.raise_for_status()
            accepted += answer.json()["accepted"]

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as c:
        start = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if accepted != count:
        raise SystemExit(f"HTTP ingest accepted {accepted} of {count} events")
    return count / elapsed


def _summary(values: list[float]) -> str:
    return (
        f"min {min(values):,.0f}  median {statistics.median(values):,.0f}  max {max(values):,.0f}"
    )


async def main(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:8]
    env = _env(run)
    data = events(args.events)
    encoded = [(e["service"].encode(), orjson.dumps(e)) for e in data]
    lines = [orjson.dumps(e) for e in data]
    bodies = [b"\n".join(lines[i : i + args.batch]) for i in range(0, len(lines), args.batch)]
    topic = env["ALERTPIPE_TOPICS__TELEMETRY"]
    load = os.getloadavg()
    print(
        f"{args.events:,} events, {len(bodies)} requests of {args.batch}, "
        f"concurrency {args.concurrency}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    process, url = await start_api(env)
    try:
        token = await ingest_token(url)
        await post_http(url, token, bodies[:2], min(len(data), 2 * args.batch), 2)  # warm up
        await produce_straight(topic, encoded[:1000])
        straight: list[float] = []
        per_send: list[float] = []
        http: list[float] = []
        for trial in range(1, args.trials + 1):
            straight.append(await produce_straight(topic, encoded))
            http.append(await post_http(url, token, bodies, len(data), args.concurrency))
            per_send.append(await produce_straight(topic, encoded, by_hand=False))
            print(
                f"trial {trial}: (a) straight to Kafka {straight[-1]:,.0f} ev/s   "
                f"(b) HTTP ingest {http[-1]:,.0f} ev/s   b/a {http[-1] / straight[-1]:.2f}   "
                f"(a′) a send per record {per_send[-1]:,.0f} ev/s"
            )
        ratios = [b / a for a, b in zip(straight, http, strict=True)]
        print(f"(a) straight to Kafka ev/s: {_summary(straight)}")
        print(f"(b) HTTP ingest ev/s:       {_summary(http)}")
        print(f"(a′) a send per record:     {_summary(per_send)}")
        print(
            f"b/a: min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
            f"max {max(ratios):.2f}"
        )
    finally:
        process.terminate()
        await process.wait()
        await _cleanup(run, env)


async def _cleanup(run: str, env: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=DEFAULT_BOOTSTRAP)
    await admin.start()
    try:
        ours = [t for t in await admin.list_topics() if t.startswith(f"bench-{run}.")]
        if ours:
            await admin.delete_topics(ours)
    finally:
        await admin.close()
    conn = await asyncpg.connect(Settings(database_url=None, database_schema=None).dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{env["ALERTPIPE_DATABASE_SCHEMA"]}" CASCADE')
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="events per HTTP request")
    parser.add_argument("--concurrency", type=int, default=8, help="HTTP requests in flight")
    parser.add_argument("--trials", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
