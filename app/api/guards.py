"""What every request must be before a route sees it: not too large, and only text that
PostgreSQL can store. Both answer in the one error body (``app.api.errors``).

``BodyLimit`` (ASGI middleware) refuses a body over ``ALERTPIPE_HTTP_MAX_BODY_BYTES`` with 413,
at once from its ``Content-Length`` or as soon as the bytes read pass the limit, so a chunked
body is never buffered whole; exempt paths (ingest) read theirs to a limit of their own.
``storable_text`` (an app-wide dependency) answers a NUL character (which PostgreSQL's
``text`` and ``jsonb`` refuse) or a lone surrogate (not encodable as UTF-8) anywhere in the
path, query or JSON body with a 422 naming the field, instead of a database error and a 500.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import ERROR_CODES, ApiError, FieldError, credential_refusal

__all__ = ["BodyLimit", "declare_guarded_answers", "storable_text", "unstorable"]

_WHY = "text PostgreSQL cannot store: a NUL character (\\u0000) or a lone surrogate"


def _too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit} bytes")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, never reading more than that."""

    def __init__(self, app: ASGIApp, limit: int, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.limit = limit
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # FastAPI passes an HTTPException from reading the body on to the app's
                    # handler, which answers it in the one error body.
                    raise _too_large(self.limit)
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {"error": "too_large", "message": f"the request body is larger than {self.limit} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


def _bad(text: str) -> bool:
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unstorable(value: Any, where: str) -> Iterator[str]:
    """The places in ``value`` (JSON-like) holding text PostgreSQL cannot store. Iterative: a
    body nested as deep as the JSON parser allows is walked without a recursion error."""
    stack: list[tuple[Any, str]] = [(value, where)]
    while stack:
        item, at = stack.pop()
        if isinstance(item, str):
            if _bad(item):
                yield at
        elif isinstance(item, dict):
            for key, inner in reversed(list(item.items())):
                if _bad(str(key)):
                    yield at
                    continue
                stack.append((inner, f"{at}.{key}"))
        elif isinstance(item, list):
            stack.extend((inner, f"{at}.{n}") for n, inner in reversed(list(enumerate(item))))


async def storable_text(request: Request) -> None:
    """An app-wide dependency: 422 for unstorable text in the path, query or JSON body that the
    route reads (a query parameter or a body it does not declare never reaches the database)."""
    route = request.scope.get("route")
    declared = _query_names(route.dependant) if isinstance(route, APIRoute) else set()
    found = [
        *(f"path.{k}" for k, v in request.path_params.items() if isinstance(v, str) and _bad(v)),
        *(f"query.{k}" for k, v in request.query_params.multi_items() if k in declared and _bad(v)),
    ]
    if isinstance(route, APIRoute) and route.body_field is not None and _is_json(request):
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            body = None  # not JSON: the route's own validation says so
        found += unstorable(body, "body")
    if found:
        refused = await credential_refusal(request)
        if refused is not None:
            raise refused
        fields = [FieldError(field=f, message=_WHY) for f in dict.fromkeys(found)]
        raise ApiError(422, f"invalid request: {', '.join(f.field for f in fields)}", fields=fields)


def _query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route (and its dependencies) declares."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _is_json(request: Request) -> bool:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    kind = request.headers.get("content-type", "")
    return kind.split(";")[0].strip().lower().endswith("json")


def declare_guarded_answers(app: FastAPI) -> None:
    """The OpenAPI document says what these guards (and FastAPI's body parsing) may answer
    every operation: with a request body, 400 (bytes that are not even text), 413 and 422;
    with parameters, 422 — each in the one error body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()  # FastAPI's, cached until the routes change
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                statuses = [400, 413, 422] if "requestBody" in operation else []
                if operation.get("parameters"):
                    statuses.append(422)
                answers = operation.setdefault("responses", {})
                for status in dict.fromkeys(statuses):
                    answers.setdefault(str(status), _error_answer(status))
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _error_answer(status: int) -> dict[str, Any]:
    return {
        "description": f"{ERROR_CODES[status]}: see `message`",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
    }
