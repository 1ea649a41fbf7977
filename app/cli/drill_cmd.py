"""``alertpipe drill start|list|show|abort|report`` and ``alertpipe review INC``: DR drills
and post-incident reviews, through the HTTP API of the running pipeline (``alertpipe run``).

The API's address is ``--api`` (default: ``http://ALERTPIPE_HTTP_HOST:ALERTPIPE_HTTP_PORT``)
and the token ``--token`` or ``ALERTPIPE_TOKEN`` (operators start and abort; viewers read).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import httpx

from app.cli.config_cmd import load_settings
from app.errors import ConfigError, InfrastructureError

__all__ = ["register"]

_DESCRIPTION = """\
Run the plan's monthly DR drill against the pipeline as it runs: `start` has the running
pipeline announce "DR Drill — this is a test" on chat, then play the scenario's telemetry
(marked with the drill's id) through Kafka, and lets it detect, decide and respond. Every call
the drill causes carries `X-Alertpipe-Drill` and "[DRILL]"; pages go to the drill routing key
(or nowhere), never the status page; control calls go to the drill URLs (or the console),
production's only with --live. `report` prints the drill's report (the plan's success
criteria) as Markdown. Talks to the API: --api, and a token (--token or ALERTPIPE_TOKEN).
"""

_REVIEW = """\
Print the post-incident review of a resolved incident (drafted from the evidence when an
incident that had a rollback or reached HIGH or CRITICAL is resolved), as Markdown, or as
JSON with --json. Operators fill root cause, lessons and owners with PATCH
/incidents/{id}/review.
"""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", help="the API's base URL (default: from ALERTPIPE_HTTP_*)")
    parser.add_argument("--token", help="an API token (default: ALERTPIPE_TOKEN)")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "drill",
        help="DR drills against the running pipeline, and their reports",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="drill_command", metavar="ACTION", required=True)
    start = sub.add_parser(
        "start",
        help="announce a drill and play a scenario of the plan",
        description="Start a DR drill of one scenario of the plan through the API.",
    )
    start.add_argument(
        "--scenario", required=True, choices=("s1", "s2", "s3", "s4"), help="the plan's scenario"
    )
    start.add_argument("--service", help="play the scenario's failing service under this name")
    start.add_argument(
        "--live",
        action="store_true",
        help="send the drill's control calls to the production URLs (an operator's choice)",
    )
    _common(start)
    start.set_defaults(handler=_start)
    listing = sub.add_parser(
        "list", help="recent drills and the drill schedule", description="List recent drills."
    )
    _common(listing)
    listing.set_defaults(handler=_list)
    for name, helped, handler in (
        ("show", "one drill with its report, as JSON", _show),
        ("abort", "stop a drill's traffic and close its incidents", _abort),
        ("report", "a drill's report as Markdown", _report),
    ):
        one = sub.add_parser(name, help=helped, description=f"{helped[0].upper()}{helped[1:]}.")
        one.add_argument("id", help="the drill's id (drill_…)")
        _common(one)
        one.set_defaults(handler=handler)
    review = commands.add_parser(
        "review",
        help="print an incident's post-incident review",
        description=_REVIEW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    review.add_argument("incident", help="the incident's id (inc_…)")
    review.add_argument("--json", action="store_true", help="the review as JSON")
    _common(review)
    review.set_defaults(handler=_review)


def _client(args: argparse.Namespace) -> httpx.AsyncClient:
    settings = load_settings()
    base = args.api or f"http://{settings.http_host}:{settings.http_port}"
    token = args.token or (settings.token.get_secret_value() if settings.token else None)
    if not token:
        raise ConfigError("no API token: pass --token or set ALERTPIPE_TOKEN")
    return httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    )


async def _call(args: argparse.Namespace, method: str, path: str, **kw: Any) -> httpx.Response:
    async with _client(args) as client:
        try:
            answer = await client.request(method, path, **kw)
        except httpx.TransportError as error:
            raise InfrastructureError(
                f"the API at {client.base_url} did not answer ({type(error).__name__}); "
                "is `alertpipe run` serving it? (--api)"
            ) from None
    if answer.status_code >= 400:
        raise ConfigError(f"{method} {path}: HTTP {answer.status_code}: {_message(answer)}")
    return answer


def _message(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("message", answer.text))
    except ValueError:
        return answer.text[:300]


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


async def _start(args: argparse.Namespace) -> int:
    body = {"scenario": args.scenario, "service": args.service, "live": args.live}
    drill = (await _call(args, "POST", "/drills", json=body)).json()
    print(
        f"drill {drill['id']} started ({args.scenario}{', LIVE' if args.live else ''}): "
        f"`alertpipe drill show {drill['id']}`, `alertpipe drill abort {drill['id']}`"
    )
    return 0


async def _list(args: argparse.Namespace) -> int:
    found = (await _call(args, "GET", "/drills")).json()
    schedule = found["schedule"]
    print(f"schedule: every {schedule['every_days']:g} days; overdue: {schedule['overdue']}")
    for d in found["drills"]:
        print(f"{d['id']}  {d['scenario']}  {d['status']:<9} {d['created_at']}  {d['started_by']}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    _print((await _call(args, "GET", f"/drills/{args.id}")).json())
    return 0


async def _abort(args: argparse.Namespace) -> int:
    print((await _call(args, "POST", f"/drills/{args.id}/abort")).json()["message"])
    return 0


async def _report(args: argparse.Namespace) -> int:
    answer = await _call(args, "GET", f"/drills/{args.id}", params={"format": "markdown"})
    print(answer.text, end="")
    return 0


async def _review(args: argparse.Namespace) -> int:
    params = {"format": "json" if args.json else "markdown"}
    answer = await _call(args, "GET", f"/incidents/{args.incident}/review", params=params)
    if args.json:
        _print(answer.json())
    else:
        print(answer.text, end="")
    return 0
