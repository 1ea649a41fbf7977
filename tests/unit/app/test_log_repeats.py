"""aiokafka's repeated connection errors during a broker outage reach the log once per period,
with the count of those dropped; alertpipe's own lines always pass."""

from __future__ import annotations

import logging

from app.cli import _Repeats


def _record(name: str, msg: str, at: float) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("127.0.0.1:9",), None)
    record.created = at
    return record


def test_each_aiokafka_message_passes_once_per_period_with_the_count_dropped() -> None:
    repeats = _Repeats(every_s=30)
    unable = "Unable connect to node %s"
    passed = [repeats.filter(_record("aiokafka", unable, at)) for at in (100, 101, 102, 129)]
    assert passed == [True, False, False, False]
    later = _record("aiokafka", unable, 131)
    assert repeats.filter(later) and later.getMessage().endswith("(and 3 more like it since)")
    assert repeats.filter(_record("aiokafka.consumer.fetcher", unable, 132))  # another logger
    assert all(repeats.filter(_record("streams.supervise", "kafka down", at)) for at in (1, 2))
