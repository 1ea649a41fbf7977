"""Stage-1 throughput and memory, against the local broker (a script, not a test).

    .venv/bin/python benchmarks/aggregator.py                 # 1 M events, pairs a,b,a,b
    .venv/bin/python benchmarks/aggregator.py --events 2000000 --pairs 3
    .venv/bin/python benchmarks/aggregator.py --malformed 0.1 # 10% malformed: the slow path
    .venv/bin/python benchmarks/aggregator.py --rss           # 10k endpoints, 5 M events
    .venv/bin/python benchmarks/aggregator.py --profile       # cProfile of one b run

It pre-produces one data set (mostly requests over ~100 endpoints of 5 services, plus logs,
resources, queues, bots, integrity checks and deploys; event time ~20k events/s, slightly
out of order; ``--malformed F`` replaces that share of the messages by malformed ones, each
a dead letter: undecodable bytes, wrong types, missing fields, out-of-range values) and then
measures, each in a fresh process pinned to the same single core
(``os.sched_setaffinity``), interleaved a, b, a, b so that background load hits both alike:

(a) a plain aiokafka ``getmany`` loop that decodes every value with the fastest JSON decoder
    installed: ``msgspec.json.decode`` by default (~10% faster than ``orjson.loads`` here;
    ``--baseline orjson`` for that one; the standard library's ``json.loads`` is ~2x slower
    and would flatter the ratio);
(b) the aggregator end to end: validation, panes, sketches, publishing panes and dead
    letters, Kafka transactions with checkpoints (a fresh consumer group per run).

Each measurement starts once the consumer holds its partitions and ends when every event
has been handled (for b: and its output committed — the transaction that covers the last
record is done; leaving the consumer group afterwards is not timed).

Each pair prints b/a by wall time (the figure quoted) and by CPU time (the process's own,
over the same interval): on a machine shared with other work the wall-time ratio swings with
the load between the two runs, the CPU-time one much less; b's CPU time leaves out what it
waits for (the broker's transaction round trips), so on a quiet machine it reads a little
higher than the wall-time ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams.aggregate.config import AggregatorConfig  # noqa: E402
from streams.aggregate.service import Aggregator, tune_gc  # noqa: E402

DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SERVICES = ("chat-api", "search-api", "bot-runner", "gateway", "billing")


# --- data -----------------------------------------------------------------------------------


def telemetry(count: int, endpoints: int, rate: float, seed: int = 7) -> Iterator[dict[str, Any]]:
    """A realistic mix; event time advances at ``rate`` events/s with up to 200 ms disorder.

    Each endpoint belongs to one service (``endpoints`` scopes of requests in all).
    """
    rnd = random.Random(seed)
    routes = [f"{('GET', 'POST')[i % 2]} /api/r{i}" for i in range(endpoints)]
    start = time.time() - count / rate - 60
    for i in range(count):
        ts = round(start + i / rate - rnd.random() * 0.2, 3)
        route = rnd.randrange(endpoints)
        if rnd.random() < 0.90:
            yield {"kind": "request", "ts": ts, "service": SERVICES[route % len(SERVICES)],
                   "endpoint": routes[route], "version": "1.4.2",
                   "status": 503 if rnd.random() < 0.02 else 200,
                   "latency_ms": round(rnd.lognormvariate(3.5, 0.8), 2)}  # fmt: skip
        else:
            yield {"ts": ts, "service": SERVICES[i % len(SERVICES)], **_other(rnd, i)}


MALFORMED = (
    b"{oops",
    b'{"kind":"request","ts":1795626000,"service":"chat-api","endpoint":"POST /x",'
    b'"status":"503","latency_ms":1}',
    b'{"kind":"request","ts":1795626000,"service":"chat-api","endpoint":"POST /x",'
    b'"status":200,"latency_ms":-3}',
    b'{"kind":"queue","ts":1795626000,"service":"chat-api","queue":"q"}',
    b'{"kind":"teleport","ts":1795626000,"service":"chat-api"}',
    b'"just a string"',
    b'{"kind":"request","ts":"yesterday","service":"chat-api","endpoint":"POST /x",'
    b'"status":200,"latency_ms":1}',
)


def with_malformed(
    events: Iterator[dict[str, Any]], share: float, seed: int = 11
) -> Iterator[dict[str, Any] | bytes]:
    """``events`` with about ``share`` of them replaced by malformed messages."""
    rnd = random.Random(seed)
    for event in events:
        yield rnd.choice(MALFORMED) if share and rnd.random() < share else event


def _other(rnd: random.Random, i: int) -> dict[str, Any]:
    roll = rnd.random()
    if roll < 0.5:
        level = "error" if rnd.random() < 0.1 else "info"
        return {"kind": "log", "level": level, "message": "handled"}
    if roll < 0.8:
        return {"kind": "resource", "host": f"h{i % 8}", "cpu_pct": round(rnd.uniform(5, 90), 1),
                "mem_pct": round(rnd.uniform(20, 80), 1)}  # fmt: skip
    if roll < 0.9:
        return {"kind": "queue", "queue": "jobs", "depth": rnd.randrange(300)}
    status = rnd.choice(("online", "online", "restarted"))
    return {"kind": "bot", "bot_id": f"bot-{i % 4}", "status": status}


async def produce(
    bootstrap: str, topic: str, partitions: int, events: Iterator[dict[str, Any] | bytes]
) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, max_batch_size=1024 * 1024, acks=1
    )
    await producer.start()
    sent = 0
    try:
        for event in events:
            if isinstance(event, bytes):
                await producer.send(topic, event, key=b"chat-api")
            else:
                await producer.send(topic, orjson.dumps(event), key=event["service"].encode())
            sent += 1
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


# --- measurements (each in its own pinned process) ------------------------------------------


def pin() -> int:
    core = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


DECODERS = {
    "msgspec": (msgspec.json.decode, msgspec.DecodeError),
    "orjson": (orjson.loads, orjson.JSONDecodeError),
}


async def plain(
    bootstrap: str, topic: str, partitions: int, total: int, decoder: str
) -> dict[str, Any]:
    """(a) getmany + decode (a malformed value counts as decoded), nothing else."""
    loads, malformed = DECODERS[decoder]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen, checksum = 0, 0
        started, cpu_started = time.perf_counter(), time.process_time()
        while seen < total:
            batch = await consumer.getmany(timeout_ms=200, max_records=20_000)
            for records in batch.values():
                for record in records:
                    try:
                        checksum += len(loads(record.value))  # use the result
                    except malformed:
                        checksum += 1
                seen += len(records)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await consumer.stop()
    return {"mode": "a", "events": seen, "seconds": elapsed, "rate": seen / elapsed,
            "cpu_seconds": cpu}  # fmt: skip


async def aggregate(
    bootstrap: str, topic: str, total: int, profile: bool, rss_every: int = 0
) -> dict[str, Any]:
    """(b) the aggregator end to end, fresh group, fresh output topics."""
    tag = uuid.uuid4().hex[:8]
    panes, dead = f"bench-panes-{tag}", f"bench-dlq-{tag}"
    await create_topics(bootstrap, [panes, dead], 3)
    config = AggregatorConfig(
        bootstrap=bootstrap, telemetry_topic=topic, panes_topic=panes, dead_letter_topic=dead,
        group_id=f"bench-{tag}", idle_timeout_ms=2000,
    )  # fmt: skip
    aggregator = Aggregator(config)
    await aggregator.start()
    tune_gc()
    await aggregator.wait_ready(timeout_s=60)
    profiler = _profiler(profile)
    started, cpu_started = time.perf_counter(), time.process_time()
    running = asyncio.create_task(aggregator.run())
    samples: list[tuple[int, float]] = []
    while aggregator.metrics.events < total or not _committed(aggregator):
        await asyncio.sleep(0.01)
        if rss_every and aggregator.metrics.events >= (len(samples) + 1) * rss_every:
            samples.append((aggregator.metrics.events, rss_mb()))
    elapsed = time.perf_counter() - started  # all handled, their output committed
    cpu = time.process_time() - cpu_started
    await aggregator.stop()  # leaving the group is not part of the work
    await running
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats("/tmp/aggregator.prof")
    health = aggregator.health()
    await delete_topics(bootstrap, [panes, dead])
    return {
        "mode": "b", "events": health["events"], "seconds": elapsed, "cpu_seconds": cpu,
        "rate": health["events"] / elapsed, "panes": health["panes"],
        "refinements": health.get("refinements", 0),
        "transactions": health["transactions"], "dead_letters": health["dead_letters"],
        "transaction_seconds": health["transaction_seconds"],
        "transaction_max_seconds": health["transaction_max_seconds"],
        "rss_mb": samples, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def _committed(aggregator: Aggregator) -> bool:
    """``Aggregator.committed``, or the same computed here for an older checkout (a
    before/after comparison runs this script in a copy of the older tree)."""
    if hasattr(aggregator, "committed"):
        return bool(aggregator.committed)
    return all(
        o.committed is not None and o.committed[1].processed_to >= o.aggregator.position - 1
        for o in aggregator._owned.values()
        if o.aggregator.position is not None and o.aggregator.last_activity_ms is not None
    )


def _profiler(enabled: bool) -> Any:
    if not enabled:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def measure(args: argparse.Namespace) -> None:
    core = pin()
    if args.measure == "a":
        tune_gc()  # the same collector settings as b: a fair baseline
        result = asyncio.run(
            plain(args.bootstrap, args.topic, args.partitions, args.events, args.baseline)
        )
    else:
        result = asyncio.run(
            aggregate(args.bootstrap, args.topic, args.events, args.profile, args.rss_every)
        )
    print(json.dumps({**result, "core": core}))


# --- orchestration --------------------------------------------------------------------------


def run_child(
    mode: str, args: argparse.Namespace, topic: str, events: int, **extra: Any
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--measure", mode, "--topic", topic,
               "--events", str(events), "--bootstrap", args.bootstrap,
               "--partitions", str(args.partitions), "--baseline", args.baseline]  # fmt: skip
    if extra.get("profile"):
        command.append("--profile")
    if extra.get("rss_every"):
        command += ["--rss-every", str(extra["rss_every"])]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"measurement {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def throughput(args: argparse.Namespace) -> None:
    topic = f"bench-telemetry-{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    events = with_malformed(telemetry(args.events, args.endpoints, 20_000), args.malformed)
    sent = asyncio.run(produce(args.bootstrap, topic, args.partitions, events))
    print(f"produced {sent:,} events to {topic} ({args.partitions} partitions, "
          f"{args.endpoints} endpoints, {args.malformed:.0%} malformed) "
          f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    try:
        for pair in range(1, args.pairs + 1):
            a = run_child("a", args, topic, sent)
            b = run_child("b", args, topic, sent, profile=args.profile and pair == 1)
            print(f"pair {pair}: a ({args.baseline}) = {a['rate']:>9,.0f} ev/s   "
                  f"b = {b['rate']:>9,.0f} ev/s   "
                  f"b/a = {b['rate'] / a['rate']:.2f}   "
                  f"by CPU time {a['cpu_seconds'] / b['cpu_seconds']:.2f}   "
                  f"(b: {b['panes']:,} panes "
                  f"+ {b['refinements']:,} refinements, "
                  f"{b['transactions']} transactions averaging "
                  f"{1000 * b['transaction_seconds'] / max(1, b['transactions']):.0f} ms, "
                  f"peak RSS {b['peak_rss_mb']:.0f} MB, "
                  f"core {b['core']})")  # fmt: skip
        if args.profile:
            print("profile of b (pair 1): /tmp/aggregator.prof")
    finally:
        asyncio.run(delete_topics(args.bootstrap, [topic]))


def memory(args: argparse.Namespace) -> None:
    topic = f"bench-rss-{uuid.uuid4().hex[:8]}"
    events = args.rss_events
    started = time.perf_counter()
    sent = asyncio.run(
        produce(args.bootstrap, topic, args.partitions, telemetry(events, 10_000, 20_000))
    )
    print(
        f"produced {sent:,} events over 10,000 endpoints in {time.perf_counter() - started:.1f} s"
    )
    try:
        b = run_child("b", args, topic, sent, rss_every=1_000_000)
        for count, rss in b["rss_mb"]:
            print(f"  after {count:>9,} events: RSS {rss:6.0f} MB")
        print(f"peak RSS {b['peak_rss_mb']:.0f} MB; {b['rate']:,.0f} ev/s; {b['panes']:,} panes "
              f"+ {b['refinements']:,} refinements")  # fmt: skip
    finally:
        asyncio.run(delete_topics(args.bootstrap, [topic]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--baseline", choices=sorted(DECODERS), default="msgspec")
    parser.add_argument("--malformed", type=float, default=0.0, help="share of bad messages")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rss", action="store_true", help="the 10k-endpoint memory run")
    parser.add_argument("--rss-events", type=int, default=5_000_000)
    parser.add_argument("--measure", choices=("a", "b"), help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--rss-every", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args)
    elif args.rss:
        memory(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
