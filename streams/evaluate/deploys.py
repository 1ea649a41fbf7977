"""Deploy awareness per service: the version in effect, the post-deploy window, last good.

Deploy records (from the service-wide panes) move the version in effect and open a
post-deploy window. The version served (the majority version of the service's requests)
fills in when no deploy was seen. A version becomes the *last known good* one once it has
run ``healthy_for`` with no alert at ``unhealthy_at`` or above pending or firing and, if it
arrived by a deploy, got through its post-deploy window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from schemas.panes import DeployRecord
from streams.policy.model import DeployPolicy

__all__ = ["VersionTrack", "after_deploy", "after_health", "after_served", "in_post_deploy"]


@dataclass(frozen=True)
class VersionTrack:
    current: str | None = None
    previous: str | None = None
    deployed_at_ms: int | None = None  # when `current` was deployed, if a deploy was seen
    healthy_since_ms: int | None = None  # `current` healthy without a break since then
    last_good: str | None = None


def _switch(track: VersionTrack, version: str, deployed_at_ms: int | None) -> VersionTrack:
    return replace(
        track,
        current=version,
        previous=track.current,
        deployed_at_ms=deployed_at_ms,
        healthy_since_ms=None,
    )


def after_deploy(track: VersionTrack, deploy: DeployRecord) -> VersionTrack:
    """The track after one deploy record (records arrive in event-time order)."""
    at_ms = round(deploy.ts * 1000)
    if deploy.status in ("started", "succeeded"):
        if deploy.version != track.current:
            return _switch(track, deploy.version, at_ms)
        if track.deployed_at_ms is None:  # traffic showed the version before its deploy record
            return replace(track, deployed_at_ms=at_ms, healthy_since_ms=None)
        return track
    # failed / rolled_back: that version is no longer in effect; the one before it is.
    if deploy.version != track.current:
        return track
    back_to = track.previous or track.last_good
    return replace(_switch(track, back_to, at_ms), previous=None) if back_to else track


def after_served(
    track: VersionTrack, versions: Mapping[str, int], at_ms: int, policy: DeployPolicy
) -> VersionTrack:
    """Adopt the version most requests report when no deploy record said so.

    Inside a post-deploy window the deploy records are trusted (a rollout mixes versions).
    """
    if not versions:
        return track
    served = max(sorted(versions), key=lambda version: versions[version])
    if track.current is None:
        return replace(track, current=served)
    if served == track.current or in_post_deploy(track, at_ms, policy):
        return track
    return _switch(track, served, None)


def in_post_deploy(track: VersionTrack, at_ms: int, policy: DeployPolicy) -> bool:
    deployed = track.deployed_at_ms
    return deployed is not None and deployed <= at_ms < deployed + policy.post_deploy_window_ms


def after_health(
    track: VersionTrack, healthy: bool, at_ms: int, policy: DeployPolicy
) -> VersionTrack:
    """Advance the healthy clock of the version in effect; promote it to last good."""
    if not healthy:
        return track if track.healthy_since_ms is None else replace(track, healthy_since_ms=None)
    since = at_ms if track.healthy_since_ms is None else track.healthy_since_ms
    track = track if since == track.healthy_since_ms else replace(track, healthy_since_ms=since)
    proven = at_ms - since >= policy.healthy_for_ms and not in_post_deploy(track, at_ms, policy)
    if proven and track.current is not None and track.last_good != track.current:
        return replace(track, last_good=track.current)
    return track
