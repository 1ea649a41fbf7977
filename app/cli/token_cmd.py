"""``alertpipe token create|list|revoke``: API tokens, from a shell (admins do the same over
``/tokens``). The token is printed once, at creation; the database keeps only its hash."""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.cli.config_cmd import load_settings
from app.cli.database import migrated_pool, when
from app.credentials import TOKEN_NAME, NameTaken, StoredToken, issue_token
from app.errors import ConfigError
from app.roles import ROLE_NAMES, ROLES
from app.storage.tokens import PgCredentialStore

__all__ = ["register"]

_BY = "cli"  # who created or revoked a token from the shell, as the token list shows it

_ROLES = "\n".join(f"  {role.name:<9} {role.grants}" for role in ROLES)
_DESCRIPTION = f"""\
Create, list and revoke the tokens of the HTTP API and the console. A token is printed once,
when it is created; only its SHA-256 is stored (in PostgreSQL: ALERTPIPE_DATABASE_URL, or the
local server). Send it as `Authorization: Bearer <token>`, or sign in to the console with it.
Each role has the rights of the roles above it:

{_ROLES}
"""


def _name(text: str) -> str:
    if not re.fullmatch(TOKEN_NAME, text):
        raise argparse.ArgumentTypeError(
            "1 to 100 letters, digits or `._@-`, starting with a letter or digit"
        )
    return text


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "token",
        help="create, list and revoke API tokens",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    create = sub.add_parser(
        "create",
        help="create a token and print it (once)",
        description="Create a token with a name (the actor the timeline records) and a role, "
        "and print it. It is shown this once: store it in a secret manager.",
    )
    create.add_argument(
        "--name", required=True, type=_name, help="who or what uses it (letters, digits, `._@-`)"
    )
    create.add_argument("--role", required=True, choices=ROLE_NAMES, help="what it may do")
    create.set_defaults(handler=_create)
    listing = sub.add_parser(
        "list",
        help="list tokens (never their secrets)",
        description="List the live tokens (with --revoked, the revoked ones too): id, name, "
        "role, when and by whom created or revoked.",
    )
    listing.add_argument("--revoked", action="store_true", help="include revoked tokens")
    listing.set_defaults(handler=_list)
    revoke = sub.add_parser(
        "revoke",
        help="revoke a token (its sessions end too)",
        description="Revoke a live token by its id or its name; requests with it are refused "
        "from then on and the console sessions signed in with it end.",
    )
    revoke.add_argument("token", metavar="ID_OR_NAME", help="the token's id or name")
    revoke.set_defaults(handler=_revoke)


@asynccontextmanager
async def _store() -> AsyncIterator[PgCredentialStore]:
    async with migrated_pool(load_settings()) as pool:
        yield PgCredentialStore(pool)


def _line(token: StoredToken) -> str:
    revoked = (
        f"  revoked {when(token.revoked_at)} by {token.revoked_by}" if token.revoked_at else ""
    )
    return (
        f"{token.id}  {token.name:<20} {token.role:<9} "
        f"created {when(token.created_at)} by {token.created_by}{revoked}"
    )


async def _create(args: argparse.Namespace) -> int:
    async with _store() as store:
        try:
            stored, value = await issue_token(store, args.name, args.role, _BY, time.time())
        except NameTaken:
            raise ConfigError(
                f"--name {args.name}: a live token has this name; revoke it first "
                f"(`alertpipe token revoke {args.name}`)"
            ) from None
    print(value)
    print(f"token {stored.id} ({stored.name}, {stored.role}): shown once, store it now")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with _store() as store:
        tokens = await store.tokens(args.revoked)
    for token in tokens:
        print(_line(token))
    if not tokens:
        print("no tokens (create one: alertpipe token create --name NAME --role ROLE)")
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    async with _store() as store:
        revoked = await store.revoke_token(args.token, _BY, time.time())
    if revoked is None:
        raise ConfigError(f"{args.token}: no live token has this id or name")
    print(f"revoked {_line(revoked)}")
    return 0
