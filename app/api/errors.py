"""The one error body of the HTTP API, for every 4xx of every route and handler:

    {"error": "<code>", "message": "<a sentence saying why>", "fields": [{"field", "message"}]}

``error`` is a stable machine-readable code (``ERROR_CODES``), ``message`` a sentence for a
person, ``fields`` (only on ``invalid_request``) names each bad field as ``body.action``,
``query.status`` … Routes raise ``ApiError``; FastAPI's own errors (a validation error, an
unknown path or method) are rewritten to the same shape by the handlers ``install`` adds.
``error_responses(401, 403, …)`` declares the body in a route's OpenAPI ``responses``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import CommandError

__all__ = [
    "CSRF",
    "ERROR_CODES",
    "ApiError",
    "ErrorBody",
    "FieldError",
    "error_responses",
    "install",
]

# The code of each status (one list): a client switches on ``error``, never on the message.
ERROR_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "throttled",
    503: "unavailable",  # a server it needs (Kafka, PostgreSQL) did not answer: try again
}
CSRF = "csrf"  # a 403 of its own: a cookie-authenticated write without the session's CSRF token


class FieldError(BaseModel):
    field: str = Field(description="where: `body.<name>`, `query.<name>`, `path.<name>` …")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx answer of the API."""

    error: str = Field(
        description="machine-readable code: " + ", ".join(sorted({*ERROR_CODES.values(), CSRF}))
    )
    message: str = Field(description="a sentence saying what was wrong")
    fields: list[FieldError] | None = Field(
        default=None, description="each bad field (only with `invalid_request`)"
    )


class ApiError(CommandError):
    """An error answer in the one shape: ``raise ApiError(404, "no incident 'inc_1'")``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        fields: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or ERROR_CODES.get(status, HTTPStatus(status).phrase.lower())
        self.message = message
        self.fields = fields
        self.headers = dict(headers) if headers else None


def _body(code: str, message: str, fields: list[FieldError] | None = None) -> dict[str, Any]:
    return ErrorBody(error=code, message=message, fields=fields).model_dump(exclude_none=True)


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    body = _body(error.code, error.message, error.fields)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    """Starlette's own errors: an unknown path (404), a method the path has not (405)."""
    assert isinstance(error, StarletteHTTPException)
    phrase = HTTPStatus(error.status_code).phrase
    message = error.detail if isinstance(error.detail, str) and error.detail else phrase
    body = _body(ERROR_CODES.get(error.status_code, phrase.lower()), message)
    return JSONResponse(body, status_code=error.status_code, headers=error.headers)


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


# Checks a request's credential when its body was refused before the route's dependencies
# ran (``app.api.auth.refusal_before_the_body``; passed in: auth imports this module).
Gate = Callable[[Request], Awaitable["ApiError | None"]]


async def credential_refusal(request: Request) -> ApiError | None:
    """Before refusing a body the route never saw: the refusal of its credential, if any."""
    gate: Gate | None = getattr(request.app.state, "body_gate", None)
    return await gate(request) if gate is not None else None


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    refused = await credential_refusal(request)
    if refused is not None:
        return await _api_error(request, refused)
    fields = [FieldError(field=_where(e["loc"]), message=e["msg"]) for e in error.errors()]
    names = ", ".join(dict.fromkeys(f.field for f in fields))
    body = _body("invalid_request", f"invalid request: {names}", fields)
    return JSONResponse(body, status_code=422)


def install(app: FastAPI, body_gate: Gate | None = None) -> None:
    """Every error of ``app`` in the one shape; a refused body is a 401/403 first when
    ``body_gate`` refuses the request's credential."""
    app.state.body_gate = body_gate
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of a route that can answer these statuses."""
    return {
        status: {"model": ErrorBody, "description": f"{ERROR_CODES[status]}: see `message`"}
        for status in statuses
    }
