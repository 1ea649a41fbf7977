"""HTTP API of stages 3–4: incidents (ack, resolve, human decision), silences, health."""

from app.api.app import create_app
from app.api.deps import ApiDeps

__all__ = ["ApiDeps", "create_app"]
