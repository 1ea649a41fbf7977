"""Each fixed list is declared once; everything else that names its members is derived from it
or checked against it here: the action kinds (``schemas.incidents.ActionKind`` and the table
``handlers.actions.ACTIONS``) and the rollback phases (``schemas.rollback.RollbackPhase``, the
table ``handlers.rollback.phases.SPECS``, ``PhaseRetries`` and the shipped ``default.yaml``).
The SQL CHECK lists are checked against the same literals in
tests/integration/app/test_migrations.py (they need the migrated database)."""

from __future__ import annotations

from typing import get_args

import yaml

import handlers.config
import streams.policy
from app.settings import RECEIVER_URLS, Settings
from handlers.actions import ACTIONS, LANES, NOTIFICATION_KINDS, URL_SETTINGS
from handlers.config import RollbackConfig
from handlers.incidents.effects import ActionIntent
from handlers.outbox.ports import Claimed
from handlers.rollback.phases import BUDGET_FIELDS, SPECS
from schemas.incidents import ActionKind, ActionRecord, PhaseRecord, RollbackRecord
from schemas.rollback import PHASES, PhaseRetries, PhaseStatus, RollbackPhase, RollbackStatus
from schemas.severity import Severity
from streams.policy.load import default_policy_text

# Operators' environments name these: a change to the table must not rename one.
URL_VARIABLES = [
    "ALERTPIPE_PAGER_URL",
    "ALERTPIPE_CHAT_URL",
    "ALERTPIPE_STATUSPAGE_URL",
    "ALERTPIPE_BREAKER_URL",
    "ALERTPIPE_ROLLBACK_URL",
    "ALERTPIPE_RESTORE_URL",
    "ALERTPIPE_BOT_RESTART_URL",
]


def test_the_action_table_has_one_row_per_wire_kind_in_its_order() -> None:
    assert tuple(ACTIONS) == get_args(ActionKind)
    assert ActionRecord.model_fields["kind"].annotation == ActionKind


def test_control_calls_and_only_they_are_in_the_control_lane() -> None:
    assert {"page", "chat", "status_page"} <= NOTIFICATION_KINDS
    assert LANES["control"] == frozenset(get_args(ActionKind)) - NOTIFICATION_KINDS
    assert "page" in LANES["page"] and {"chat", "status_page"} <= LANES["updates"]


def test_claimed_actions_and_intents_read_notification_from_the_table() -> None:
    for kind, spec in ACTIONS.items():
        intent = ActionIntent(kind, "k", {}, Severity.HIGH)
        claimed = Claimed(1, "inc_1", "svc", kind, "k", Severity.HIGH, {}, 1, 0.0)
        assert intent.notification is claimed.notification is spec.notification, kind


def test_every_url_the_table_names_is_a_described_setting_under_its_old_variable() -> None:
    assert list(URL_SETTINGS) == list(RECEIVER_URLS)
    variables = [f"ALERTPIPE_{name.upper()}" for name in RECEIVER_URLS]
    assert variables[: len(URL_VARIABLES)] == URL_VARIABLES
    assert {f"{spec.url}_url" for spec in ACTIONS.values()} == set(RECEIVER_URLS)
    for name in RECEIVER_URLS:
        field = Settings.model_fields[name]
        assert field.default is None and field.description, name
        assert field.description.endswith("(secret)"), name


def test_one_phase_list_behind_the_wire_the_table_and_the_retries() -> None:
    assert tuple(SPECS) == PHASES
    assert tuple(PhaseRetries.model_fields) == PHASES
    assert PhaseRecord.model_fields["phase"].annotation == RollbackPhase
    assert PhaseRecord.model_fields["status"].annotation == PhaseStatus
    assert RollbackRecord.model_fields["status"].annotation == RollbackStatus


def test_phase_retries_is_one_model_for_the_policy_and_the_settings() -> None:
    assert streams.policy.PhaseRetries is handlers.config.PhaseRetries is PhaseRetries
    assert RollbackConfig.model_fields["phase_retries"].annotation is PhaseRetries


def test_the_shipped_policy_retries_every_phase_as_the_built_in_defaults_do() -> None:
    shipped = yaml.safe_load(default_policy_text())["rollback"]["phase_retries"]
    assert list(shipped) == list(PHASES), "default.yaml: rollback.phase_retries keys"
    assert shipped == PhaseRetries().model_dump()


def test_every_phase_time_setting_is_a_budget_of_its_phase() -> None:
    """``<phase>_budget_s`` / ``<phase>_min_s`` settings are exactly what the table names (a
    drill compresses these): a budget setting no phase reads is refused here."""
    times = {name for name in RollbackConfig.model_fields if name.endswith(("_budget_s", "_min_s"))}
    assert set(BUDGET_FIELDS) == times
    for phase, spec in SPECS.items():
        assert spec.budget == f"{phase}_budget_s", phase
        assert spec.least in (None, f"{phase}_min_s"), phase
        for name in filter(None, (spec.least, spec.budget)):
            assert RollbackConfig.model_fields[name].annotation is float, name
