"""Fault onset → page: alertpipe side by side with Prometheus + Alertmanager (a script).

    .venv/bin/python benchmarks/detection.py                        # 4 trials
    .venv/bin/python benchmarks/detection.py --trials 6 --background 50000
    .venv/bin/python benchmarks/detection.py --alertpipe-root /tmp/main   # another checkout

One synthetic service per trial serves ``POST /api/message`` at ``--rate`` requests/s (200).
Every request is counted twice at the same instant: in a Prometheus counter
(``bench_http_requests_total{service, code}``, served on ``/metrics`` for Prometheus to
scrape) and as a request event sent to alertpipe's telemetry topic (event time = now). After
a warm-up longer than the window its 5xx rate steps from ``--before`` (0.5%) to ``--after``
(20%) at T0; the trials are staggered ``--gap`` seconds apart, each on a fresh service, so
every page is a first page.

Both systems judge the same thing: 5xx > 10% of the requests of the last minute.

* alertpipe: ``alertpipe run`` (every role, one process) on the local Kafka and PostgreSQL,
  with fresh topics, groups and database schema, its built-in policy (``core-error-rate-
  critical``: > 10% over 1 m, at least 20 requests) and the pager pointed at this script.
  Its page is the PagerDuty trigger with severity ``critical``.
* Prometheus + Alertmanager, tuned to the same window: scrape and rule evaluation every 1 s,
  ``sum by (service) (rate(5xx[1m])) / sum by (service) (rate(all[1m])) > 0.10``,
  ``for: 0s``, Alertmanager ``group_wait: 1s`` to a webhook on this script. The Debian
  packages ``prometheus`` and ``prometheus-alertmanager`` are installed with apt-get when
  missing; both listen on loopback ports of their own and keep their data in a temporary
  folder.

Reported per trial and as min / median / max over the trials:

* the window-math crossing: the first instant after T0 at which the requests actually sent
  in the trailing minute are more than 10% errors (both systems would agree on it with an
  infinitely fine clock);
* alertpipe's own crossing: the first pane end (1 s panes) at which the minute before it is
  over 10% — the earliest its window math can say so;
* T0 → page for each system, each system's overhead beyond the crossing, and the ratio
  alertpipe / Prometheus of T0 → page (< 1: alertpipe paged first);
* alertpipe's breakdown: crossing pane end → pane visible on the panes topic (committed) →
  CRITICAL decision visible → page received.

``--background N`` adds N events/s of healthy request traffic from other services on the
same telemetry topic, produced by a separate process. ``--split`` runs alertpipe's roles as
three processes (aggregator; evaluator; responder and API), as a deployment under load would:
in one process, stage 1's batches share the event loop with every other stage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientSession, web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BOOTSTRAP = os.environ.get("ALERTPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
DEFAULT_DSN = os.environ.get(
    "ALERTPIPE_DATABASE_URL", "postgresql://alertpipe@127.0.0.1:54329/alertpipe"
)
ENDPOINT = "POST /api/message"
WINDOW_S = 60.0
THRESHOLD = 0.10
MIN_SAMPLES = 20
PANE_S = 1.0
TICK_S = 0.01
PACKAGES = ("prometheus", "prometheus-alertmanager")


# --- the two Prometheus processes ------------------------------------------------------------


def ensure_installed() -> None:
    """apt-get install the Debian packages when a binary is missing (as root, else sudo -n)."""
    if all(shutil.which(b) for b in ("prometheus", "prometheus-alertmanager")):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(PACKAGES)} with apt-get …", file=sys.stderr)
    if subprocess.run(install, env=env, check=False).returncode:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PROMETHEUS_YML = """\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: bench
    scrape_interval: 1s
    static_configs: [{{targets: ["127.0.0.1:{service_port}"]}}]
"""

RULES_YML = """\
groups:
  - name: bench
    interval: 1s
    rules:
      - alert: ErrorRateCritical
        expr: >
          sum by (service) (rate(bench_http_requests_total{code=~"5.."}[1m]))
          / sum by (service) (rate(bench_http_requests_total[1m])) > 0.10
        for: 0s
        labels: {severity: critical}
"""

ALERTMANAGER_YML = """\
route:
  receiver: bench
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: bench
    webhook_configs:
      - url: "http://127.0.0.1:{port}/alertmanager"
        send_resolved: false
"""


def start_prometheus(
    work: Path, service_port: int, hook_port: int, logs: Path
) -> tuple[list[subprocess.Popen[bytes]], int]:
    prom_port, am_port = free_port(), free_port()
    (work / "rules.yml").write_text(RULES_YML)
    (work / "prometheus.yml").write_text(
        PROMETHEUS_YML.format(rules=work / "rules.yml", am_port=am_port, service_port=service_port)
    )
    (work / "alertmanager.yml").write_text(ALERTMANAGER_YML.format(port=hook_port))
    sink = (logs / "prometheus.log").open("ab")
    alertmanager = subprocess.Popen(
        ["prometheus-alertmanager", f"--config.file={work / 'alertmanager.yml'}",
         f"--storage.path={work / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
         "--cluster.listen-address="],
        stdout=sink, stderr=sink,
    )  # fmt: skip
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=sink, stderr=sink,
    )  # fmt: skip
    return [alertmanager, prometheus], prom_port


async def wait_http(url: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    async with ClientSession() as http:
        while True:
            with contextlib.suppress(Exception):
                async with http.get(url) as answer:
                    if answer.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {within_s:g} s")
            await asyncio.sleep(0.2)


# --- alertpipe -------------------------------------------------------------------------------


def alertpipe_env(args: argparse.Namespace, run: str, hook_port: int) -> dict[str, str]:
    hook = f"http://127.0.0.1:{hook_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    env.update({
        "ALERTPIPE_KAFKA_BOOTSTRAP": args.bootstrap,
        "ALERTPIPE_DATABASE_URL": args.dsn,
        "ALERTPIPE_DATABASE_SCHEMA": f"bench_detection_{run}",
        "ALERTPIPE_GROUP_PREFIX": f"bench-{run}",
        "ALERTPIPE_HTTP_PORT": "0",
        "ALERTPIPE_LOG_LEVEL": "WARNING",
        "ALERTPIPE_AGGREGATOR__ALLOWED_LATENESS_MS": str(args.lateness_ms),
        "ALERTPIPE_EVALUATOR__OFFSET_RESET": "earliest",
        "ALERTPIPE_EVALUATOR__STATE_TOPIC": f"bench-{run}.alerts.state",
        "PYTHONPATH": str(args.alertpipe_root),
    })  # fmt: skip
    if args.policy:
        env["ALERTPIPE_POLICY"] = str(Path(args.policy).resolve())
    for name in ("telemetry", "dead_letter", "panes", "decisions", "incidents"):
        env[f"ALERTPIPE_TOPICS__{name.upper()}"] = f"bench-{run}.{name}"
    for name in ("pager", "chat", "statuspage", "breaker", "rollback", "restore", "bot_restart"):
        env[f"ALERTPIPE_{name.upper()}_URL"] = f"{hook}/{name}"
    # Required once their URLs are set (docs/response.md); the loopback receiver ignores them.
    env["ALERTPIPE_PAGER_ROUTING_KEY"] = "B3nchmarkR0utingKey0000000000000"
    env["ALERTPIPE_STATUSPAGE_API_KEY"] = "benchmark-statuspage-key"
    return env


# ``--split``: the roles as separate processes, as a deployment with load would run them.
SPLIT = (("aggregator",), ("evaluator",), ("responder", "api"))


def start_alertpipe(
    args: argparse.Namespace, env: dict[str, str], logs: Path, roles: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """``alertpipe run`` (with ``--role`` for each of ``roles``); its log in ``logs``."""
    name = "-".join(roles) or "alertpipe"
    sink = (logs / f"{name}.log").open("ab")
    command = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]
    command += ["run", *(f"--role={role}" for role in roles)]
    return subprocess.Popen(command, cwd=args.alertpipe_root, env=env, stdout=sink, stderr=sink)


async def wait_alertpipe(
    process: subprocess.Popen[bytes], logs: Path, roles: tuple[str, ...] = ()
) -> None:
    """Until ``alertpipe run`` says it is running (it prints its URL)."""
    log = logs / f"{'-'.join(roles) or 'alertpipe'}.log"
    deadline = time.monotonic() + 120
    while "alertpipe: running" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"alertpipe did not start:\n{tail}")
        await asyncio.sleep(0.2)


async def cleanup_alertpipe(args: argparse.Namespace, env: dict[str, str]) -> None:
    import asyncpg
    from aiokafka.admin import AIOKafkaAdminClient

    conn = await asyncpg.connect(args.dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{env["ALERTPIPE_DATABASE_SCHEMA"]}" CASCADE')
    finally:
        await conn.close()
    admin = AIOKafkaAdminClient(bootstrap_servers=args.bootstrap)
    await admin.start()
    try:
        prefix = env["ALERTPIPE_GROUP_PREFIX"] + "."
        await admin.delete_topics([t for t in await admin.list_topics() if t.startswith(prefix)])
    finally:
        await admin.close()


# --- the synthetic services, the receivers, the monitor ---------------------------------------


@dataclass
class Trial:
    service: str
    t0: float  # wall clock of the step
    sent: list[tuple[float, bool]] = field(default_factory=list)  # (time, 5xx)
    pages: dict[str, float] = field(default_factory=dict)  # system -> received at
    pane_visible: dict[float, float] = field(default_factory=dict)  # pane end -> visible at
    decision_visible: float | None = None
    decision_at: float | None = None  # the decision's event time (its pane end)


class Bench:
    """The synthetic services' counters and /metrics, and the receivers of both systems."""

    def __init__(self, trials: list[Trial]) -> None:
        self.trials = {t.service: t for t in trials}
        self.counts: dict[tuple[str, str], int] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.metrics)
        app.router.add_post("/{receiver}", self.receive)
        return app

    async def metrics(self, request: web.Request) -> web.Response:
        lines = ["# TYPE bench_http_requests_total counter"]
        lines += [
            f'bench_http_requests_total{{service="{s}",code="{c}"}} {n}'
            for (s, c), n in sorted(self.counts.items())
        ]
        return web.Response(text="\n".join(lines) + "\n")

    async def receive(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.json()
        receiver = request.match_info["receiver"]
        if receiver == "pager":
            payload = body.get("payload") or {}
            trial = self.trials.get(str(payload.get("source")))
            if trial and payload.get("severity") == "critical":
                trial.pages.setdefault("alertpipe", now)
        elif receiver == "alertmanager":
            for alert in body.get("alerts", []):
                trial = self.trials.get(alert.get("labels", {}).get("service", ""))
                if trial and alert.get("status") == "firing":
                    trial.pages.setdefault("prometheus", now)
        return web.json_response({"status": "success", "ok": True})


async def drive(
    bench: Bench, trials: list[Trial], args: argparse.Namespace, topic: str, stop: asyncio.Event
) -> None:
    """Every trial's service at ``args.rate`` requests/s until ``stop``; each request counted
    for Prometheus and sent to Kafka at the same instant."""
    producer = AIOKafkaProducer(bootstrap_servers=args.bootstrap, linger_ms=2, acks=1)
    await producer.start()
    rnd = random.Random(args.seed)
    per_tick = args.rate * TICK_S
    owed = 0.0
    started = time.time()
    tick = 0
    try:
        while not stop.is_set():
            owed += per_tick
            n, owed = int(owed), owed - int(owed)
            now = time.time()
            for trial in trials:
                p = args.after if trial.t0 <= now and not _done(trial, args) else args.before
                for i in range(n):
                    at = now - TICK_S + TICK_S * (i + 1) / n
                    error = rnd.random() < p
                    key = (trial.service, "500" if error else "200")
                    bench.counts[key] = bench.counts.get(key, 0) + 1
                    trial.sent.append((at, error))
                    event = {"kind": "request", "ts": round(at, 4), "service": trial.service,
                             "endpoint": ENDPOINT, "status": 500 if error else 200,
                             "latency_ms": 40.0, "version": "1.0.0"}  # fmt: skip
                    await producer.send(topic, orjson.dumps(event), key=trial.service.encode())
            tick += 1
            await asyncio.sleep(max(0.0, started + tick * TICK_S - time.time()))
    finally:
        await producer.stop()


def _done(trial: Trial, args: argparse.Namespace) -> bool:
    """A trial's service goes back to healthy once both systems paged (or it timed out)."""
    return len(trial.pages) == 2 or time.time() > trial.t0 + args.timeout


async def monitor(
    trials: list[Trial], args: argparse.Namespace, run: str, stop: asyncio.Event
) -> None:
    """When each trial's panes and CRITICAL decision become visible (read_committed)."""
    by_service = {t.service: t for t in trials}
    panes, decisions = f"bench-{run}.panes", f"bench-{run}.decisions"
    consumer = AIOKafkaConsumer(
        panes, decisions, bootstrap_servers=args.bootstrap, isolation_level="read_committed",
        auto_offset_reset="earliest", metadata_max_age_ms=1000,
    )  # fmt: skip
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for tp, records in batch.items():
                for record in records:
                    value = orjson.loads(record.value)
                    if tp.topic == panes:
                        trial = by_service.get(value["scope"]["service"])
                        if trial is not None:
                            trial.pane_visible.setdefault(value["end_ms"] / 1000, now)
                    else:
                        trial = by_service.get(value.get("service", ""))
                        if (
                            trial is not None
                            and value.get("rule") == "core-error-rate-critical"
                            and value.get("state") == "firing"
                            and trial.decision_visible is None
                        ):
                            trial.decision_visible = now
                            trial.decision_at = value["at_ms"] / 1000
    finally:
        await consumer.stop()


# --- window math -----------------------------------------------------------------------------


def crossing(sent: list[tuple[float, bool]], t0: float) -> float | None:
    """The first instant after ``t0`` at which the trailing minute holds > 10% errors."""
    times = [t for t, _ in sent]
    candidates = sorted({t for t in times if t >= t0} | {t + WINDOW_S for t in times})
    window: deque[tuple[float, bool]] = deque()
    errors, i = 0, 0
    for at in candidates:
        while i < len(sent) and sent[i][0] <= at:
            window.append(sent[i])
            errors += sent[i][1]
            i += 1
        while window and window[0][0] <= at - WINDOW_S:
            errors -= window.popleft()[1]
        if at >= t0 and len(window) >= MIN_SAMPLES and errors > THRESHOLD * len(window):
            return at
    return None


def pane_crossing(sent: list[tuple[float, bool]], t0: float) -> float | None:
    """The first pane end after ``t0`` whose minute [end - 60 s, end) is over 10%."""
    end = math.floor(t0 / PANE_S) * PANE_S + PANE_S
    last = sent[-1][0] if sent else t0
    while end <= last + PANE_S:
        inside = [e for t, e in sent if end - WINDOW_S <= t < end]
        if len(inside) >= MIN_SAMPLES and sum(inside) > THRESHOLD * len(inside):
            return end
        end += PANE_S
    return None


# --- background load -------------------------------------------------------------------------


def background_main(bootstrap: str, topic: str, rate: float, seconds: float) -> None:
    """``rate`` healthy request events/s of 8 other services for ``seconds`` (own process)."""

    async def run() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks=1, linger_ms=5, max_batch_size=1024 * 1024
        )
        await producer.start()
        services = [f"bg-{n}" for n in range(8)]
        started, tick, n = time.time(), 0, 0
        try:
            while time.time() - started < seconds:
                now = time.time()
                count = int(rate * 0.05)
                batches: dict[str, Any] = {}
                for i in range(count):
                    n += 1
                    service = services[n % len(services)]
                    ts = round(now - 0.05 + 0.05 * i / count, 4)
                    value = orjson.dumps({"kind": "request", "ts": ts, "service": service,
                                          "endpoint": f"GET /api/r{n % 6}",
                                          "status": 503 if n % 200 == 0 else 200,
                                          "latency_ms": 40.0 + n % 50})  # fmt: skip
                    batch = batches.get(service)
                    if batch is None:
                        batch = batches[service] = producer.create_batch()
                    if batch.append(key=service.encode(), value=value, timestamp=None) is None:
                        await _send(producer, topic, service, batch)
                        batch = batches[service] = producer.create_batch()
                        batch.append(key=service.encode(), value=value, timestamp=None)
                for service, batch in batches.items():
                    await _send(producer, topic, service, batch)
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * 0.05 - time.time()))
        finally:
            await producer.stop()

    asyncio.run(run())


async def _send(producer: AIOKafkaProducer, topic: str, service: str, batch: Any) -> None:
    from aiokafka.partitioner import DefaultPartitioner

    partitions = sorted(await producer.partitions_for(topic))
    partition = DefaultPartitioner()(service.encode(), partitions, partitions)
    await producer.send_batch(batch, topic, partition=partition)


def start_background(args: argparse.Namespace, topic: str, seconds: float) -> Any:
    command = [sys.executable, __file__, "--background-only", str(args.background), "--topic",
               topic, "--seconds", str(seconds), "--bootstrap", args.bootstrap]  # fmt: skip
    return subprocess.Popen(command)


# --- the run ---------------------------------------------------------------------------------


def stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"{min(values):6.2f} / {statistics.median(values):6.2f} / {max(values):6.2f}"
        f"  (n={len(values)})"
    )


def report(trials: list[Trial], args: argparse.Namespace) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for trial in trials:
        window = crossing(trial.sent, trial.t0)
        pane = pane_crossing(trial.sent, trial.t0)
        row: dict[str, Any] = {"service": trial.service}
        if window is not None:
            row["crossing_s"] = window - trial.t0
        if pane is not None:
            row["pane_crossing_s"] = pane - trial.t0
            visible = trial.pane_visible.get(pane)
            if visible is not None:
                row["pane_end_to_visible_s"] = visible - pane
                if trial.decision_visible is not None:
                    row["pane_visible_to_decision_s"] = trial.decision_visible - visible
        for system in ("alertpipe", "prometheus"):
            page = trial.pages.get(system)
            if page is None:
                continue
            row[f"{system}_page_s"] = page - trial.t0
            if window is not None:
                row[f"{system}_overhead_s"] = page - window
        page = trial.pages.get("alertpipe")
        if page is not None and pane is not None:
            row["alertpipe_overhead_own_s"] = page - pane
        if page is not None and trial.decision_visible is not None:
            row["decision_to_page_s"] = page - trial.decision_visible
        if "alertpipe_page_s" in row and "prometheus_page_s" in row:
            row["ratio"] = row["alertpipe_page_s"] / row["prometheus_page_s"]
        rows.append(row)
    return {"rows": rows}


def print_report(result: dict[str, Any], args: argparse.Namespace) -> None:
    rows = result["rows"]
    print(f"\n{len(rows)} trials, {args.rate:g} req/s per service, 5xx {args.before:.1%} → "
          f"{args.after:.0%} at T0, allowed lateness {args.lateness_ms} ms, background "
          f"{args.background:g} events/s")  # fmt: skip
    for row in rows:
        print("  " + "  ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
        ))  # fmt: skip
    print("\nseconds, min / median / max:")
    for key, label in (
        ("crossing_s", "window-math crossing after T0"),
        ("pane_crossing_s", "alertpipe's own crossing (pane end)"),
        ("prometheus_page_s", "Prometheus + Alertmanager: T0 → page"),
        ("alertpipe_page_s", "alertpipe: T0 → page"),
        ("prometheus_overhead_s", "Prometheus overhead beyond the crossing"),
        ("alertpipe_overhead_s", "alertpipe overhead beyond the crossing"),
        ("alertpipe_overhead_own_s", "alertpipe overhead beyond its own crossing"),
        ("pane_end_to_visible_s", "  crossing pane end → pane visible"),
        ("pane_visible_to_decision_s", "  pane visible → decision visible"),
        ("decision_to_page_s", "  decision visible → page"),
        ("ratio", "ratio alertpipe / Prometheus (T0 → page)"),
    ):
        print(f"  {label:<46} {stats([r[key] for r in rows if key in r])}")


async def main_async(args: argparse.Namespace) -> None:
    ensure_installed()
    run = uuid.uuid4().hex[:6]
    logs = Path(args.log_dir)
    first = time.time() + args.warmup
    trials = [Trial(f"bench-{run}-t{i}", first + i * args.gap) for i in range(args.trials)]
    bench = Bench(trials)
    runner = web.AppRunner(bench.app(), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    env = alertpipe_env(args, run, port)
    processes: list[subprocess.Popen[bytes]] = []
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory(prefix="bench-prometheus-") as work:
        try:
            started, prom_port = start_prometheus(Path(work), port, port, logs)
            processes += started
            for roles in SPLIT if args.split else ((),):  # one after the other: one prepares
                processes.append(start_alertpipe(args, env, logs, roles))  # topics and tables
                await wait_alertpipe(processes[-1], logs, roles)
            await wait_http(f"http://127.0.0.1:{prom_port}/-/ready")
            topic = env["ALERTPIPE_TOPICS__TELEMETRY"]
            if args.background:
                seconds = args.warmup + args.trials * args.gap + args.timeout + 30
                processes.append(start_background(args, topic, seconds))
            # Restart the clock now that everything runs: the warm-up counts from here.
            # Each T0 at a random phase of the second: pane ends, scrapes and evaluations fall
            # anywhere relative to the crossing, as they would for a real fault.
            first, phase = time.time() + args.warmup, random.Random(args.seed + 1)
            for i, trial in enumerate(trials):
                trial.t0 = first + i * args.gap + phase.random()
            print(f"run {run}: warm-up {args.warmup:g} s, then a step every {args.gap:g} s",
                  file=sys.stderr)  # fmt: skip
            tasks = [
                asyncio.create_task(drive(bench, trials, args, topic, stop)),
                asyncio.create_task(monitor(trials, args, run, stop)),
            ]
            deadline = trials[-1].t0 + args.timeout
            while time.time() < deadline and not all(len(t.pages) == 2 for t in trials):
                await asyncio.sleep(0.5)
                for task in tasks:
                    if task.done():
                        task.result()
            await asyncio.sleep(1.0)  # a straggling page of the last trial
            stop.set()
            await asyncio.gather(*tasks)
        finally:
            for process in reversed(processes):
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            await runner.cleanup()
            await cleanup_alertpipe(args, env)
    result = report(trials, args)
    print_report(result, args)
    print(orjson.dumps(result).decode())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bootstrap", default=DEFAULT_BOOTSTRAP)
    parser.add_argument("--dsn", default=DEFAULT_DSN)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s per service")
    parser.add_argument("--before", type=float, default=0.005, help="5xx share before T0")
    parser.add_argument("--after", type=float, default=0.20, help="5xx share from T0")
    parser.add_argument("--warmup", type=float, default=75.0, help="seconds before the first T0")
    parser.add_argument("--gap", type=float, default=45.0, help="seconds between trials")
    parser.add_argument("--timeout", type=float, default=90.0, help="give up on a page after")
    parser.add_argument("--background", type=float, default=0.0, help="extra events/s")
    parser.add_argument("--lateness-ms", type=int, default=5000)
    parser.add_argument(
        "--split", action="store_true", help="aggregator, evaluator, responder + api: 3 processes"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--policy",
        help="alertpipe's policy file (default: the built-in plan), e.g. one "
        "without `confidence`, to judge on the point estimate as Prometheus does",
    )
    parser.add_argument("--alertpipe-root", type=Path, default=ROOT, help="checkout to run")
    parser.add_argument(
        "--log-dir", default=str(Path(tempfile.gettempdir()) / "alertpipe-detection")
    )
    parser.add_argument("--background-only", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    Path(args.log_dir).mkdir(parents=True, exist_ok=True)
    if args.background_only is not None:
        background_main(args.bootstrap, args.topic, args.background_only, args.seconds)
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
