"""Breach-to-decision latency of stage 2 while 50,000 events/s flow (a script, not a test).

    .venv/bin/python benchmarks/decision_latency.py                  # 50k events/s, 20 probes
    .venv/bin/python benchmarks/decision_latency.py --rate 20000 --probes 40

Runs the real processes on the local broker, on fresh topics: the aggregator
(``python -m streams.aggregate``) and the evaluator (``python -m streams.evaluate``). This
process sends live background traffic (healthy requests of 8 services x 6 endpoints, event
time = now) at ``--rate`` and, every ``--interval`` seconds, a *probe*: a burst of 5xx on
``POST /api/message`` of a fresh service, which breaches ``core-error-rate-critical`` in its
first pane. A separate monitor process (its own core time, its own clock readings) records
when the probe's breaching pane becomes visible on the panes topic (read_committed: stage 1
closed and committed it) and when the evaluator's CRITICAL decision for it becomes visible
on the decisions topic. Their difference is the stage-2 latency the issue bounds ("within one
pane interval after the breaching pane closes"); pane end -> decision is printed too: stage 1
fires a pane on time, when its watermark passes the pane's end (event time = now, so about
the pane's end on the wall clock), so this one includes stage 1's fire-to-commit time.
(Before on-time firing, panes were published only when closed, pane end + the allowed
lateness; ``--lateness-ms`` still sets how long a pane stays open for refinements.)

Baseline, measured in the same run by the same monitor: one message produced (acks=all) and
consumed on the same broker, every 100 ms during the load — a single Kafka hop. Stage 2 is
at least two such hops (pane in, decision out) plus evaluation and a transaction commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import DefaultPartitioner

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
SERVICES = tuple(f"svc-{n}" for n in range(8))
ENDPOINTS = tuple(f"{m} /api/r{n}" for n in range(6) for m in ("GET",))
PROBE_ENDPOINT = "POST /api/message"
TICK_S = 0.05


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


# --- the monitor (a separate process) ---------------------------------------------------------


async def _ping(bootstrap: str, topic: str, stop: asyncio.Event, out: list[float]) -> None:
    """One message at a time: produced with acks=all, consumed by a waiting consumer."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await consumer.seek_to_end()
        while not stop.is_set():
            sent = time.perf_counter()
            await producer.send_and_wait(topic, str(sent).encode())
            while not await consumer.getmany(timeout_ms=1000):
                pass
            out.append(time.perf_counter() - sent)
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
        await consumer.stop()


async def _watch(
    args: dict[str, Any], stop: asyncio.Event, seen: dict[str, dict[str, float]]
) -> None:
    consumer = AIOKafkaConsumer(
        args["panes"],
        args["decisions"],
        bootstrap_servers=args["bootstrap"],
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for tp, records in batch.items():
                for record in records:
                    _note(tp.topic == args["panes"], orjson.loads(record.value), now, seen)
    finally:
        await consumer.stop()


def _note(
    is_pane: bool, value: dict[str, Any], now: float, seen: dict[str, dict[str, float]]
) -> None:
    service = value.get("scope", {}).get("service") if is_pane else value.get("service")
    if not service or not service.startswith("probe-"):
        return
    entry = seen.setdefault(service, {})
    if is_pane and (value.get("requests") or {}).get("errors"):
        entry.setdefault("pane_visible", now)
        entry.setdefault("pane_end", value["end_ms"] / 1000)
    elif (
        not is_pane
        and value.get("rule") == "core-error-rate-critical"
        and value.get("state") == "firing"
    ):
        entry.setdefault("decision_visible", now)
        entry.setdefault("decision_at", value["at_ms"] / 1000)


async def _monitor(args: dict[str, Any], commands: Any, results: Any) -> None:
    stop = asyncio.Event()
    seen: dict[str, dict[str, float]] = {}
    pings: list[float] = []
    tasks = [
        asyncio.create_task(_watch(args, stop, seen)),
        asyncio.create_task(_ping(args["bootstrap"], args["ping"], stop, pings)),
    ]
    results.put({"event": "ready"})
    await asyncio.to_thread(commands.get)  # "stop"
    stop.set()
    await asyncio.gather(*tasks)
    results.put({"event": "done", "seen": seen, "pings": pings})


def monitor_main(args: dict[str, Any], commands: Any, results: Any) -> None:
    asyncio.run(_monitor(args, commands, results))


# --- load ---------------------------------------------------------------------------------


class Load:
    """Live request telemetry at a fixed rate, in hand-built batches (one per partition)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = list(range(partitions))
        self.producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1024 * 1024
        )
        self.sent = 0
        self._n = 0

    def partition(self, service: str) -> int:
        return int(DefaultPartitioner()(service.encode(), self.partitions, self.partitions))

    @staticmethod
    def event(ts: float, service: str, endpoint: str, status: int, latency: float) -> bytes:
        return orjson.dumps(
            {
                "kind": "request",
                "ts": round(ts, 4),
                "service": service,
                "endpoint": endpoint,
                "status": status,
                "latency_ms": latency,
                "version": "1.0.0",
            }
        )

    async def send(self, events: list[tuple[str, bytes]]) -> None:
        batches: dict[int, Any] = {}
        for service, value in events:
            partition = self.partition(service)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = self.producer.create_batch()
            if batch.append(key=service.encode(), value=value, timestamp=None) is None:
                await self.producer.send_batch(batch, self.topic, partition=partition)
                batch = batches[partition] = self.producer.create_batch()
                batch.append(key=service.encode(), value=value, timestamp=None)
        for partition, batch in batches.items():
            await self.producer.send_batch(batch, self.topic, partition=partition)
        self.sent += len(events)

    def background(self, count: int, now: float) -> list[tuple[str, bytes]]:
        events = []
        for i in range(count):
            self._n += 1
            service = SERVICES[self._n % len(SERVICES)]
            endpoint = ENDPOINTS[(self._n // len(SERVICES)) % len(ENDPOINTS)]
            status = 503 if self._n % 200 == 0 else 200
            ts = now - TICK_S + TICK_S * i / count
            events.append((service, self.event(ts, service, endpoint, status, 40.0 + self._n % 50)))
        return events

    @staticmethod
    def probe(service: str, now: float) -> list[tuple[str, bytes]]:
        return [
            (service, Load.event(now - 0.001 * i, service, PROBE_ENDPOINT, 500, 80.0))
            for i in range(40)
        ]


async def run_load(
    load: Load, rate: float, seconds: float, probes: list[tuple[float, str]]
) -> float:
    """Send ``rate`` events/s for ``seconds``; probes at their offsets. The achieved rate."""
    start = time.time()
    pending = sorted(probes)
    tick = 0
    while (elapsed := time.time() - start) < seconds:
        now = time.time()
        events = load.background(int(rate * TICK_S), now)
        while pending and pending[0][0] <= elapsed:
            events.extend(load.probe(pending.pop(0)[1], now))
        await load.send(events)
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * TICK_S - time.time()))
    await load.producer.flush()
    return load.sent / (time.time() - start)


# --- orchestration ----------------------------------------------------------------------------


async def create_topics(bootstrap: str, topics: dict[str, int]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, n, 1) for name, n in topics.items()])
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([n for n in names if n in existing])
    finally:
        await admin.close()


def start_stages(
    bootstrap: str, t: dict[str, str], log_dir: Path, lateness_ms: int
) -> list[subprocess.Popen[str]]:
    common = {"cwd": ROOT, "text": True, "stderr": open(log_dir / "stages.log", "a")}  # noqa: SIM115
    aggregator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.aggregate",
            "--bootstrap",
            bootstrap,
            "--telemetry-topic",
            t["telemetry"],
            "--panes-topic",
            t["panes"],
            "--dead-letter-topic",
            t["dlq"],
            "--group",
            t["group"] + "-agg",
            "--lateness-ms",
            str(lateness_ms),
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.DEVNULL,
        **common,
    )
    evaluator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.evaluate",
            "--bootstrap",
            bootstrap,
            "--panes-topic",
            t["panes"],
            "--decisions-topic",
            t["decisions"],
            "--state-topic",
            t["state"],
            "--group",
            t["group"] + "-eval",
            "--role",
            "evaluator",
            "--offset-reset",
            "earliest",
        ],
        stdout=subprocess.PIPE,
        **common,
    )
    assert evaluator.stdout is not None
    line = evaluator.stdout.readline()
    if '"ready"' not in line:
        raise RuntimeError(f"evaluator did not start: {line!r} (see {log_dir / 'stages.log'})")
    return [aggregator, evaluator]


def report(
    args: argparse.Namespace, achieved: float, seen: dict[str, Any], pings: list[float]
) -> None:
    stage2 = [
        e["decision_visible"] - e["pane_visible"]
        for e in seen.values()
        if "decision_visible" in e and "pane_visible" in e
    ]
    from_pane_end = [
        e["decision_visible"] - e["pane_end"]
        for e in seen.values()
        if "decision_visible" in e and "pane_end" in e
    ]
    base, s2 = summary(pings), summary(stage2)
    result = {
        "rate_target": args.rate,
        "rate_achieved": round(achieved),
        "probes": args.probes,
        "decided": len(stage2),
        "stage2_pane_visible_to_decision_visible": s2,
        "pane_end_to_decision_visible": summary(from_pane_end),
        "baseline_one_kafka_hop": base,
        "ratio_p50": round(s2["p50_ms"] / base["p50_ms"], 1) if s2 and base else None,
        "ratio_p99": round(s2["p99_ms"] / base["p99_ms"], 1) if s2 and base else None,
    }
    print(json.dumps(result, indent=2))


async def main_async(args: argparse.Namespace) -> None:
    run = uuid.uuid4().hex[:6]
    t = {k: f"bench-{k}-{run}" for k in ("telemetry", "panes", "dlq", "decisions", "state", "ping")}
    t["group"] = f"bench-{run}"
    sizes = {t[k]: args.partitions for k in ("telemetry", "panes", "dlq", "decisions")}
    await create_topics(args.bootstrap, {**sizes, t["ping"]: 1})
    log_dir = Path(args.log_dir)
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    stages = start_stages(args.bootstrap, t, log_dir, args.lateness_ms)
    context = multiprocessing.get_context("spawn")
    commands, results = context.Queue(), context.Queue()
    watch = {
        "bootstrap": args.bootstrap,
        "panes": t["panes"],
        "decisions": t["decisions"],
        "ping": t["ping"],
    }
    monitor = context.Process(target=monitor_main, args=(watch, commands, results))
    monitor.start()
    try:
        await asyncio.to_thread(results.get)  # monitor ready
        load = Load(args.bootstrap, t["telemetry"], args.partitions)
        await load.producer.start()
        probes = [(args.warmup + i * args.interval, f"probe-{run}-{i}") for i in range(args.probes)]
        seconds = args.warmup + args.probes * args.interval + args.tail
        print(
            f"load: {args.rate:g} events/s for {seconds:g} s, {args.probes} probes", file=sys.stderr
        )
        achieved = await run_load(load, args.rate, seconds, probes)
        await load.producer.stop()
        commands.put("stop")
        done = await asyncio.to_thread(results.get)
        report(args, achieved, done["seen"], done["pings"])
    finally:
        monitor.join(timeout=30)
        for process in stages:
            process.terminate()
            process.wait(timeout=30)
        await delete_topics(args.bootstrap, [v for k, v in t.items() if k != "group"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--rate", type=float, default=50_000, help="events/s (default 50000)")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.5, help="seconds between probes")
    parser.add_argument("--warmup", type=float, default=10.0, help="load before the first probe")
    parser.add_argument("--tail", type=float, default=12.0, help="load after the last probe")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument(
        "--lateness-ms", type=int, default=5000, help="stage 1's allowed lateness (default 5000)"
    )
    parser.add_argument(
        "--log-dir",
        default=str(Path(tempfile.gettempdir()) / "alertpipe-bench"),
        help="the stages' logs go here",
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
