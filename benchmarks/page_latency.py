"""Decision → incident → first page, polling against LISTEN/NOTIFY (a script, not a test).

    .venv/bin/python benchmarks/page_latency.py                  # 60 decisions each way
    .venv/bin/python benchmarks/page_latency.py --decisions 200 --interval 0.3

Runs the responder (``alertpipe run --role responder``, its own process) on the local Kafka
and PostgreSQL, with fresh topics, groups and database schema, twice in the same run:

(a) ``ALERTPIPE_DATABASE_NOTIFY=false``: its workers find committed work by polling (the
    outbox every ``delivery.poll_s`` = 0.5 s, as before notifications existed);
(b) notifications on (the default): committed work wakes the worker that takes it.

Each time this script produces ``--decisions`` CRITICAL firing decisions (after one that is
not timed, paged end to end first: the consumer group has joined, the pools are warm), each
for a new service (so each opens an incident and pages), one every ``--interval`` seconds, on the
decisions topic with acks=all: the broker's acknowledgement is the decision's time, when a
consumer can first see it. The pager URL points at a loopback server here, which notes when
each PagerDuty trigger arrives. Reported: p50 / p99 / max of decision → page for (a) and
(b), and the ratio b/a.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.detection import cleanup_alertpipe, free_port, wait_alertpipe  # noqa: E402

DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DEFAULT_DSN = os.environ.get(
    "ALERTPIPE_DATABASE_URL", "postgresql://alertpipe@127.0.0.1:54329/alertpipe"
)


def decision(service: str, at_ms: int) -> bytes:
    fingerprint = f"core-error-rate-critical|{service}|endpoint|POST /api/message"
    return orjson.dumps({
        "v": 1, "decision_id": f"{fingerprint}:1", "fingerprint": fingerprint,
        "rule": "core-error-rate-critical", "scope": {"endpoint": "POST /api/message"},
        "service": service, "state": "firing", "previous": "inactive", "severity": "CRITICAL",
        "response": "rollback", "scenario": "S1", "at_ms": at_ms,
        "evidence": {"metric": "error_rate", "window_start_ms": at_ms - 60_000,
                     "window_end_ms": at_ms, "observed": 0.2, "comparison": ">",
                     "threshold": 0.1, "samples": 12_000, "min_samples": 20},
        "version": "2.4.0", "last_good_version": "2.3.9",
        "summary": f"CRITICAL firing: error_rate 20% > 10% over 1m on {service}",
    })  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 0.5) * 1000, 1),
        "p99_ms": round(percentile(values, 0.99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


async def one_run(args: argparse.Namespace, notify: bool, logs: Path) -> list[float]:
    run = uuid.uuid4().hex[:6]
    pages: dict[str, float] = {}
    all_paged, warmed = asyncio.Event(), asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        now = time.time()
        body = await request.json()
        if request.match_info["receiver"] == "pager" and body.get("event_action") == "trigger":
            service = str(body["payload"]["source"])
            if service.endswith("-warmup"):
                warmed.set()
                return web.json_response({"status": "success", "ok": True})
            pages.setdefault(service, now)
            if len(pages) >= args.decisions:
                all_paged.set()
        return web.json_response({"status": "success", "ok": True})

    app = web.Application()
    app.router.add_post("/{receiver}", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = _env(args, run, port, notify)
    log_dir = logs / ("notify" if notify else "poll")
    log_dir.mkdir(exist_ok=True)
    process = _start(env, log_dir / "alertpipe.log")
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, acks="all", linger_ms=0)
    sent: dict[str, float] = {}
    try:
        await wait_alertpipe(process, log_dir)
        await producer.start()
        topic = env["ALERTPIPE_TOPICS__DECISIONS"]
        # Not timed: one decision paged end to end first (consumer group joined, pools warm).
        warmup = f"svc-{run}-warmup"
        await producer.send_and_wait(
            topic, decision(warmup, int(time.time() * 1000)), key=warmup.encode()
        )
        await asyncio.wait_for(warmed.wait(), 120)
        for i in range(args.decisions):
            service = f"svc-{run}-{i}"
            value = decision(service, int(time.time() * 1000))
            await producer.send_and_wait(topic, value, key=service.encode())
            sent[service] = time.time()
            await asyncio.sleep(args.interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_paged.wait(), 30)
    finally:
        await producer.stop()
        process.terminate()
        process.wait(timeout=30)
        await runner.cleanup()
        await cleanup_alertpipe(args, env)
    missing = set(sent) - set(pages)
    if missing:
        print(f"  {len(missing)} decisions paged no one within 30 s", file=sys.stderr)
    return [pages[s] - sent[s] for s in sent if s in pages]


def _env(args: argparse.Namespace, run: str, port: int, notify: bool) -> dict[str, str]:
    hook = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    env.update({
        "ALERTPIPE_KAFKA_BOOTSTRAP": args.bootstrap, "ALERTPIPE_DATABASE_URL": args.dsn,
        "ALERTPIPE_DATABASE_SCHEMA": f"bench_page_{run}", "ALERTPIPE_GROUP_PREFIX": f"bench-{run}",
        "ALERTPIPE_HTTP_PORT": "0", "ALERTPIPE_LOG_LEVEL": "WARNING",
        "ALERTPIPE_DATABASE_NOTIFY": "true" if notify else "false",
        "ALERTPIPE_EVALUATOR__STATE_TOPIC": f"bench-{run}.alerts.state",
        "PYTHONPATH": str(ROOT),
    })  # fmt: skip
    for name in ("telemetry", "dead_letter", "panes", "decisions", "incidents"):
        env[f"ALERTPIPE_TOPICS__{name.upper()}"] = f"bench-{run}.{name}"
    for name in ("pager", "chat", "statuspage", "breaker", "rollback", "restore", "bot_restart"):
        env[f"ALERTPIPE_{name.upper()}_URL"] = f"{hook}/{name}"
    # Required once their URLs are set (docs/response.md); the loopback receiver ignores them.
    env["ALERTPIPE_PAGER_ROUTING_KEY"] = "B3nchmarkR0utingKey0000000000000"
    env["ALERTPIPE_STATUSPAGE_API_KEY"] = "benchmark-statuspage-key"
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    sink = log.open("ab")
    command = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]
    return subprocess.Popen(
        [*command, "run", "--role", "responder"], cwd=ROOT, env=env, stdout=sink, stderr=sink
    )


async def main_async(args: argparse.Namespace) -> None:
    logs = Path(args.log_dir)
    results: dict[str, Any] = {}
    for pair in range(args.pairs):
        for notify in (False, True):
            name = "b_notify" if notify else "a_poll"
            latencies = await one_run(args, notify, logs)
            results.setdefault(name, []).extend(latencies)
            print(f"pair {pair + 1} {name}: {summary(latencies)}", file=sys.stderr)
    a, b = summary(results["a_poll"]), summary(results["b_notify"])
    print(orjson.dumps({
        "decisions": args.decisions * args.pairs, "a_poll": a, "b_notify": b,
        "ratio_p50": round(b["p50_ms"] / a["p50_ms"], 3),
        "ratio_p99": round(b["p99_ms"] / a["p99_ms"], 3),
    }, option=orjson.OPT_INDENT_2).decode())  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--decisions", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between decisions")
    parser.add_argument("--pairs", type=int, default=1, help="a, b repeated")
    parser.add_argument(
        "--log-dir", default=str(Path(tempfile.gettempdir()) / "alertpipe-page-latency")
    )
    args = parser.parse_args()
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
