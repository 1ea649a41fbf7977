"""A non-Python producer (kcat, librdkafka's CLI) writes plain JSON; our schemas read it."""

import shutil
import subprocess

import pytest

from schemas.telemetry import InvalidEvent, RequestEvent, parse_event
from tests.conftest import consume

pytestmark = pytest.mark.skipif(
    shutil.which("kcat") is None, reason="kcat is not installed (make tools)"
)

LINES = [
    'chat-api|{"kind":"request","ts":"2026-11-25T17:00:00Z","service":"chat-api","endpoint":"POST /api/message","status":503,"latency_ms":812.5,"version":"2.4.0"}',
    'chat-api|{"kind":"request","ts":1795626000250,"service":"chat-api","endpoint":"POST /api/message","status":200,"latency_ms":41}',
    'bot-runner|{"kind":"bot","ts":1795626001,"service":"bot-runner","bot_id":"bot-7","status":"crashed","extra":"ok"}',
    'chat-api|{"kind":"request","ts":1795626002,"service":"chat-api","endpoint":"POST /api/message","status":"oops","latency_ms":1}',
    "chat-api|not json at all",
]


async def test_kcat_json_is_consumed_and_validated(bootstrap: str, make_topic) -> None:  # type: ignore[no-untyped-def]
    topic = await make_topic("kcat")
    subprocess.run(
        ["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "|"],
        input="\n".join(LINES) + "\n",
        text=True,
        check=True,
        timeout=30,
    )
    messages = await consume(bootstrap, topic, len(LINES))
    assert [key for key, _ in messages] == [
        b"chat-api",
        b"chat-api",
        b"bot-runner",
        b"chat-api",
        b"chat-api",
    ]
    first, second, third = (parse_event(value) for _, value in messages[:3])
    assert isinstance(first, RequestEvent) and first.status == 503 and first.latency_ms == 812.5
    assert second.ts == pytest.approx(1795626000.25)  # epoch ms recognised
    assert third.kind == "bot"
    reasons = []
    for _, value in messages[3:]:
        with pytest.raises(InvalidEvent) as caught:
            parse_event(value)
        reasons.append(caught.value.reason)
    assert reasons[0].startswith("status:") and reasons[1].startswith("not valid JSON")
