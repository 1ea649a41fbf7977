"""``alertpipe config show``: the settings in effect, secrets masked; ``alertpipe config docs``:
the settings reference (docs/settings.md), written from the settings models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pydantic import ValidationError

from app.errors import ConfigError
from app.settings import Settings, get_settings, masked
from app.settings_docs import settings_markdown

__all__ = ["LOCAL_MARK", "in_effect", "load_settings", "register"]

#: Follows an address that is not configured but the local server's (`alertpipe local up`).
LOCAL_MARK = " (local)"


def load_settings() -> Settings:
    """The process settings; a validation failure becomes a ConfigError naming the variable."""
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        name = "ALERTPIPE_" + "__".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']}") from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "config",
        help="inspect settings (ALERTPIPE_* variables)",
        description="Inspect the settings: the values in effect (show) and the reference of "
        "every ALERTPIPE_* variable (docs).",
    )
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "show",
        help="print the settings in effect, secrets masked",
        description="Print every setting in effect as JSON (or as ALERTPIPE_* lines with "
        "--env). Secrets and receiver URLs are masked. An unset Kafka bootstrap or database "
        "URL shows the local server's address, marked (local).",
    )
    show.add_argument("--env", action="store_true", help="print as ALERTPIPE_* assignments")
    show.set_defaults(handler=_show)
    docs = sub.add_parser(
        "docs",
        help="print the settings reference (docs/settings.md) as Markdown",
        description="Print every ALERTPIPE_* variable with its type, default and description, "
        "as the Markdown of docs/settings.md, written from the settings models. Run "
        "`alertpipe config docs --write docs/settings.md` after changing a setting.",
    )
    docs.add_argument(
        "--write", type=Path, metavar="FILE", help="write the Markdown to FILE instead of stdout"
    )
    docs.set_defaults(handler=_docs)


def _flatten(data: dict[str, object], prefix: str = "ALERTPIPE_") -> list[str]:
    lines: list[str] = []
    for key, value in data.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, dict):
            lines.extend(_flatten(value, name + "__"))
        else:
            lines.append(f"{name}={'' if value is None else value}")
    return lines


def in_effect(settings: Settings) -> dict[str, object]:
    """``masked(settings)``, with the local servers' addresses where the bootstrap and the
    DSN are unset: ``null`` would hide which servers a command will really talk to."""
    data = masked(settings)
    if settings.uses_local_kafka:
        data["kafka_bootstrap"] = f"{settings.bootstrap}{LOCAL_MARK}"
    if settings.uses_local_postgres:  # the local DSN holds no password
        data["database_url"] = f"{settings.dsn}{LOCAL_MARK}"
    return data


def _show(args: argparse.Namespace) -> int:
    data = in_effect(load_settings())
    if args.env:
        print("\n".join(_flatten(data)))
    else:
        print(json.dumps(data, indent=2))
    return 0


def _docs(args: argparse.Namespace) -> int:
    text = settings_markdown()
    if args.write is None:
        print(text, end="")
    else:
        args.write.write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    return 0
