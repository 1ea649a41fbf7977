"""A real HTTP receiver on loopback that records every request and misbehaves on demand.

    async with Recorder() as rec:
        url = rec.url("/pager")                      # http://127.0.0.1:<port>/pager
        rec.fail_next(2, status=503, path="/pager")  # the next 2 requests to /pager get 503
        rec.fail_next(1, status=429, retry_after="1")
        rec.stall_next(1, path="/rollback")          # hold the next one until released
        rec.answer_next(1, {"ok": False}, path="/restore", kind="integrity_check")
        rec.outage("/pager", (500, None), (429, "2"), 9.0)  # fails until restored, in turn
        rec.restore("/pager")
        ...
        await rec.wait_for(lambda r: len(r.on("/rollback")) >= 1, within_s=10)

Each request is kept with method, path, headers, JSON body and raw bytes. ``stall_next``
records the request first, then holds it (until ``release()`` or ``stall_s``) — a sender with a
short timeout sees a timeout, exactly like a hung receiver.

A path is a receiver's and everything below it: ``on("/statuspage")`` and the rules' ``path``
take ``/statuspage/incidents/ab12`` too. ``contracts`` (``tests.support.contracts``) make the
paths below a prefix behave as the real service does — check each request against its
documented contract and answer as it answers — whenever no misbehaviour rule applies:

    Recorder(contracts={"/pager": PagerDutyEvents(), "/chat": SlackWebhook()})
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.support.contracts import Answer, Contract

__all__ = ["Recorded", "Recorder", "under"]


def under(path: str, prefix: str) -> bool:
    """Whether ``path`` is ``prefix`` or below it."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    at: float
    answered: int

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def receiver(self) -> str:
        """The receiver's path (its first segment): ``/statuspage`` of ``/statuspage/incidents``."""
        return "/" + self.path.strip("/").split("/")[0]


@dataclass
class _Rule:
    remaining: int
    path: str | None
    status: int = 200
    retry_after: str | None = None
    stall_s: float | None = None
    answer: Any = None
    kind: str | None = None

    def applies(self, path: str, body: Any) -> bool:
        kind = body.get("kind") if isinstance(body, dict) else None
        return (
            self.remaining > 0
            and (self.path is None or under(path, self.path))
            and (self.kind is None or self.kind == kind)
        )


# One answer of an outage: (status, Retry-After or None), or a stall of that many seconds.
OutageAnswer = tuple[int, str | None] | float


@dataclass
class Recorder:
    host: str = "127.0.0.1"
    requests: list[Recorded] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _outages: dict[str, itertools.cycle[_Rule]] = field(default_factory=dict)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0
    contracts: dict[str, Contract] = field(default_factory=dict)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    # misbehaviour ------------------------------------------------------------------------

    def fail_next(
        self, n: int, status: int = 500, path: str | None = None, retry_after: str | None = None
    ) -> None:
        self._rules.append(_Rule(n, path, status, retry_after))

    def stall_next(self, n: int = 1, path: str | None = None, stall_s: float = 3600.0) -> None:
        self._release.clear()
        self._rules.append(_Rule(n, path, 200, None, stall_s))

    def answer_next(
        self, n: int, body: Any, path: str | None = None, kind: str | None = None
    ) -> None:
        """The next ``n`` requests (to ``path``, of JSON ``kind``) get 200 with ``body``."""
        self._rules.append(_Rule(n, path, 200, answer=body, kind=kind))

    def outage(self, path: str, *answers: OutageAnswer) -> None:
        """Every request to ``path`` fails until ``restore(path)``, answered by ``answers`` in
        turn: ``(status, retry_after)``, or a number: hang that many seconds (then 504)."""
        rules = [
            _Rule(1, path, 504, stall_s=float(a))
            if isinstance(a, int | float)
            else _Rule(1, path, *a)
            for a in answers
        ]
        self._release.clear()
        self._outages[path] = itertools.cycle(rules)

    def restore(self, path: str) -> None:
        """End the outage of ``path`` (and release the requests hanging there)."""
        self._outages.pop(path, None)
        self._release.set()

    def release(self) -> None:
        self._release.set()

    def _rule_for(self, path: str, body: Any) -> _Rule | None:
        if path in self._outages:
            return next(self._outages[path])
        rule = next((r for r in self._rules if r.applies(path, body)), None)
        if rule is not None:
            rule.remaining -= 1
        return rule

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        rule = self._rule_for(request.path, parsed)
        status = rule.status if rule else 200
        self.requests.append(
            Recorded(
                request.method,
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                parsed,
                time.time(),
                status,
            )
        )
        if rule is not None and rule.stall_s is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), rule.stall_s)
        contract = self._contract(request.path)
        if rule is None and contract is not None:
            said = contract.answer(request.method, request.path, self.requests[-1].headers, body)
            self.requests[-1] = replace(self.requests[-1], answered=said.status)
            return _response(said)
        headers = {"Retry-After": rule.retry_after} if rule and rule.retry_after else {}
        answer = rule.answer if rule and rule.answer is not None else {"ok": status < 400}
        return web.json_response(answer, status=status, headers=headers)

    def _contract(self, path: str) -> Contract | None:
        return next((c for prefix, c in self.contracts.items() if under(path, prefix)), None)

    # reading -----------------------------------------------------------------------------

    def on(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if under(r.path, path)]

    def keys(self, path: str | None = None) -> list[str | None]:
        return [r.key for r in self.requests if path is None or under(r.path, path)]

    async def wait_for(
        self, condition: Callable[[Recorder], bool], within_s: float = 15.0, what: str = ""
    ) -> None:
        """Poll ``condition`` until true or fail with what arrived so far."""
        deadline = time.monotonic() + within_s
        while not condition(self):
            if time.monotonic() > deadline:
                seen = [(r.path, r.key, r.answered) for r in self.requests]
                raise AssertionError(f"timed out waiting for {what or condition}; got {seen}")
            await asyncio.sleep(0.02)


def _response(said: Answer) -> web.Response:
    return web.Response(body=said.body, status=said.status, content_type=said.content_type)
