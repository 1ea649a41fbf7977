"""/metrics: every numeric field of every role's health report as a Prometheus sample;
/health: 200 when every role is ready, 503 with each role's report when one is not."""

from typing import Any

import httpx
import pytest

from app.api import create_probe_app
from app.api.health import render_metrics


def test_numbers_flags_and_labelled_counters_render_and_text_is_left_out() -> None:
    text = render_metrics(
        {
            "aggregator": {
                "ready": True,
                "events": 1200,
                "dead_letters": {"late": 3, 'bad "json"': 1},
                "failure": None,
                "partitions": [0, 1],
            },
            "evaluator": {"alerts": {"no_data": 2}},
            "rollback-orchestrator": {"ready": False, "last_error": "boom", "ticks": 7},
        }
    )
    assert text.splitlines() == [
        'alertpipe_aggregator_dead_letters{reason="bad \\"json\\""} 1',
        'alertpipe_aggregator_dead_letters{reason="late"} 3',
        "alertpipe_aggregator_events 1200",
        "alertpipe_aggregator_ready 1",
        'alertpipe_evaluator_alerts{key="no_data"} 2',  # no label name declared: "key"
        "alertpipe_rollback_orchestrator_ready 0",
        "alertpipe_rollback_orchestrator_ticks 7",
    ]


# --- /health: the readiness probe ---------------------------------------------------------

REPORTS: dict[str, dict[str, Any]] = {
    "aggregator": {"ready": False, "partitions": [], "failure": "AggregatorFailed('fenced')"},
    "evaluator": {"ready": True, "scopes": 12},
    "correlator": {"decisions": 3},  # a role without a readiness flag counts as ready
}


async def get_health(roles: dict[str, dict[str, Any]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_probe_app(lambda: roles))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        return await client.get("/health")


async def test_health_is_503_with_every_roles_report_when_one_role_is_not_ready() -> None:
    response = await get_health(REPORTS)
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "waiting_for": [], "roles": REPORTS}


@pytest.mark.parametrize("role", sorted(r for r in REPORTS if "ready" in REPORTS[r]))
async def test_any_single_role_not_ready_makes_health_503(role: str) -> None:
    roles = {name: {**report, "ready": name != role} for name, report in REPORTS.items()}
    response = await get_health(roles)
    assert response.status_code == 503
    assert response.json()["roles"][role]["ready"] is False


async def test_health_is_200_when_every_role_is_ready() -> None:
    roles = {**REPORTS, "aggregator": {**REPORTS["aggregator"], "ready": True}}
    response = await get_health(roles)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "waiting_for": [], "roles": roles}


async def test_health_names_the_servers_the_roles_wait_for() -> None:
    roles = {
        "kafka": {"ready": False, "down_for_s": 12.5, "last_error": "refused"},
        "postgres": {"ready": True},
        "aggregator": {"ready": False, "waiting_for": ["kafka"]},
        "incident-manager": {"ready": False, "waiting_for": ["kafka", "postgres"]},
    }
    response = await get_health(roles)
    assert response.status_code == 503
    assert response.json()["waiting_for"] == ["kafka", "postgres"]
