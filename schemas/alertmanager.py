"""Alertmanager's webhook payload, version 4: what its ``webhook_configs`` receiver POSTs
(what alertpipe makes of it: docs/policy.md, "Alertmanager's alerts").

Only ``version`` 4 is read (another version is refused rather than half-understood). A firing
alert's ``endsAt`` is Go's zero time, or the time it will be taken as resolved if not re-sent.
Fields this model does not name are ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["AlertmanagerAlert", "AlertmanagerWebhook"]

Labels = dict[str, str]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class AlertmanagerAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: Labels = Field(max_length=200)
    annotations: Labels = Field(default_factory=dict, max_length=200)
    starts_at: AwareDatetime = Field(alias="startsAt")
    ends_at: AwareDatetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL", max_length=4096)
    fingerprint: str = Field(min_length=1, max_length=256)


class AlertmanagerWebhook(_Model):
    version: Literal["4"]
    group_key: str = Field(default="", alias="groupKey", max_length=4096)
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(default="", max_length=1024)
    group_labels: Labels = Field(default_factory=dict, alias="groupLabels")
    common_labels: Labels = Field(default_factory=dict, alias="commonLabels")
    common_annotations: Labels = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL", max_length=4096)
    alerts: list[AlertmanagerAlert] = Field(max_length=10_000)
