import json

import httpx
import pytest
from pydantic import ValidationError

from app.pipeline import receiver_urls
from app.settings import RECEIVER_URLS, Settings, masked
from handlers.receivers.console import ConsoleReceiver
from handlers.receivers.registry import build_receivers
from schemas.clock import SystemClock


def test_defaults_point_at_the_local_servers() -> None:
    settings = Settings()
    assert settings.uses_local_kafka and settings.uses_local_postgres
    assert settings.bootstrap == f"127.0.0.1:{settings.local.kafka_port}"
    assert (
        settings.dsn.startswith("postgresql://")
        and f":{settings.local.postgres_port}/" in settings.dsn
    )


def test_environment_overrides_nested_and_flat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTPIPE_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("ALERTPIPE_TOPICS__PARTITIONS", "12")
    monkeypatch.setenv("ALERTPIPE_LOCAL__POSTGRES_PORT", "6000")
    monkeypatch.setenv("ALERTPIPE_POLICY", "/etc/alertpipe/policy.yaml")
    settings = Settings()
    assert settings.bootstrap == "kafka-1:9092,kafka-2:9092" and not settings.uses_local_kafka
    assert settings.topics.partitions == 12
    assert settings.local.postgres_port == 6000
    assert str(settings.policy) == "/etc/alertpipe/policy.yaml"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "field"),
    [
        ("ALERTPIPE_KAFKA_BOOTSTRAP", "no-port-here", "kafka_bootstrap"),
        ("ALERTPIPE_TOPICS__PARTITIONS", "0", "partitions"),
        ("ALERTPIPE_LOG_LEVEL", "LOUD", "log_level"),
    ],
)
def test_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert field in str(caught.value)


def test_secrets_are_masked_when_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    monkeypatch.setenv("ALERTPIPE_CHAT_URL", hook)
    monkeypatch.setenv("ALERTPIPE_WEBHOOK_SECRET", "hunter2-signing-key")
    monkeypatch.setenv("ALERTPIPE_DATABASE_URL", "postgresql://app:pa55word@db:5432/alertpipe")
    settings = Settings()
    text = json.dumps(masked(settings)) + repr(settings) + str(settings)
    for secret in ("XXXXSECRETXXXX", "hunter2-signing-key", "pa55word"):
        assert secret not in text
    assert masked(settings)["chat_url"].startswith("https://hooks.slack.com")
    assert settings.chat_url is not None and settings.chat_url.get_secret_value() == hook


def test_a_database_schema_becomes_the_search_path() -> None:
    local = Settings(database_schema="alertpipe_demo")
    assert local.dsn.endswith("/alertpipe?search_path=alertpipe_demo")
    remote = Settings(database_url="postgresql://u@db:5432/x?sslmode=disable", database_schema="a")
    assert remote.dsn == "postgresql://u@db:5432/x?sslmode=disable&search_path=a"
    assert Settings().dsn.count("?") == 0


def test_a_database_schema_must_be_a_plain_identifier() -> None:
    with pytest.raises(ValidationError, match="database_schema"):
        Settings(database_schema="Public; DROP")


async def test_an_empty_receiver_url_means_unset_and_the_console_receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ALERTPIPE_PAGER_URL=`` (as env templates leave it) prints instead of POSTing to ''."""
    for name in RECEIVER_URLS:
        monkeypatch.setenv(f"ALERTPIPE_{name.upper()}", "" if name != "chat_url" else "  ")
    settings = Settings()
    assert all(getattr(settings, name) is None for name in RECEIVER_URLS)
    assert set(receiver_urls(settings).values()) == {None}
    async with httpx.AsyncClient() as client:
        receivers = build_receivers(
            receiver_urls(settings), client, settings.delivery, SystemClock()
        )
    assert {type(r) for r in receivers.values()} == {ConsoleReceiver}
    assert Settings(pager_url="").pager_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"DELIVERY__TIMEOUT_S": "30", "DELIVERY__LEASE_S": "1.5"},
            ("delivery.lease_s", "delivery.timeout_s", "ALERTPIPE_DELIVERY__LEASE_S to 60"),
        ),
        (
            {
                "ROLLBACK__LEASE_S": "1",
                "ROLLBACK__POLL_S": "0.8",
                "ROLLBACK__VERIFY_EVERY_S": "0.2",
            },
            ("rollback.lease_s", "rollback.poll_s", "ALERTPIPE_ROLLBACK__LEASE_S to 1.6"),
        ),
        (
            {"ROLLBACK__LEASE_S": "8"},  # verify_every_s is 5 by default
            ("rollback.lease_s", "rollback.verify_every_s", "ALERTPIPE_ROLLBACK__LEASE_S to 10"),
        ),
    ],
    ids=["send-outlasts-delivery-lease", "poll-outlasts-rollback-lease", "verify-interval"],
)
def test_a_lease_shorter_than_what_it_covers_is_refused_naming_both_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: tuple[str, ...]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"ALERTPIPE_{name}", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    for text in named:
        assert text in str(caught.value)


def test_leases_at_twice_what_they_cover_are_accepted() -> None:
    settings = Settings(
        delivery={"timeout_s": 2.0, "lease_s": 4.0},
        rollback={"poll_s": 0.5, "verify_every_s": 1.0, "lease_s": 2.0},
    )
    assert (settings.delivery.lease_s, settings.rollback.lease_s) == (4.0, 2.0)
