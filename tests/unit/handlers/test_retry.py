"""Retryability is part of the result: one status classifier, durable backoff, Retry-After."""

from __future__ import annotations

import pytest

from handlers.config import DeliveryConfig
from handlers.outbox.retry import (
    NextReason,
    SendResult,
    after_attempt,
    backoff,
    classify_status,
    parse_retry_after,
)

CFG = DeliveryConfig(backoff_initial_s=1, backoff_max_s=10, max_attempts=4, retry_after_max_s=60)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, (True, False)),
        (202, (True, False)),
        (400, (False, False)),
        (404, (False, False)),
        (409, (False, False)),
        (429, (False, True)),
        (500, (False, True)),
        (503, (False, True)),
    ],
)
def test_classify_status(status: int, expected: tuple[bool, bool]) -> None:
    assert classify_status(status) == expected


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff(n, CFG) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(
    ("result", "attempts", "outcome", "reason", "at"),
    [
        (SendResult.success(200), 1, "sent", NextReason.SENT, None),
        (SendResult(False, False, "HTTP 400", 400), 1, "failed", NextReason.NOT_RETRYABLE, None),
        (SendResult(False, True, "HTTP 503", 503), 2, "retry", NextReason.BACKOFF, 102.0),
        (SendResult(False, True, "HTTP 429", 429, 7.0), 1, "retry", NextReason.RETRY_AFTER, 107.0),
        (
            SendResult(False, True, "HTTP 429", 429, 900.0),
            1,
            "retry",
            NextReason.RETRY_AFTER,
            160.0,
        ),
        (SendResult(False, True, "timeout"), 4, "failed", NextReason.EXHAUSTED, None),
    ],
)
def test_after_attempt(
    result: SendResult, attempts: int, outcome: str, reason: NextReason, at: float | None
) -> None:
    nxt = after_attempt(result, attempts, 100.0, CFG)
    assert (nxt.outcome, nxt.reason, nxt.at) == (outcome, reason, at)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert parse_retry_after("3", 0) == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", 1445412480.0) == 10.0
    assert parse_retry_after("soon", 0) is None and parse_retry_after(None, 0) is None


@pytest.mark.parametrize(
    ("result", "attempts", "reason", "at"),
    [
        (SendResult(False, True, "timeout"), 4, NextReason.UNTIL_DELIVERED, 108.0),
        (SendResult(False, True, "HTTP 500", 500), 40, NextReason.UNTIL_DELIVERED, 110.0),
        (SendResult(False, True, "HTTP 429", 429, 7.0), 9, NextReason.RETRY_AFTER, 107.0),
        (SendResult(False, True, "HTTP 503", 503), 2, NextReason.BACKOFF, 102.0),
    ],
)
def test_a_kind_retried_until_delivered_is_never_given_up_for_its_attempts(
    result: SendResult, attempts: int, reason: NextReason, at: float
) -> None:
    nxt = after_attempt(result, attempts, 100.0, CFG, until_delivered=True)
    assert (nxt.outcome, nxt.reason, nxt.at) == ("retry", reason, at)


def test_a_refusal_fails_even_a_kind_retried_until_delivered() -> None:
    refused = SendResult(False, False, "HTTP 400", 400)
    nxt = after_attempt(refused, 1, 100.0, CFG, until_delivered=True)
    assert (nxt.outcome, nxt.reason) == ("failed", NextReason.NOT_RETRYABLE)
