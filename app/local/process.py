"""Process plumbing for the local servers: subprocesses, pid files, locks, progress lines.

Why a module of its own: Kafka and PostgreSQL are started and stopped the same way — a
long step that prints when it starts and ends, a child whose output goes to a log file, a
detached server that must outlive the CLI, a failure that names the log and quotes its
last lines — and none of it may block the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pwd
import signal
import subprocess
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path

from app.errors import InfrastructureError

__all__ = [
    "HEARTBEAT_S",
    "Progress",
    "Stopwatch",
    "as_user",
    "chown_to",
    "command_output",
    "failure",
    "file_lock",
    "is_root",
    "pid_alive",
    "pid_cmdline",
    "port_open",
    "read_pid",
    "run_logged",
    "run_streamed",
    "spawn_detached",
    "tail",
    "terminate",
    "ticking",
]

Progress = Callable[[str], None]

#: How often a long step says it is still running.
HEARTBEAT_S = 10.0

# Servers this process spawned, so they can be reaped (a dead child stays a zombie, which
# `kill(pid, 0)` would report as alive) and so Popen does not warn about them.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


class Stopwatch:
    """Elapsed time since creation, printed as ``4.1 s``."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self._start

    def __str__(self) -> str:
        return f"{self.seconds:.1f} s"


def tail(path: Path, lines: int = 15) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            last = deque(handle, maxlen=lines)
    except OSError:
        return f"(no log at {path})"
    text = "".join(last).rstrip()
    return text or f"({path} is empty)"


def failure(what: str, log: Path, lines: int = 15) -> InfrastructureError:
    """An error that says what failed, where the log is, and what it ended with."""
    return InfrastructureError(
        f"{what}\n  log: {log}\n  last lines:\n" + _indent(tail(log, lines), "    ")
    )


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def is_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str | None, command: Sequence[str]) -> list[str]:
    """`command`, run as `user` through runuser when one is given (we are root)."""
    if user is None:
        return list(command)
    return ["runuser", "-u", user, "--", *command]


def chown_to(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


def read_pid(path: Path) -> int | None:
    """The pid on the first line of a pid file, or None when there is none."""
    try:
        first = path.read_text(encoding="ascii", errors="replace").splitlines()[0]
        return int(first.strip())
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not count)."""
    child = _SPAWNED.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _SPAWNED[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def pid_cmdline(pid: int) -> str:
    """The command line of `pid`, arguments joined by spaces ('' when unknown)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


async def port_open(host: str, port: int, wait_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), wait_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def run_logged(
    command: Sequence[str],
    *,
    what: str,
    log: Path,
    limit_s: float,
    progress: Progress | None = None,
    heartbeat: str | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    new_session: bool = False,
) -> None:
    """Run `command` to completion with its output appended to `log`.

    Raises InfrastructureError (naming `what`, the log and its last lines) on a non-zero
    exit or after `limit_s` seconds. With `heartbeat`, prints ``<heartbeat> (20 s)`` every
    `heartbeat_s` seconds through `progress` (see `heartbeat`).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=new_session,
            )
        except OSError as error:
            raise InfrastructureError(f"{what}: cannot run {command[0]}: {error}") from error
    try:
        async with ticking(progress, heartbeat, heartbeat_s):
            code = await asyncio.wait_for(proc.wait(), limit_s)
    except TimeoutError:
        _kill_quietly(proc)
        raise failure(f"{what}: no result after {limit_s:g} s", log) from None
    except asyncio.CancelledError:  # Ctrl-C: leave no half-done download behind
        _kill_quietly(proc)
        raise
    if code != 0:
        raise failure(f"{what} failed (exit code {code})", log)


async def run_streamed(
    command: Sequence[str],
    *,
    log: Path,
    limit_s: float,
    progress: Progress,
    prefix: str,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run `command`, echoing each output line through `progress` and into `log`.

    For steps whose own output is the progress report (a package install). Returns the
    exit code; 124 after `limit_s`, 127 when the program is missing.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
        )
    except OSError as error:
        with log.open("a", encoding="utf-8") as out:
            out.write(f"cannot run {command[0]}: {error}\n")
        return 127
    try:
        await asyncio.wait_for(_echo(proc, log, progress, prefix), limit_s)
    except TimeoutError:
        _kill_quietly(proc)
        await proc.wait()
        return 124
    except asyncio.CancelledError:
        _kill_quietly(proc)
        raise
    return await proc.wait()


async def _echo(
    proc: asyncio.subprocess.Process, log: Path, progress: Progress, prefix: str
) -> None:
    assert proc.stdout is not None
    with log.open("a", encoding="utf-8") as out:
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            out.write(line + "\n")
            if line:
                progress(f"{prefix}{line}")


@contextlib.asynccontextmanager
async def ticking(
    progress: Progress | None, text: str | None, every_s: float = HEARTBEAT_S
) -> AsyncIterator[None]:
    """While the block runs, print ``<text> (<elapsed> s)`` every `every_s` seconds, so a
    long silent wait (a download, a server starting) still shows that it is alive."""
    if progress is None or text is None:
        yield
        return
    ticker = asyncio.get_running_loop().create_task(_tick(progress, text, every_s))
    try:
        yield
    finally:
        ticker.cancel()


async def _tick(progress: Progress, text: str, every_s: float) -> None:
    watch = Stopwatch()
    while True:
        await asyncio.sleep(every_s)
        progress(f"{text} ({watch.seconds:.0f} s)")


def _kill_quietly(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


async def command_output(command: Sequence[str], limit_s: float = 30.0) -> tuple[int, str]:
    """Run a short command; return its exit code and combined output (127 if missing)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except OSError as error:
        return 127, str(error)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit_s)
    except TimeoutError:
        _kill_quietly(proc)
        return 124, f"{command[0]}: no result after {limit_s:.0f} s"
    return proc.returncode or 0, out.decode(errors="replace")


def spawn_detached(
    command: Sequence[str], *, log: Path, cwd: Path, env: Mapping[str, str] | None = None
) -> int:
    """Start a server in a new session (it outlives the CLI and ignores its Ctrl-C).

    Output goes to `log`; no other descriptor is inherited (close_fds), so the server
    never holds our lock. Returns the pid.
    """
    with log.open("ab") as out:
        child = subprocess.Popen(  # noqa: S603 -- our own command line, no shell
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
            close_fds=True,
        )
    _SPAWNED[child.pid] = child
    return child.pid


async def terminate(pid: int, grace_s: float) -> bool:
    """SIGTERM `pid`, wait up to `grace_s`, then SIGKILL. True when it had to be killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if await _wait_gone(pid, grace_s):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    await _wait_gone(pid, 10.0)
    return True


async def _wait_gone(pid: int, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


@contextlib.asynccontextmanager
async def file_lock(path: Path, progress: Progress, limit_s: float) -> AsyncIterator[None]:
    """Hold an exclusive flock on `path`; two `up` (or `up` and `down`) take turns.

    flock locks belong to the open file, so this also serialises two callers inside one
    process. The descriptor is close-on-exec: no server we start inherits the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        await _acquire(fd, path, progress, limit_s)
        yield
    finally:
        os.close(fd)


async def _acquire(fd: int, path: Path, progress: Progress, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not told:
            progress(f"local: another `alertpipe local` command holds {path}; waiting…")
            told = True
        if time.monotonic() >= deadline:
            raise InfrastructureError(
                f"another `alertpipe local` command still holds {path} after {limit_s:.0f} s"
            )
        await asyncio.sleep(0.2)
