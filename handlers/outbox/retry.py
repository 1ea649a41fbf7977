"""Retryability is part of the result (Alertmanager's ``(retry, err)``).

``classify_status`` is the one place that reads an HTTP status: 2xx done, 429 and 5xx retry,
any other status fails for good. ``after_attempt`` turns a result and the attempt count into
the outbox's next move: sent, retry at a time (exponential backoff, or the receiver's
Retry-After when it gave one), or give up — with the reason. A kind that is retried
``until_delivered`` (pages: ``handlers.actions``) is never given up for its attempt count:
its retries go on, capped, until it is delivered or its incident ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any, Literal

from handlers.config import DeliveryConfig

__all__ = [
    "Next",
    "NextReason",
    "SendResult",
    "after_attempt",
    "backoff",
    "classify_status",
    "parse_retry_after",
]


@dataclass(frozen=True)
class SendResult:
    """What one attempt gave. ``retry`` says whether trying again can help."""

    ok: bool
    retry: bool = False
    error: str | None = None
    status: int | None = None
    retry_after: float | None = None
    answer: Any = None  # a 2xx answer's JSON body, for receivers whose answer is a result

    @staticmethod
    def success(status: int | None = None, answer: Any = None) -> SendResult:
        return SendResult(ok=True, status=status, answer=answer)


def classify_status(status: int) -> tuple[bool, bool]:
    """(ok, retry) for an HTTP status."""
    if 200 <= status < 300:
        return True, False
    if status == 429 or status >= 500:
        return False, True
    return False, False


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return None


def backoff(attempt: int, cfg: DeliveryConfig) -> float:
    """Delay after the ``attempt``-th failed attempt (1-based): initial × 2^(attempt-1), capped."""
    return float(min(cfg.backoff_max_s, cfg.backoff_initial_s * 2 ** max(0, attempt - 1)))


class NextReason(StrEnum):
    SENT = "sent"
    RETRY_AFTER = "receiver asked to retry after a delay"
    BACKOFF = "retryable failure: exponential backoff"
    NOT_RETRYABLE = "failure that retrying cannot fix"
    EXHAUSTED = "retries exhausted"
    UNTIL_DELIVERED = "retried until delivered while its incident is open: capped backoff"


@dataclass(frozen=True)
class Next:
    outcome: Literal["sent", "retry", "failed"]
    reason: NextReason
    at: float | None = None


def after_attempt(
    result: SendResult,
    attempts: int,
    now: float,
    cfg: DeliveryConfig,
    *,
    until_delivered: bool = False,
) -> Next:
    if result.ok:
        return Next("sent", NextReason.SENT)
    if not result.retry:
        return Next("failed", NextReason.NOT_RETRYABLE)
    if attempts >= cfg.max_attempts and not until_delivered:
        return Next("failed", NextReason.EXHAUSTED)
    if result.retry_after is not None:
        delay = min(result.retry_after, cfg.retry_after_max_s)
        return Next("retry", NextReason.RETRY_AFTER, now + delay)
    why = NextReason.UNTIL_DELIVERED if attempts >= cfg.max_attempts else NextReason.BACKOFF
    return Next("retry", why, now + backoff(attempts, cfg))
