"""The one role runner (``alertpipe run`` and ``python -m streams.aggregate|evaluate``): start in
order, stop in reverse, stop everything on a failure, a stop event or SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streams.lifecycle import ResourceRole, ServiceRole, StopIncomplete, run_roles


class Fake:
    """A role that records its lifecycle in a shared journal; ``fail`` ends its run with an
    error (at once, or only once it is told to stop). Like the stream stages, ``stop`` returns
    once a run it started has finished its batch."""

    def __init__(self, name: str, journal: list[str], fail: str = "") -> None:
        self.name, self.journal, self.fail = name, journal, fail
        self._stopping = asyncio.Event()
        self._ended: asyncio.Event | None = None

    async def start(self) -> None:
        self.journal.append(f"start {self.name}")

    async def run(self) -> None:
        self._ended = asyncio.Event()
        try:
            if self.fail == "at once":
                raise RuntimeError(f"{self.name} broke")
            await self._stopping.wait()
            if self.fail == "while stopping":
                raise RuntimeError(f"{self.name} could not commit")
        finally:
            self._ended.set()

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        self._stopping.set()
        if self._ended is not None:
            await self._ended.wait()

    def health(self) -> dict[str, Any]:
        return {"ready": not self._stopping.is_set()}


async def test_roles_start_in_order_and_stop_in_reverse_on_the_stop_event() -> None:
    journal: list[str] = []
    stop = asyncio.Event()
    roles = [Fake("a", journal), Fake("b", journal)]
    late = await run_roles(roles, stop, signals=False, started=stop.set)
    assert journal == ["start a", "start b", "stop b", "stop a"]
    assert late == []


async def test_the_first_failure_stops_every_role_and_is_raised() -> None:
    journal: list[str] = []
    roles = [Fake("a", journal), Fake("b", journal, fail="at once"), Fake("c", journal)]
    with pytest.raises(RuntimeError, match="b broke"):
        await run_roles(roles, signals=False)
    assert journal[-3:] == ["stop c", "stop b", "stop a"]


async def test_a_failure_while_stopping_is_returned_not_swallowed() -> None:
    journal: list[str] = []
    stop = asyncio.Event()
    roles = [Fake("a", journal, fail="while stopping"), Fake("b", journal)]
    late = await run_roles(roles, stop, signals=False, started=stop.set)
    assert [str(error) for error in late] == ["a could not commit"]


async def test_sigterm_stops_every_role_gracefully() -> None:
    journal: list[str] = []
    roles = [Fake("a", journal), Fake("b", journal)]

    def terminate() -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    late = await run_roles(roles, started=terminate)
    assert journal == ["start a", "start b", "stop b", "stop a"] and late == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again


async def test_a_role_that_fails_to_start_stops_the_ones_already_started() -> None:
    journal: list[str] = []

    async def refuse() -> None:
        raise OSError("port taken")

    roles = [Fake("a", journal), ResourceRole("server", refuse, _nothing), Fake("c", journal)]
    with pytest.raises(OSError, match="port taken"):
        await run_roles(roles, signals=False)
    assert journal == ["start a", "stop a"]


async def test_a_service_role_names_a_service_and_runs_its_hook_after_start() -> None:
    journal: list[str] = []
    service = Fake("unnamed", journal)
    role = ServiceRole("aggregator", service, after_start=lambda: journal.append("tuned"))
    stop = asyncio.Event()
    await run_roles([role], stop, signals=False, started=stop.set)
    assert role.name == "aggregator"
    assert journal == ["start unnamed", "tuned", "stop unnamed"]
    assert role.health() == {"ready": False}


async def test_a_resource_role_runs_until_it_is_stopped() -> None:
    journal: list[str] = []

    async def opened() -> None:
        journal.append("opened")

    async def closed() -> None:
        journal.append("closed")

    resource = ResourceRole("client", opened, closed)
    stop = asyncio.Event()
    roles = [resource, Fake("after", journal)]
    await run_roles(roles, stop, signals=False, started=stop.set)
    assert journal == ["opened", "start after", "stop after", "closed"]
    assert resource.health() == {"ready": False}


async def _nothing() -> None:
    return None


class Stuck(Fake):
    """A role whose ``stop`` never returns (a client waiting on a dead broker), or raises a
    ``CancelledError`` of its own (as aiokafka's consumer ``stop`` can)."""

    def __init__(self, name: str, journal: list[str], how: str) -> None:
        super().__init__(name, journal)
        self.how = how

    async def stop(self) -> None:
        self.journal.append(f"stop {self.name}")
        self._stopping.set()
        if self.how == "hangs":
            await asyncio.Event().wait()
        raise asyncio.CancelledError()


async def test_a_stop_that_raises_is_reported_and_the_rest_still_stop() -> None:
    journal: list[str] = []
    stop = asyncio.Event()
    roles = [Fake("a", journal), Stuck("b", journal, "raises"), Fake("c", journal)]
    late = await asyncio.wait_for(run_roles(roles, stop, signals=False, started=stop.set), 10)
    assert journal[-3:] == ["stop c", "stop b", "stop a"]
    assert [str(error) for error in late] == ["not stopped cleanly: b"]
    assert isinstance(late[0], StopIncomplete)


async def test_a_stop_that_hangs_is_abandoned_when_the_budget_is_spent() -> None:
    journal: list[str] = []
    stop = asyncio.Event()
    roles = [Fake("a", journal), Stuck("b", journal, "hangs"), Fake("c", journal)]
    late = await asyncio.wait_for(
        run_roles(roles, stop, signals=False, started=stop.set, stop_timeout_s=0.3), 10
    )
    assert journal[-2:] == ["stop c", "stop b"]  # a's stop had no time left
    assert [str(error) for error in late] == ["not stopped cleanly: b, a"]


async def test_a_stop_while_a_role_is_still_starting_ends_the_start() -> None:
    journal: list[str] = []
    stop = asyncio.Event()

    async def forever() -> None:
        journal.append("starting")
        stop.set()  # SIGTERM arrives while the server is still out of reach
        await asyncio.Event().wait()

    async def release() -> None:
        journal.append("released")

    roles = [Fake("a", journal), ResourceRole("slow", forever, release), Fake("c", journal)]
    late = await asyncio.wait_for(run_roles(roles, stop, signals=False), 10)
    assert journal == ["start a", "starting", "released", "stop a"] and late == []


def test_the_watchdog_ends_a_process_whose_event_loop_is_stuck(tmp_path: Any) -> None:
    """A stop that blocks the event loop itself: only the watchdog thread can end it."""
    script = tmp_path / "stuck.py"
    script.write_text(
        "import asyncio, time\n"
        "from streams.lifecycle import run_roles\n"
        "class Blocks:\n"
        "    name = 'blocks'\n"
        "    async def start(self): pass\n"
        "    async def run(self): await asyncio.Event().wait()\n"
        "    async def stop(self): time.sleep(60)\n"
        "    def health(self): return {}\n"
        "async def main():\n"
        "    stop = asyncio.Event()\n"
        "    await run_roles([Blocks()], stop, signals=False, started=stop.set,\n"
        "                    stop_timeout_s=0.2, exit_after_s=0.5)\n"
        "asyncio.run(main())\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, str(script)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "still running 0.5 s after stopping began: exiting now" in result.stderr
