"""The alerting policy: a YAML file of rules and the plan's numbers, validated.

    policy = load_policy(path)   # None: the built-in plan (default.yaml)
    for rule in policy.rules: ...

Invalid files raise ``PolicyInvalid``, whose problems name file, rule, field and what was
expected.
"""

from __future__ import annotations

from streams.policy.durations import format_duration, parse_duration_ms
from streams.policy.errors import PolicyInvalid, Problem
from streams.policy.load import DEFAULT_POLICY, default_policy_text, load_policy, parse_policy
from streams.policy.metrics import METRICS, MetricInfo
from streams.policy.model import (
    BotPolicy,
    CascadePolicy,
    Condition,
    DeployPolicy,
    PhaseRetries,
    Policy,
    Readiness,
    RollbackPolicy,
    Rule,
    ThroughputPolicy,
    scope_fields,
)

__all__ = [
    "DEFAULT_POLICY",
    "METRICS",
    "BotPolicy",
    "CascadePolicy",
    "Condition",
    "DeployPolicy",
    "MetricInfo",
    "PhaseRetries",
    "Policy",
    "PolicyInvalid",
    "Problem",
    "Readiness",
    "RollbackPolicy",
    "Rule",
    "ThroughputPolicy",
    "default_policy_text",
    "format_duration",
    "load_policy",
    "parse_duration_ms",
    "parse_policy",
    "scope_fields",
]
