"""/metrics: every numeric field of every role's health report as a Prometheus family, written
by prometheus_client (HELP and TYPE, counters ``_total``, exact numbers) and read back with its
parser; /health: 200 when every role is ready, 503 with each role's report when one is not."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.api import create_probe_app
from app.api.metrics import REPORT_FIELDS, Exposition

ROLES: dict[str, dict[str, Any]] = {
    "aggregator": {
        "ready": True,
        "events": 1_234_567,
        "panes": 2**53 - 1,  # the largest integer a float holds exactly
        "dead_letters": {"late": 3, 'bad "json"': 1},
        "failure": None,
        "partitions": [0, 1],
        "transaction_seconds": 0.125,
    },
    "evaluator": {"alerts": {"no_data": 2}},
    "rollback-orchestrator": {"ready": False, "last_error": "boom", "ticks": 7},
    "future-role": {"brand_new_field": 5},
}


async def scrape(roles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """GET /metrics, parsed by prometheus_client: family name -> family."""
    transport = httpx.ASGITransport(app=create_probe_app(lambda: roles))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, family in families.items():  # HELP and TYPE for every family, as written
        written = name + ("_total" if family.type == "counter" else "")
        assert f"# HELP {written} " in text and f"# TYPE {written} {family.type}\n" in text
    return families


def samples(families: dict[str, Any], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples}


async def test_counters_are_total_gauges_are_not_and_values_are_exact() -> None:
    families = await scrape(ROLES)
    events = families["alertpipe_aggregator_events"]
    assert events.type == "counter" and events.documentation == REPORT_FIELDS["events"].help
    assert [(s.name, s.value) for s in events.samples] == [
        ("alertpipe_aggregator_events_total", 1_234_567)
    ]
    assert samples(families, "alertpipe_aggregator_panes") == {(): 2**53 - 1}
    assert samples(families, "alertpipe_aggregator_transaction_seconds") == {(): 0.125}
    assert families["alertpipe_aggregator_ready"].type == "gauge"
    assert samples(families, "alertpipe_aggregator_ready") == {(): 1}
    assert samples(families, "alertpipe_rollback_orchestrator_ready") == {(): 0}
    assert samples(families, "alertpipe_rollback_orchestrator_ticks") == {(): 7}


async def test_dict_fields_are_labelled_as_declared_and_text_is_left_out() -> None:
    families = await scrape(ROLES)
    assert samples(families, "alertpipe_aggregator_dead_letters") == {
        (("reason", 'bad "json"'),): 1,
        (("reason", "late"),): 3,
    }
    assert samples(families, "alertpipe_evaluator_alerts") == {(("state", "no_data"),): 2}
    names = set(families)
    assert not any(n.endswith(("_failure", "_partitions", "_last_error")) for n in names)


async def test_an_undeclared_field_is_still_exposed_and_says_it_is_undeclared() -> None:
    family = (await scrape(ROLES))["alertpipe_future_role_brand_new_field"]
    assert family.type == "gauge" and "undeclared" in family.documentation


async def test_a_field_another_family_counts_is_in_health_only() -> None:
    """The dispatcher's failures by receiver are alertpipe_delivery_failures_total's count:
    exposed once, by that family (with the HTTP status), not again from /health."""
    assert REPORT_FIELDS["failures"].kind == "elsewhere"
    assert "alertpipe_delivery_failures_total" in REPORT_FIELDS["failures"].help
    families = await scrape({"outbox-dispatcher": {"failures": {"page": 3}, "ticks": 1}})
    dispatcher = [name for name in families if name.startswith("alertpipe_outbox_dispatcher")]
    assert dispatcher == ["alertpipe_outbox_dispatcher_ticks"]
    assert samples(families, "alertpipe_outbox_dispatcher_ticks") == {(): 1}


async def test_lag_and_process_families_are_always_there() -> None:
    expo = Exposition(lambda: {})
    expo.add_lag("evaluator", lambda: {0: 12, 2: 0})
    text = (await expo.render()).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert samples(families, "alertpipe_consumer_lag") == {
        (("partition", "0"), ("stage", "evaluator")): 12,
        (("partition", "2"), ("stage", "evaluator")): 0,
    }
    assert families["process_resident_memory_bytes"].samples[0].value > 0


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


# --- docs: every family named, and the Grafana dashboard graphs only families that exist -----

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_docs_metrics_md_names_every_declared_field() -> None:
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    for name, field in REPORT_FIELDS.items():
        assert f"`{name}{'_total' if field.kind == 'counter' else ''}" in text, name


def test_the_grafana_dashboard_graphs_documented_families() -> None:
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text(encoding="utf-8"))
    documented = (DOCS / "metrics.md").read_text(encoding="utf-8")
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 12
    for family in ("consumer_lag", "outbox_backlog", "delivery_failures_total", "timers_late"):
        assert any(f"alertpipe_{family}" in e for e in exprs), family
    for name in {n for e in exprs for n in re.findall(r"alertpipe_\w+", e)}:
        base = re.sub(r"_bucket$", "", name)
        stage_field = re.sub(r"^alertpipe_(aggregator|evaluator)_", "", base)
        assert f"`{base}" in documented or f"`{stage_field}" in documented, name


def test_docs_auth_md_lists_every_role_with_what_it_may_do() -> None:
    from app.roles import ROLES

    text = (DOCS / "auth.md").read_text(encoding="utf-8")
    for role in ROLES:
        assert f"| `{role.name}` |" in text, role.name
