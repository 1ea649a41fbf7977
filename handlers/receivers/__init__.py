"""Receivers: where the outbox's actions go — one small module per kind of receiver.

Every receiver has one method, ``send(outbound) -> SendResult``; retryability is part of the
result. HTTP receivers sign their body (``signing``) and share one poster (``http``); with no
URL configured the ``console`` receiver prints one readable line per effect instead.
"""

from handlers.receivers.base import Outbound, Receiver

__all__ = ["Outbound", "Receiver"]
