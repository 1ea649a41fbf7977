"""Reading an ingest request's body: its media type, its size limit, gzip.

``read_body`` reads at most ``limit`` bytes as sent (a ``Content-Length`` beyond it is refused
before reading) and, under ``Content-Encoding: gzip``, at most ``limit`` bytes once
decompressed, so neither a large body nor a small bomb costs more than the limit: 413 either
way. Another encoding is 415, so is a media type the route does not take (``media_type``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import TypeVar

from fastapi import Request

from app.api.errors import ApiError

__all__ = ["media_type", "read_body"]

F = TypeVar("F", bound=str)


def media_type(request: Request, accepted: Mapping[str, F]) -> F:
    """What ``accepted`` (media type → format) says of the request's ``Content-Type``."""
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
    found = accepted.get(sent)
    if found is None:
        names = ", ".join(dict.fromkeys(accepted))
        raise ApiError(415, f"Content-Type {sent or '(none)'!r} is not taken here; send {names}")
    return found


def _too_large(limit: int, what: str) -> ApiError:
    return ApiError(413, f"the body is larger than {limit} bytes {what}; send smaller batches")


async def read_body(request: Request, limit: int) -> bytes:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise ApiError(415, f"Content-Encoding {encoding!r} is not taken; send gzip or none")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, "as sent")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit, "as sent")
        chunks.append(chunk)
    body = b"".join(chunks)
    return _gunzip(body, limit) if encoding == "gzip" else body


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as error:
        raise ApiError(400, f"the body is not valid gzip: {error}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit, "once decompressed")
    if not inflater.eof:
        raise ApiError(400, "the gzip body is cut short")
    return out
