"""Webhook signatures: HMAC-SHA256 over ``<ts>.<body>``, sent as ``X-Alertpipe-Signature``.

    X-Alertpipe-Signature: t=1795626000,v1=5257a869e7ec…(64 hex digits)

``t`` is the sender's epoch seconds; ``v1`` is the hex HMAC-SHA256 of the bytes
``f"{t}.".encode() + body`` keyed with ``ALERTPIPE_WEBHOOK_SECRET``. A receiver recomputes it
over the raw body it got, compares in constant time, and rejects a ``t`` too far from its own
clock (replay protection). Idempotency-Key is not part of the signature: it is also in the body.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HEADER", "sign", "verify"]

HEADER = "X-Alertpipe-Signature"


def _digest(secret: str, ts: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, ts: int, body: bytes) -> str:
    """The header value for ``body`` sent at ``ts``."""
    return f"t={ts},v1={_digest(secret, ts, body)}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300.0) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` and its time is within tolerance."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        ts = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(_digest(secret, ts, body), fields.get("v1", ""))
