"""The HTTP API as a lifecycle role: uvicorn inside the process's own event loop.

uvicorn normally owns SIGINT/SIGTERM (and re-raises them when it stops); here
``streams.lifecycle.run_roles`` owns the signals and stops every role in order, so the server's
signal capture is switched off. So is its reading of ``X-Forwarded-For`` (which it believes
from 127.0.0.1 by default): the API decides which proxies it trusts (``app.api.auth``), and a
rewritten client address would let a local process pose as a trusted proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from typing import Any

import uvicorn
from fastapi import FastAPI

__all__ = ["HttpServer"]


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    """``start`` returns once the socket listens; ``port`` is the bound one (0 picks a free one)."""

    name = "http"

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", proxy_headers=False
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None
        self.host = host
        self.port = port

    def _bind(self) -> socket.socket:
        """Bind here, not in uvicorn, whose answer to a taken port is ``sys.exit(1)``."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as error:
            sock.close()
            raise OSError(
                f"cannot listen on {self.host}:{self.port} ({error.strerror}); "
                "set ALERTPIPE_HTTP_PORT to a free port (0 picks one)"
            ) from None
        self.port = int(sock.getsockname()[1])
        return sock

    async def start(self) -> None:
        sock = self._bind()
        self._task = asyncio.create_task(self._server.serve([sock]), name="http-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"HTTP server on {self.host}:{self.port} did not start")
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        assert self._task is not None
        await self._task

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def health(self) -> dict[str, Any]:
        return {"ready": self._server.started, "url": self.url}
