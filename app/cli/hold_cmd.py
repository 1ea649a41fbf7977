"""``alertpipe hold set|list|lift``: the global automation hold, from a shell (operators do the
same over ``/automation-holds``). It works on the database directly, so it stops automation
even when no ``api`` process runs."""

from __future__ import annotations

import argparse
import getpass
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.cli.config_cmd import load_settings
from app.cli.database import migrated_pool, when
from app.errors import ConfigError
from app.storage.holds import PgHoldStore
from handlers.holds import GlobalHold

__all__ = ["register"]

_DESCRIPTION = """\
Stop every automated control action at once — circuit breakers, rollbacks, data restores, bot
restarts — for every incident, while decisions are still made, incidents recorded and people
notified. Held calls wait in the outbox (under their idempotency keys) and go out once the hold
is lifted; a rollback starts no phase meanwhile. Works on PostgreSQL directly
(ALERTPIPE_DATABASE_URL, or the local server), so it holds even with the API down.
"""


def _author(text: str) -> str:
    if not text.strip() or len(text) > 200:
        raise argparse.ArgumentTypeError("1 to 200 characters")
    return text


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "hold",
        help="stop (and resume) every automated control action",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="hold_command", metavar="ACTION", required=True)
    hold = sub.add_parser(
        "set",
        help="set a global hold: automation stops now",
        description="Set a global automation hold, with the reason and its author; every "
        "incident shows it, and no control call goes out until it is lifted.",
    )
    hold.add_argument("--reason", required=True, type=_author, help="why automation stops")
    hold.add_argument("--by", type=_author, help="its author (default: your login name)")
    hold.set_defaults(handler=_set)
    listing = sub.add_parser(
        "list",
        help="list the standing holds",
        description="List the standing global holds (with --all, the lifted ones too): id, "
        "reason, who set it and when, who lifted it.",
    )
    listing.add_argument("--all", action="store_true", help="include lifted holds")
    listing.set_defaults(handler=_list)
    lift = sub.add_parser(
        "lift",
        help="lift a hold: held calls go out",
        description="Lift a standing global hold by its id; the control calls it held go out "
        "at once (each exactly once) unless another hold still holds them.",
    )
    lift.add_argument("hold", metavar="ID", help="the hold's id (alertpipe hold list)")
    lift.add_argument("--by", type=_author, help="who lifts it (default: your login name)")
    lift.set_defaults(handler=_lift)


@asynccontextmanager
async def _store() -> AsyncIterator[PgHoldStore]:
    async with migrated_pool(load_settings()) as pool:
        yield PgHoldStore(pool)


def _line(hold: GlobalHold) -> str:
    lifted = f"  lifted {when(hold.lifted_at)} by {hold.lifted_by}" if hold.lifted_at else ""
    return f"{hold.id}  set {when(hold.created_at)} by {hold.created_by}: {hold.reason}{lifted}"


async def _set(args: argparse.Namespace) -> int:
    async with _store() as store:
        hold = await store.create_hold(args.reason, args.by or getpass.getuser(), time.time())
    print(f"held: {_line(hold)}")
    print(f"lift it with: alertpipe hold lift {hold.id}")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with _store() as store:
        holds = await store.holds(args.all)
    for hold in holds:
        print(_line(hold))
    if not holds:
        print("no standing hold: automation runs")
    return 0


async def _lift(args: argparse.Namespace) -> int:
    async with _store() as store:
        lifted = await store.lift_hold(args.hold, args.by or getpass.getuser(), time.time())
    if lifted is None:
        raise ConfigError(f"{args.hold}: no standing hold has this id (alertpipe hold list)")
    print(f"lifted: {_line(lifted)}")
    return 0
