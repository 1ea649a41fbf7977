"""One JSON call to a receiver (a POST, or another method on a path below its URL): signed,
with a timeout, its status classified.

Error texts name the receiver and what went wrong, never the URL: receiver URLs are secrets
(a Slack webhook URL is a credential). A refusal keeps the start of the receiver's answer
(``pager: HTTP 400: {"status": "invalid event", …}``), so the timeline says why. httpx logs
each request's URL at INFO on the ``httpx`` logger, so this module drops those lines.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from handlers.outbox.retry import SendResult, classify_status, parse_retry_after
from handlers.receivers.drill_header import DRILL_HEADER, current_drill
from handlers.receivers.signing import HEADER, sign
from schemas.clock import Clock

__all__ = ["ANSWER_KEPT", "WebhookPoster"]

ANSWER_KEPT = 500  # characters of a refusing receiver's answer kept in the error text


class _NoRequestLines(logging.Filter):
    """httpx's request log lines carry the URL; they must not reach the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_NoRequestLines())


class WebhookPoster:
    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        url: str,
        *,
        clock: Clock,
        timeout_s: float,
        secret: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self._client = client
        self._url = url
        self._clock = clock
        self._timeout = timeout_s
        self._secret = secret
        self._extra = dict(headers or {})  # e.g. Statuspage's Authorization

    def _headers(self, body: bytes, key: str) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "User-Agent": "alertpipe/0.1",
            **self._extra,
        }
        if self._secret:
            headers[HEADER] = sign(self._secret, int(self._clock.now()), body)
        drill = current_drill()
        if drill is not None:  # a DR drill's call says so, whatever the receiver's format
            headers[DRILL_HEADER] = drill
        return headers

    async def post(self, body: Mapping[str, Any], key: str) -> SendResult:
        return await self.call("POST", body, key)

    async def call(
        self, method: str, body: Mapping[str, Any] | None, key: str, path: str = ""
    ) -> SendResult:
        """``method`` on the URL (with ``path`` appended), ``body`` as JSON (None: no body)."""
        raw = orjson.dumps(body) if body is not None else b""
        try:
            # One deadline for the whole send: httpx's timeout bounds connect, write, read (per
            # chunk) and the pool wait each, so a trickling receiver could outlast the outbox
            # lease (sized against ``delivery.timeout_s``) and see the action claimed twice.
            async with asyncio.timeout(self._timeout):
                response = await self._client.request(
                    method,
                    self._url.rstrip("/") + path if path else self._url,
                    content=raw,
                    headers=self._headers(raw, key),
                    timeout=self._timeout,
                )
        except (httpx.TimeoutException, TimeoutError):
            return SendResult(False, True, f"{self.name}: no answer within {self._timeout:g} s")
        except httpx.TransportError as error:
            return SendResult(False, True, f"{self.name}: {type(error).__name__}")
        return self._result(response)

    def _result(self, response: httpx.Response) -> SendResult:
        ok, retry = classify_status(response.status_code)
        if ok:
            return SendResult.success(response.status_code, _json_answer(response))
        after = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
        error = f"{self.name}: HTTP {response.status_code}{_said(response)}"
        return SendResult(False, retry, error, response.status_code, after)


def _said(response: httpx.Response) -> str:
    """The start of a refusing receiver's answer, on one line (``: <text>``), if it gave one."""
    text = " ".join(response.content[: ANSWER_KEPT * 4].decode("utf-8", "replace").split())
    if not text:
        return ""
    return f": {text[:ANSWER_KEPT]}" + ("…" if len(text) > ANSWER_KEPT else "")


def _json_answer(response: httpx.Response) -> Any:
    """A small JSON answer, or None (receivers mostly answer with nothing worth reading)."""
    if "json" not in response.headers.get("content-type", "") or len(response.content) > 65536:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
