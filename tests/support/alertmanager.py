"""A real Alertmanager (Debian's ``prometheus-alertmanager``) on loopback ports of its own, its
webhook receiver pointed at alertpipe; fed through its own ``POST /api/v2/alerts``.

    async with Alertmanager(webhook_url, token, tmp_path) as am:
        await am.fire({"alertname": "HighErrorRate", "service": "checkout", …}, annotations)
        await am.resolve(labels)

Grouping waits are shortened (``group_wait`` 0 s, ``group_interval`` 1 s) so a change is sent
at once. ``make tools`` installs the package where it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pytest

__all__ = ["BINARY", "Alertmanager"]

BINARY = "prometheus-alertmanager"

CONFIG = """\
route:
  receiver: alertpipe
  group_by: [alertname, service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: alertpipe
    webhook_configs:
      - url: {url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, webhook_url: str, token: str, folder: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._folder = folder
        self._config = CONFIG.format(url=webhook_url, token=token)
        self._process: asyncio.subprocess.Process | None = None
        self._client = httpx.AsyncClient(base_url=self.url, timeout=10)
        self.log = folder / "alertmanager.log"

    async def start(self) -> None:
        binary = shutil.which(BINARY)
        if binary is None:
            pytest.fail(f"{BINARY} is not installed: run `make tools`")
        config = self._folder / "alertmanager.yml"
        config.write_text(self._config, encoding="utf-8")
        with self.log.open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                binary,
                f"--config.file={config}",
                f"--storage.path={self._folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip port: a single instance
                stdout=log,
                stderr=log,
            )
        await self._ready()

    async def _ready(self, within_s: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while loop.time() < deadline:
            assert self._process is not None
            if self._process.returncode is not None:
                pytest.fail(f"alertmanager exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await self._client.get("/-/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
        pytest.fail(f"alertmanager not ready within {within_s:g} s: {self.log.read_text()[-2000:]}")

    async def stop(self) -> None:
        await self._client.aclose()
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            try:
                await asyncio.wait_for(self._process.wait(), 10)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()

    async def __aenter__(self) -> Alertmanager:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _post(self, alerts: list[dict[str, Any]]) -> None:
        response = await self._client.post("/api/v2/alerts", json=alerts)
        assert response.status_code == 200, response.text

    async def fire(self, labels: dict[str, str], annotations: dict[str, str] | None = None) -> None:
        """An alert firing since now (as Prometheus sends it: it goes on until resolved)."""
        await self._post(
            [
                {
                    "labels": labels,
                    "annotations": annotations or {},
                    "startsAt": _rfc3339(datetime.now(UTC)),
                    "generatorURL": "http://prometheus.example/graph?g0.expr=up",
                }
            ]
        )

    async def resolve(self, labels: dict[str, str]) -> None:
        """The same alert, ended a moment ago: Alertmanager sends it as resolved."""
        ended = _rfc3339(datetime.now(UTC) - timedelta(seconds=1))
        await self._post([{"labels": labels, "endsAt": ended}])

    async def alerts(self) -> list[dict[str, Any]]:
        response = await self._client.get("/api/v2/alerts")
        found: list[dict[str, Any]] = response.json()
        return found
