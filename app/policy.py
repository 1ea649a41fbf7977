"""The policy in effect, loaded for the composition root and the CLI."""

from __future__ import annotations

from pathlib import Path

from app.errors import PolicyError
from app.settings import Settings
from streams.policy import Policy, PolicyInvalid, load_policy

__all__ = ["load_policy_file", "policy_from_settings"]


def load_policy_file(path: Path | None) -> Policy:
    """The policy at ``path`` (None: the built-in plan); problems become ``PolicyError``."""
    try:
        return load_policy(path)
    except PolicyInvalid as error:
        raise PolicyError(error.report()) from None


def policy_from_settings(settings: Settings) -> Policy:
    """The policy in effect: ``ALERTPIPE_POLICY`` or the built-in plan."""
    return load_policy_file(settings.policy)
