"""PostgreSQL from the OS packages: a private cluster on 127.0.0.1 for tests and local runs.

Why the OS packages: every machine here has Debian's PostgreSQL or can install it, and
``initdb``/``pg_ctl`` give a cluster in a folder of our own without touching the system one.
Why ``runuser``: PostgreSQL refuses to run as root, and these machines (and CI) run as root,
so there the cluster belongs to the ``postgres`` OS user and every server command runs as it.
Elsewhere the package is installed through ``sudo -n`` (as the Makefile installs kcat), and
the server runs as the calling user.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from app.errors import InfrastructureError
from app.local.model import ServerStatus
from app.local.process import (
    Progress,
    Stopwatch,
    as_user,
    chown_to,
    command_output,
    failure,
    is_root,
    pid_alive,
    pid_cmdline,
    port_open,
    read_pid,
    run_logged,
    run_streamed,
    terminate,
)
from app.settings import Settings

__all__ = [
    "PgPaths",
    "ensure_up",
    "find_bin_dir",
    "hba_conf",
    "install",
    "probe",
    "server_conf",
    "start_server",
    "status",
    "stop",
]

HOST = "127.0.0.1"
#: The cluster's bootstrap superuser; it creates the application role and database.
SUPERUSER = "postgres"
#: The OS account the server runs as when we are root.
OS_USER = "postgres"
PACKAGE = "postgresql"
PACKAGE_ROOT = Path("/usr/lib/postgresql")
INSTALL_TIMEOUT_S = 900.0
STOP_TIMEOUT_S = 60
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PgPaths:
    data: Path
    log: Path

    @classmethod
    def of(cls, settings: Settings) -> PgPaths:
        return cls(data=settings.local.dir / "postgres", log=settings.local.dir / "postgres.log")


def _server_user() -> str | None:
    return OS_USER if is_root() else None


# --------------------------------------------------------------------------- binaries


def _version_key(name: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return None


def find_bin_dir(prefer: str | None = None, root: Path | None = None) -> Path | None:
    """The folder with initdb and pg_ctl: version `prefer` if installed, else the newest.

    Debian keeps them under /usr/lib/postgresql/<major>/bin; other systems put them on PATH.
    """
    found: dict[str, Path] = {}
    for bin_dir in (root or PACKAGE_ROOT).glob("*/bin"):
        usable = (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file()
        if usable and _version_key(bin_dir.parent.name) is not None:
            found[bin_dir.parent.name] = bin_dir
    if prefer in found:
        return found[prefer]
    if found:
        return found[max(found, key=lambda name: _version_key(name) or ())]
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    return None


async def _bin_dir(paths: PgPaths, progress: Progress) -> Path:
    prefer = _data_version(paths)
    found = find_bin_dir(prefer)
    if found is None:
        await install(paths, progress)
        found = find_bin_dir(prefer)
    if found is None:
        raise InfrastructureError(
            f"postgres: installed `{PACKAGE}` but found no initdb/pg_ctl under "
            f"{PACKAGE_ROOT}/*/bin or on PATH"
        )
    return found


def _data_version(paths: PgPaths) -> str | None:
    try:
        return (paths.data / "PG_VERSION").read_text(encoding="ascii").strip()
    except OSError:
        return None


async def install(paths: PgPaths, progress: Progress) -> None:
    """Install the OS package with apt-get — as root, or else through ``sudo -n`` (never a
    password prompt: `local up` may run unattended) — echoing apt's progress."""
    manual = f"sudo apt-get install -y {PACKAGE}"
    if shutil.which("apt-get") is None:
        raise InfrastructureError(
            f"postgres: initdb/pg_ctl were not found under {PACKAGE_ROOT}/*/bin or on PATH, "
            f"and there is no apt-get to install them; install PostgreSQL's server package "
            f"(Debian/Ubuntu: `{manual}`) and run `alertpipe local up` again"
        )
    sudo = await _privilege()
    if sudo is None:
        raise InfrastructureError(
            f"postgres: initdb/pg_ctl were not found; installing the OS package `{PACKAGE}` "
            "needs root, and this user is not root and cannot use `sudo -n` (no sudo, or it "
            f"asks for a password). Run `{manual}` yourself, then `alertpipe local up` again"
        )
    how = "sudo -n apt-get" if sudo else "apt-get"
    progress(f"postgres: installing the OS package `{PACKAGE}` with {how} (first run only)…")
    watch = Stopwatch()
    code = await _apt(sudo, ["install", "-y", PACKAGE], paths, progress)
    if code != 0:  # the package lists may be missing or stale: refresh once
        await _apt(sudo, ["update"], paths, progress)
        code = await _apt(sudo, ["install", "-y", PACKAGE], paths, progress)
    if code != 0:
        raise failure(
            f"postgres: `{how} install -y {PACKAGE}` failed (exit code {code}); run "
            f"`{manual}` yourself, then `alertpipe local up` again",
            paths.log,
        )
    progress(f"postgres: installed `{PACKAGE}` ({watch})")


async def _privilege() -> list[str] | None:
    """What runs apt-get with root rights: nothing as root, ``sudo -n`` when sudo works
    without a password (asked once, with a harmless command), else None."""
    if is_root():
        return []
    sudo = shutil.which("sudo")
    if sudo is None:
        return None
    code, _ = await command_output([sudo, "-n", "true"])
    return [sudo, "-n"] if code == 0 else None


async def _apt(sudo: list[str], args: list[str], paths: PgPaths, progress: Progress) -> int:
    # sudo resets the environment; apt-get with no terminal on stdin answers debconf itself.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return await run_streamed(
        [*sudo, "apt-get", *args],
        log=paths.log,
        limit_s=INSTALL_TIMEOUT_S,
        progress=progress,
        prefix="postgres: apt: ",
        env=env,
    )


# --------------------------------------------------------------------------- files


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def server_conf(settings: Settings, data: Path) -> str:
    """Settings included from postgresql.conf, rewritten at every start."""
    return (
        "# Written by `alertpipe local up` at each start; edits here are overwritten.\n"
        f"listen_addresses = {_quote(HOST)}\n"
        f"port = {settings.local.postgres_port}\n"
        f"unix_socket_directories = {_quote(str(data))}\n"
        "max_connections = 200\n"
        "# A local throwaway server for development and tests: durability is traded for\n"
        "# speed. Never use these three on a server whose data matters.\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
    )


def hba_conf() -> str:
    return (
        "# Written by `alertpipe local up`. Trust without a password, and only on loopback:\n"
        "# this is a local development server listening on 127.0.0.1 alone. Never copy this\n"
        "# to a server other people or machines can reach.\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n"
        "host  all all ::1/128 trust\n"
    )


_INCLUDE = "include_if_exists = 'alertpipe.conf'"


def _write_configs(settings: Settings, paths: PgPaths, user: str | None) -> None:
    files = {
        paths.data / "alertpipe.conf": server_conf(settings, paths.data),
        paths.data / "pg_hba.conf": hba_conf(),
    }
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        if user is not None:
            chown_to(path, user)
    main = paths.data / "postgresql.conf"
    if _INCLUDE not in main.read_text(encoding="utf-8"):
        with main.open("a", encoding="utf-8") as out:
            out.write(f"\n# Added by `alertpipe local up`:\n{_INCLUDE}\n")


def _prepare_log(paths: PgPaths, user: str | None) -> None:
    paths.log.parent.mkdir(parents=True, exist_ok=True)
    paths.log.touch(exist_ok=True)
    if user is not None:
        chown_to(paths.log, user)


# --------------------------------------------------------------------------- cluster


async def _init_once(paths: PgPaths, bin_dir: Path, user: str | None, progress: Progress) -> None:
    if _data_version(paths) is not None:
        return
    if paths.data.exists() and any(paths.data.iterdir()):
        raise InfrastructureError(
            f"postgres: {paths.data} is not empty but holds no PostgreSQL cluster; remove it "
            "(`alertpipe local down --purge`)"
        )
    paths.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    if user is not None:
        chown_to(paths.data, user)
        await _check_reachable(paths.data, user)
    progress(f"postgres: creating a cluster in {paths.data} (initdb)…")
    watch = Stopwatch()
    command = [
        str(bin_dir / "initdb"), "-D", str(paths.data), "-U", SUPERUSER,
        "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync",
    ]  # fmt: skip
    await run_logged(as_user(user, command), what="postgres: initdb", log=paths.log, limit_s=300.0)
    progress(f"postgres: cluster created ({watch})")


async def _check_reachable(data: Path, user: str) -> None:
    code, _ = await command_output(as_user(user, ["test", "-w", str(data)]))
    if code != 0:
        raise InfrastructureError(
            f"postgres: the `{user}` OS user cannot reach {data}. PostgreSQL refuses to run as "
            f"root, so the server runs as `{user}`, which needs search (x) permission on every "
            "folder above it: choose an ALERTPIPE_LOCAL__DIR under /tmp, or chmod o+x its parents"
        )


def running_pid(paths: PgPaths) -> int | None:
    """The postmaster's pid from its pid file, if it still runs."""
    pid = read_pid(paths.data / "postmaster.pid")
    if pid is None or not pid_alive(pid):
        return None
    command = pid_cmdline(pid)
    if command and "postgres" not in command and "postmaster" not in command:
        return None
    return pid


async def start_server(
    settings: Settings, paths: PgPaths, bin_dir: Path, user: str | None, progress: Progress
) -> None:
    """``pg_ctl -w start``: returns once the server accepts connections, saying every
    ``local.heartbeat_s`` that it is still starting (crash recovery can take a while)."""
    port = settings.local.postgres_port
    if await port_open(HOST, port):
        raise InfrastructureError(
            f"postgres: port {HOST}:{port} is taken by another program; stop it or choose "
            "another port (ALERTPIPE_LOCAL__POSTGRES_PORT)"
        )
    progress(f"postgres: starting on {HOST}:{port} (log: {paths.log})…")
    timeout = settings.local.startup_timeout_s
    command = [
        str(bin_dir / "pg_ctl"), "-D", str(paths.data), "-l", str(paths.log),
        "-w", "-t", str(max(int(timeout), 1)), "start",
    ]  # fmt: skip
    # A new session: the server outlives the CLI and ignores the terminal's Ctrl-C.
    await run_logged(
        as_user(user, command),
        what=f"postgres: starting the server on {HOST}:{port} (pg_ctl start)",
        log=paths.log,
        limit_s=timeout + 10,
        progress=progress,
        heartbeat="postgres: … still starting",
        heartbeat_s=settings.local.heartbeat_s,
        new_session=True,
    )


async def _connect_superuser(settings: Settings, deadline: float) -> asyncpg.Connection:
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return await asyncpg.connect(
                host=HOST,
                port=settings.local.postgres_port,
                user=SUPERUSER,
                database="postgres",
                timeout=PROBE_TIMEOUT_S,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            error = exc
            await asyncio.sleep(0.25)
    raise InfrastructureError(
        f"postgres: no answer on {HOST}:{settings.local.postgres_port} as `{SUPERUSER}` "
        f"within {settings.local.startup_timeout_s:g} s ({error})"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def _ensure_role_and_db(settings: Settings, deadline: float, progress: Progress) -> None:
    role, db = settings.local.postgres_user, settings.local.postgres_db
    conn = await _connect_superuser(settings, deadline)
    try:
        if not await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
            await conn.execute(f"create role {_ident(role)} login createdb")
            progress(f"postgres: created role {role}")
        if not await conn.fetchval("select 1 from pg_database where datname = $1", db):
            await conn.execute(f"create database {_ident(db)} owner {_ident(role)}")
            progress(f"postgres: created database {db}")
    finally:
        await conn.close()


# --------------------------------------------------------------------------- probing


async def probe(dsn: str, limit_s: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Whether `dsn` accepts a connection and answers ``select 1``."""
    try:
        conn = await asyncpg.connect(dsn, timeout=limit_s)
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"
    try:
        value = await asyncio.wait_for(conn.fetchval("select 1"), limit_s)
    except Exception as error:
        return False, f"{type(error).__name__}: {error}"
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
    return value == 1, "answers select 1" if value == 1 else f"select 1 returned {value!r}"


def address(settings: Settings) -> str:
    """host:port/database of the DSN in effect — never the user or the password."""
    if settings.uses_local_postgres:
        loc = settings.local
        return f"{HOST}:{loc.postgres_port}/{loc.postgres_db}"
    parts = urlsplit(settings.dsn)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.hostname or '(socket)'}{port}{parts.path}"


async def _wait_external(settings: Settings, progress: Progress) -> None:
    where = address(settings)
    progress(f"postgres: ALERTPIPE_DATABASE_URL is set; checking {where}…")
    deadline = time.monotonic() + settings.local.startup_timeout_s
    while True:
        ok, detail = await probe(settings.dsn)
        if ok:
            progress(f"postgres: {where} answers (external, not managed here)")
            return
        if time.monotonic() >= deadline:
            raise InfrastructureError(
                f"postgres: {where} (ALERTPIPE_DATABASE_URL) does not answer: {detail}"
            )
        await asyncio.sleep(1.0)


# --------------------------------------------------------------------------- commands


async def ensure_up(settings: Settings, progress: Progress) -> None:
    """Start the local cluster unless it (or an external server) already answers."""
    if not settings.uses_local_postgres:
        await _wait_external(settings, progress)
        return
    paths = PgPaths.of(settings)
    where = address(settings)
    pid = running_pid(paths)
    if await _reuse(settings, pid, progress):
        return
    user = _server_user()
    bin_dir = await _bin_dir(paths, progress)
    _prepare_log(paths, user)
    await _init_once(paths, bin_dir, user, progress)
    _write_configs(settings, paths, user)
    watch = Stopwatch()
    deadline = time.monotonic() + settings.local.startup_timeout_s
    if pid is None:
        await start_server(settings, paths, bin_dir, user, progress)
    await _ensure_role_and_db(settings, deadline, progress)
    ok, detail = await probe(settings.dsn)
    if not ok:
        raise failure(f"postgres: {where} started but does not answer ({detail})", paths.log)
    progress(f"postgres: ready on {where} ({watch})")


async def _reuse(settings: Settings, pid: int | None, progress: Progress) -> bool:
    """True when the DSN already answers: nothing to start or create."""
    port = settings.local.postgres_port
    if pid is None and not await port_open(HOST, port):
        return False
    ok, detail = await probe(settings.dsn)
    if ok:
        owner = f"pid {pid}" if pid is not None else "not started by alertpipe; reusing it"
        progress(f"postgres: already running on {address(settings)} ({owner})")
        return True
    if pid is None:
        raise InfrastructureError(
            f"postgres: something else listens on {HOST}:{port} and does not accept "
            f"{address(settings)} ({detail}); stop it, choose another port "
            "(ALERTPIPE_LOCAL__POSTGRES_PORT) or set ALERTPIPE_DATABASE_URL to use it"
        )
    return False  # ours, but the role or database is missing: `ensure_up` creates them


async def status(settings: Settings) -> ServerStatus:
    where = address(settings)
    if not settings.uses_local_postgres:
        ok, detail = await probe(settings.dsn)
        return ServerStatus("postgres", where, False, None, ok, f"external: {detail}")
    paths = PgPaths.of(settings)
    pid = running_pid(paths)
    if pid is None and not await port_open(HOST, settings.local.postgres_port):
        ok, detail = False, f"nothing listens on {HOST}:{settings.local.postgres_port}"
    else:
        ok, detail = await probe(settings.dsn)
    if pid is None and ok:
        detail += "; not started by alertpipe"
    elif pid is not None:
        detail += f"; log: {paths.log}"
    return ServerStatus("postgres", where, True, pid, ok, detail)


async def stop(settings: Settings, progress: Progress, purge: bool) -> None:
    """Stop the cluster (`pg_ctl stop -m fast`); the data folder stays unless `purge`."""
    paths = PgPaths.of(settings)
    pid = running_pid(paths)
    if pid is None:
        progress("postgres: not running (nothing started by alertpipe)")
    else:
        progress(f"postgres: stopping the server (pid {pid})…")
        watch = Stopwatch()
        await _stop_server(paths, pid)
        progress(f"postgres: stopped ({watch})")
    if purge:
        shutil.rmtree(paths.data, ignore_errors=True)
        paths.log.unlink(missing_ok=True)
        progress(f"postgres: removed {paths.data}")
    elif paths.data.exists():
        progress(f"postgres: data kept in {paths.data} (`alertpipe local down --purge` removes it)")


async def _stop_server(paths: PgPaths, pid: int) -> None:
    bin_dir = find_bin_dir(_data_version(paths))
    if bin_dir is None:  # binaries gone: SIGINT is PostgreSQL's "fast" shutdown
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        await terminate(pid, STOP_TIMEOUT_S)
        return
    command = [
        str(bin_dir / "pg_ctl"), "-D", str(paths.data), "-m", "fast",
        "-w", "-t", str(STOP_TIMEOUT_S), "stop",
    ]  # fmt: skip
    await run_logged(
        as_user(_server_user(), command),
        what="postgres: pg_ctl stop",
        log=paths.log,
        limit_s=STOP_TIMEOUT_S + 10,
    )
