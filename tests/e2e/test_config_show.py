"""``alertpipe config show`` as an operator runs it: no secret reaches the terminal, and an
unset bootstrap or DSN shows the local server actually used (no servers needed)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.e2e.conftest import ALERTPIPE, ROOT

# Each secret is a distinctive token that must not appear anywhere in the output.
SECRETS = {
    "ALERTPIPE_DATABASE_URL": (
        "postgresql://app:Pw-db-7f3a@db.internal:5432/alertpipe",
        "Pw-db-7f3a",
    ),
    "ALERTPIPE_WEBHOOK_SECRET": ("sig-key-9c1e", "sig-key-9c1e"),
    "ALERTPIPE_CHAT_URL": (
        "https://hooks.slack.com/services/T0/B0/slacktoken4d2b",
        "slacktoken4d2b",
    ),
    "ALERTPIPE_STATUSPAGE_URL": (
        "https://ops:basicpw5e6f@status.example.com/v1?api_key=qk8a0b",
        "basicpw5e6f",
    ),
    "ALERTPIPE_BREAKER_URL": ("https://fleet.example.com/breaker?token=qtok3c4d", "qtok3c4d"),
    "ALERTPIPE_PAGER_ROUTING_KEY": ("R0UTINGKEY6a7b8c9d", "R0UTINGKEY6a7b8c9d"),
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTPIPE_")}
    return env | extra


def _show(env: dict[str, str], *flags: str) -> str:
    result = subprocess.run(
        [ALERTPIPE, "config", "show", *flags],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.parametrize("flags", [(), ("--env",)], ids=["json", "env"])
def test_no_secret_leaks(flags: tuple[str, ...]) -> None:
    env = _clean_env(**{name: value for name, (value, _) in SECRETS.items()})
    output = _show(env, *flags)
    leaked = [name for name, (_, token) in SECRETS.items() if token in output]
    assert not leaked, f"secrets of {leaked} printed:\n{output}"
    assert "qk8a0b" not in output  # the query string's key too
    # Masked, not dropped: each is still visibly configured.
    assert "db.internal:5432" in output and "hooks.slack.com" in output
    assert "**********" in output


def test_unset_endpoints_show_the_local_servers_in_use() -> None:
    env = _clean_env(ALERTPIPE_LOCAL__KAFKA_PORT="29092", ALERTPIPE_LOCAL__POSTGRES_PORT="25432")
    data = json.loads(_show(env))
    assert data["kafka_bootstrap"] == "127.0.0.1:29092 (local)"
    assert data["database_url"] == "postgresql://alertpipe@127.0.0.1:25432/alertpipe (local)"
    lines = _show(env, "--env").splitlines()
    assert "ALERTPIPE_KAFKA_BOOTSTRAP=127.0.0.1:29092 (local)" in lines


def test_configured_endpoints_are_not_marked_local() -> None:
    env = _clean_env(
        ALERTPIPE_KAFKA_BOOTSTRAP="kafka-1:9092", ALERTPIPE_DATABASE_URL="postgresql://u@db:5432/x"
    )
    data = json.loads(_show(env))
    assert data["kafka_bootstrap"] == "kafka-1:9092"
    assert "(local)" not in data["database_url"] and "db:5432" in data["database_url"]
