"""HTTP API of stages 3–4: incidents (ack, resolve, human decision), silences, health, metrics."""

from app.api.app import create_app, create_probe_app
from app.api.deps import ApiDeps

__all__ = ["ApiDeps", "create_app", "create_probe_app"]
