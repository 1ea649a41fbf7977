"""End-to-end tests: the ``alertpipe`` console script as a user runs it, against the real
servers, with receivers on a loopback recorder. Each test namespaces its topics, consumer
groups and database so that it neither sees nor disturbs anything else on the servers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
ALERTPIPE = str(ROOT / ".venv/bin/alertpipe")


@dataclass
class Process:
    """An ``alertpipe`` subprocess whose output lines are collected as they come."""

    proc: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def wait_line(self, match: Callable[[str], bool], within_s: float, what: str) -> str:
        async def found() -> str | None:
            if self.proc.returncode is not None and self._reader is not None:
                await self._reader
            line = next((line for line in self.lines if match(line)), None)
            if line is None and self.proc.returncode is not None:
                raise AssertionError(
                    f"{what}: the process exited {self.proc.returncode} first:\n{self.output}"
                )
            return line

        line = await eventually(found, lambda x: x is not None, within_s, what, every_s=0.1)
        assert line is not None, self.output
        return line

    async def wait(self, within_s: float) -> int:
        code = await asyncio.wait_for(self.proc.wait(), within_s)
        if self._reader is not None:
            await self._reader
        return code

    async def terminate(self, within_s: float = 30.0) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await self.wait(within_s)


@pytest.fixture
async def cli() -> AsyncIterator[Callable[..., Awaitable[Process]]]:
    started: list[Process] = []

    async def run(*args: str, env: dict[str, str]) -> Process:
        proc = await asyncio.create_subprocess_exec(
            ALERTPIPE, *args, cwd=ROOT, env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        process = Process(proc)
        process._reader = asyncio.create_task(process._read())
        started.append(process)
        return process

    yield run
    for process in started:
        if process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()
