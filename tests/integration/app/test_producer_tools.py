"""replay and simulate round-trip through the real Kafka, driven through the CLI."""

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from schemas.telemetry import RequestEvent, parse_event
from streams.producer import TelemetryProducer
from tests.conftest import consume


def _cli(*args: str, topic: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ALERTPIPE_TOPICS__TELEMETRY=topic)
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def test_replay_rebases_to_now_and_keeps_gaps(
    bootstrap: str, make_topic, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    topic = await make_topic("replay")
    recorded = [0.0, 0.5, 1.5, 3.0]
    path = tmp_path / "incident.jsonl"
    path.write_bytes(
        b"\n".join(
            orjson.dumps(
                {
                    "kind": "request",
                    "ts": 1_600_000_000 + off,
                    "service": "chat-api",
                    "endpoint": "POST /api/message",
                    "status": 200,
                    "latency_ms": 10,
                }
            )
            for off in recorded
        )
    )
    before = time.time()
    done = _cli("replay", str(path), "--speed", "2", topic=topic)
    assert done.returncode == 0, done.stderr
    assert "replay: 4/4 (100%) events sent" in done.stdout
    events = [parse_event(v) for _, v in await consume(bootstrap, topic, 4)]
    stamps = [e.ts for e in events]
    assert before - 1 < stamps[0] < time.time()  # rebased to now
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert gaps == pytest.approx([0.25, 0.5, 0.75], abs=1e-3)  # gaps kept, halved by --speed 2


async def test_replay_refuses_a_bad_file_naming_line_and_field(make_topic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    topic = await make_topic("replay-bad")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"kind":"queue","ts":1,"service":"s","queue":"q","depth":"deep"}\n')
    done = _cli("replay", str(path), topic=topic)
    assert done.returncode == 2
    assert "line 1: depth:" in done.stderr


async def test_simulate_backfill_round_trips(bootstrap: str, make_topic) -> None:  # type: ignore[no-untyped-def]
    topic = await make_topic("simulate", partitions=3)
    done = _cli(
        "simulate",
        "--scenario",
        "s1",
        "--backfill",
        "--warmup",
        "5",
        "--duration",
        "5",
        "--rate",
        "100",
        topic=topic,
    )
    assert done.returncode == 0, done.stderr
    sent = int(done.stdout.split("events sent")[0].split()[-1].split("/")[0].replace(",", ""))
    messages = await consume(bootstrap, topic, sent)
    events = [parse_event(v) for _, v in messages]
    assert len(events) == sent
    assert all(key == e.service.encode() for (key, _), e in zip(messages, events, strict=True))
    errors = [
        e
        for e in events
        if isinstance(e, RequestEvent) and e.status >= 500 and e.endpoint == "POST /api/message"
    ]
    assert errors and {e.version for e in errors} <= {"2.4.0", "2.3.9"}
    assert max(e.ts for e in events) <= time.time()


async def test_producer_api_refuses_bad_events_before_sending(bootstrap: str, make_topic) -> None:  # type: ignore[no-untyped-def]
    from schemas.telemetry import InvalidEvent

    topic = await make_topic("sdk")
    async with TelemetryProducer(bootstrap, topic) as producer:
        with pytest.raises(InvalidEvent, match="latency_ms"):
            await producer.send(
                {
                    "kind": "request",
                    "ts": time.time(),
                    "service": "a",
                    "endpoint": "GET /",
                    "status": 200,
                    "latency_ms": -5,
                }
            )
        await producer.send(
            {
                "kind": "request",
                "ts": time.time(),
                "service": "a",
                "endpoint": "GET /",
                "status": 200,
                "latency_ms": 5,
            }
        )
    assert producer.sent == 1
    [(key, value)] = await consume(bootstrap, topic, 1)
    assert key == b"a" and parse_event(value).latency_ms == 5
