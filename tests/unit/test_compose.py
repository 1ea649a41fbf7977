"""docker-compose.yml is valid and wires the stack as documented.

`docker compose config` validates the file on the client side (no Docker engine needed).
Skipped, with the reason shown, only where no docker client exists; a client without the
compose plugin fails (`make test` builds the plugin where Go is available).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ROLES = ("aggregator", "evaluator", "responder", "api")


def _compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose_available() -> None:
    if shutil.which("docker") is None:
        pytest.skip("no `docker` client on PATH")
    probe = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert probe.returncode == 0, (
        "a docker client is here but `docker compose` is not: install the compose plugin "
        f"(`make compose-plugin` builds it with Go): {probe.stderr.strip() or probe.stdout}"
    )


@pytest.fixture(scope="module")
def config(compose_available: None) -> dict[str, Any]:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_compose_file_validates(compose_available: None) -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_servers_and_roles_exist(config: dict[str, Any]) -> None:
    assert {"kafka", "postgres", *ROLES} <= set(config["services"])


def test_kafka_is_single_node_kraft(config: dict[str, Any]) -> None:
    kafka = config["services"]["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"
    assert "kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_servers_have_healthchecks(config: dict[str, Any]) -> None:
    assert config["services"]["postgres"]["image"].startswith("postgres:15")
    for name in ("kafka", "postgres"):
        test = config["services"][name]["healthcheck"]["test"]
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name


@pytest.mark.parametrize("role", ROLES)
def test_role_runs_against_healthy_servers(config: dict[str, Any], role: str) -> None:
    service = config["services"][role]
    assert service["command"] == ["run", "--role", role]
    assert Path(service["build"]["context"]) == ROOT
    env = service["environment"]
    assert env["ALERTPIPE_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["ALERTPIPE_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["ALERTPIPE_DATABASE_URL"]
    for server in ("kafka", "postgres"):
        assert service["depends_on"][server]["condition"] == "service_healthy"


def test_dockerfile_installs_with_constraints() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#")
    # An exact release (not the moving 3.11-slim), on a named Debian release.
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$", text, re.M)
    assert "pip install -c constraints.txt ." in text
    assert 'ENTRYPOINT ["alertpipe"]' in text


@pytest.mark.parametrize("role", ROLES)
def test_every_roles_metrics_are_scrapable_on_the_network(
    config: dict[str, Any], role: str
) -> None:
    service = config["services"][role]
    env = service["environment"]
    assert env["ALERTPIPE_HTTP_HOST"] == "0.0.0.0" and env["ALERTPIPE_HTTP_PORT"] == "8080"
    published = [p for p in service.get("ports", [])]
    if role == "api":
        assert [(p["host_ip"], p["published"], p["target"]) for p in published] == [
            ("127.0.0.1", "8080", 8080)
        ]
    else:
        assert published == [], f"{role} publishes a port; only the api role's is published"


def test_the_monitoring_profile_scrapes_every_role(compose_available: None) -> None:
    result = _compose("--profile", "monitoring", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    prometheus = json.loads(result.stdout)["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    [mount] = prometheus["volumes"]
    assert Path(mount["source"]) == ROOT / "docs/prometheus.yml"
    scrape = (ROOT / "docs/prometheus.yml").read_text(encoding="utf-8")
    for role in ROLES:
        assert f'"{role}:8080"' in scrape
