"""A policy for tests that run whole scenarios: the built-in plan with shorter windows."""

from __future__ import annotations

from pathlib import Path

from streams.policy import default_policy_text

__all__ = ["fast_policy"]


def fast_policy(path: Path) -> Path:
    """The built-in plan with shorter windows, so that a drill resolves within a minute:
    1 m windows (and the integrity rule's 2 m) → 20 s, keep_firing_for 1 m → 5 s, a version
    is good after 10 s healthy."""
    text = default_policy_text()
    for old, new in (
        ("  window: 1m\n", "  window: 20s\n"),
        ("  keep_firing_for: 1m\n", "  keep_firing_for: 5s\n"),
        ("  healthy_for: 20s\n", "  healthy_for: 10s\n"),
        ("    window: 2m\n    min_samples: 1\n", "    window: 20s\n    min_samples: 1\n"),
    ):
        assert old in text, f"the default policy no longer has {old.strip()!r}"
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path
