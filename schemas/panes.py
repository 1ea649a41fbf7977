"""Closed pane summaries, wire version 1: what stage 1 (aggregate) hands to stage 2 (evaluate).

A pane is a short event-time interval (1 s by default) of one scope, identified by
``pane_id`` = ``{scope key}@{start_ms}/{partition}``; it is published on time and again, with a
higher ``revision``, when late events refine it, so a consumer keeps the highest revision and
replaces, never adds (docs/telemetry.md, "Panes: on time, then refinements"). Panes are
mergeable: windows are built by merging panes (``schemas.window``). A producer that does not
key telemetry by service yields one partial pane per partition, each with its own identity:
merging them is still exact for counts, sums, maxima and (within the sketch's alpha)
percentiles, but not for readings ordered by event time across partitions (last CPU, first
queue depth, bot transitions, latest integrity detail): partial panes do not carry those times.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BackupRecord",
    "BotStats",
    "DeployRecord",
    "Dimension",
    "IntegrityStats",
    "LatencySketch",
    "LogStats",
    "PaneSummary",
    "QueueStats",
    "RequestStats",
    "ResourceStats",
    "RestoreTestRecord",
    "Scope",
    "Truncated",
    "scope_text",
]

Dimension = Literal["endpoint", "host", "queue", "bot", "check", "dataset", "service"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class Scope(_Model):
    """What a pane is about: one service and one natural key of it."""

    service: str
    dimension: Dimension = Field(
        description="endpoint for requests/logs, host, queue, bot, check, dataset (backups)"
    )
    key: str = Field(
        description="endpoint, host, queue, bot id, check or dataset; the service for "
        "service-wide panes"
    )
    drill: str | None = Field(
        default=None, description="the DR drill whose telemetry it is; absent for real traffic"
    )

    @property
    def id(self) -> str:
        """Stable text form, used as the Kafka key of panes: ``service|dimension|key``, and
        ``|drill:<id>`` after it for a drill's scope (never equal to a real scope's id)."""
        return scope_text(self.service, self.dimension, self.key, self.drill)


def scope_text(service: str, dimension: str, key: str, drill: str | None = None) -> str:
    """``Scope.id`` from its parts (stage 1 builds it without a model)."""
    base = f"{service}|{dimension}|{key}"
    return base if drill is None else f"{base}|drill:{drill}"


class LatencySketch(_Model):
    """A DDSketch (relative-error quantile sketch): bucket counts from ``offset``, run-length.

    Bucket i holds values in (gamma^(i-1), gamma^i], gamma = (1 + alpha) / (1 - alpha);
    values at or below ``min_value`` count as ``zeros``. In ``counts`` an entry n >= 0 is the
    count of the next bucket and an entry -k skips k empty buckets: ``offset=116,
    counts=[2, -114, 1]`` is 2 in bucket 116 and 1 in bucket 231. A dense list (no negative
    entries, the form published before) reads the same way. Stage 1 publishes at most 2048
    buckets per sketch, collapsing the lowest ones when values lie farther apart.
    """

    alpha: float = Field(gt=0, lt=1)
    min_value: float = Field(default=0.0, ge=0, description="values at or below count as zeros")
    zeros: int = Field(default=0, ge=0)
    offset: int = Field(default=0, description="index of the bucket counts[0] is about")
    counts: list[int] = Field(
        default_factory=list,
        description="bucket counts from offset; an entry -k stands for k empty buckets",
    )


class RequestStats(_Model):
    count: int = Field(ge=0)
    errors: int = Field(ge=0, description="5xx responses")
    latency: LatencySketch
    min_ms: float
    max_ms: float
    versions: dict[str, int] = Field(default_factory=dict, description="requests per version")


class LogStats(_Model):
    total: int = Field(ge=0)
    errors: int = Field(ge=0, description="error and critical lines")


class ResourceStats(_Model):
    samples: int = Field(ge=0)
    cpu_last: float | None = None
    cpu_max: float | None = None
    mem_last: float | None = None
    mem_max: float | None = None


class QueueStats(_Model):
    samples: int = Field(ge=0)
    depth_first: int = Field(ge=0, description="depth of the earliest sample in the pane")
    depth_last: int = Field(ge=0, description="depth of the latest sample in the pane")
    depth_max: int = Field(ge=0)
    last_ts: float | None = Field(default=None, description="event time of the latest sample")


class BotStats(_Model):
    transitions: list[tuple[float, str]] = Field(
        default_factory=list, description="(event time, status) in event-time order"
    )
    last_status: str


class IntegrityStats(_Model):
    checks: int = Field(ge=0)
    failures: int = Field(ge=0)
    last_detail: str | None = None


class DeployRecord(_Model):
    ts: float
    version: str
    status: Literal["started", "succeeded", "failed", "rolled_back"]


class BackupRecord(_Model):
    """One backup event of a dataset pane, as reported (``ts``: when it was reported)."""

    ts: float
    backup_id: str
    type: Literal["wal", "incremental", "full", "offsite"]
    status: Literal["succeeded", "failed"]
    taken_at: float = Field(description="epoch seconds: the moment the backup's data is from")
    size_bytes: int | None = None
    location: str | None = None


class RestoreTestRecord(_Model):
    """One test restore of a backup of a dataset pane (``ts``: when it was reported)."""

    ts: float
    backup_id: str
    ok: bool
    duration_s: float
    environment: str


class Truncated(_Model):
    """What a pane's caps left out (the caps, per pane, are listed in the README)."""

    versions: int = Field(
        default=0, ge=0, description="requests of versions beyond the cap: not in `versions`"
    )
    transitions: int = Field(
        default=0, ge=0, description="bot transitions left out of the middle of `transitions`"
    )
    deploys: int = Field(default=0, ge=0, description="deploy events beyond the cap")
    backups: int = Field(
        default=0, ge=0, description="backup and restore-test events beyond the cap"
    )


class PaneSummary(_Model):
    """Everything stage 1 learned about one scope in one pane."""

    v: Literal[1] = 1
    pane_id: str = Field(description="{scope.id}@{start_ms}/{partition}: the identity, for dedup")
    scope: Scope
    start_ms: int
    end_ms: int
    partition: int | None = Field(default=None, description="telemetry partition it came from")
    revision: int = Field(
        default=0,
        ge=0,
        description="a later revision of the same pane_id (late events counted) replaces an "
        "earlier one: the offset of the last telemetry record handled when it was made",
    )
    requests: RequestStats | None = None
    logs: LogStats | None = None
    resource: ResourceStats | None = None
    queue: QueueStats | None = None
    bot: BotStats | None = None
    integrity: IntegrityStats | None = None
    deploys: list[DeployRecord] = Field(default_factory=list)
    backups: list[BackupRecord] = Field(
        default_factory=list, description="dataset panes: backups reported, by report time"
    )
    restore_tests: list[RestoreTestRecord] = Field(
        default_factory=list, description="dataset panes: test restores reported"
    )
    truncated: Truncated = Field(
        default_factory=Truncated, description="what the caps cut; absent (all 0) normally"
    )

    @staticmethod
    def make_id(scope: Scope, start_ms: int, partition: int | None = None) -> str:
        base = f"{scope.id}@{start_ms}"
        return base if partition is None else f"{base}/{partition}"
