"""Incidents over HTTP: list/get with timeline, ack with note, resolve, the MEDIUM decision."""

from __future__ import annotations

import pytest

from schemas.severity import Severity
from tests.integration.api.conftest import Api
from tests.support.decisions import decision


async def _incident(api: Api, severity: Severity = Severity.HIGH) -> str:
    await api.manager.apply(decision(severity=severity, rule="p95_latency", metric="p95_ms"))
    found = (await api.client.get("/incidents")).json()
    return str(found[0]["id"])


async def test_list_and_get_with_timeline_and_actions(api: Api) -> None:
    incident_id = await _incident(api)
    listed = (
        await api.client.get("/incidents", params={"status": "open", "service": "chat-api"})
    ).json()
    assert [i["id"] for i in listed] == [incident_id]
    assert (await api.client.get("/incidents", params={"status": "resolved"})).json() == []
    got = (await api.client.get(f"/incidents/{incident_id}")).json()
    assert got["severity"] == "HIGH" and got["scenario"] == "S3"
    assert (
        got["timeline"][0]["kind"] == "decision"
        and got["timeline"][0]["evidence"]["threshold"] == 0.1
    )
    assert {a["kind"] for a in got["actions"]} == {"page", "chat", "status_page"}
    missing = await api.client.get("/incidents/inc_nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert "inc_nope" in missing.json()["message"]


async def test_acknowledge_with_a_note_then_resolve(api: Api) -> None:
    incident_id = await _incident(api)
    ack = await api.client.post(
        f"/incidents/{incident_id}/ack", json={"by": "ana", "note": "on it"}
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    done = await api.client.post(
        f"/incidents/{incident_id}/resolve", json={"by": "ana", "note": "fixed"}
    )
    assert done.json()["status"] == "resolved"
    again = await api.client.post(f"/incidents/{incident_id}/ack", json={"by": "bob"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert "resolved" in again.json()["message"]
    got = (await api.client.get(f"/incidents/{incident_id}")).json()
    human = [t for t in got["timeline"] if t["kind"] == "human"]
    assert human[0]["actor"] == "ana" and human[0]["reason"] == "on it"
    pages = [a["payload"]["event"] for a in got["actions"] if a["kind"] == "page"]
    assert pages == ["trigger", "acknowledge", "resolve"]


async def test_medium_waits_for_a_human_decision(api: Api) -> None:
    incident_id = await _incident(api, Severity.MEDIUM)
    assert (await api.client.get(f"/incidents/{incident_id}")).json()["rollback"] is None
    chosen = await api.client.post(
        f"/incidents/{incident_id}/decision",
        json={"action": "rollback", "by": "ana", "note": "bad deploy"},
    )
    assert chosen.status_code == 200 and chosen.json()["rollback_status"] == "requested"
    got = (await api.client.get(f"/incidents/{incident_id}")).json()
    assert got["rollback"]["reason"] == "human decision by ana: bad deploy"
    twice = await api.client.post(
        f"/incidents/{incident_id}/decision", json={"action": "rollback", "by": "bob"}
    )
    assert twice.status_code == 409


async def test_dismiss_resolves_without_rollback(api: Api) -> None:
    incident_id = await _incident(api, Severity.MEDIUM)
    r = await api.client.post(
        f"/incidents/{incident_id}/decision", json={"action": "dismiss", "by": "ana"}
    )
    assert r.json()["status"] == "resolved" and r.json()["human_decision"] == "dismiss"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("decision", {"action": "restart", "by": "ana"}, "body.action"),
        ("decision", {"by": "ana"}, "body.action"),
        ("ack", {"by": ""}, "body.by"),
        ("ack", {"by": "ana", "extra": 1}, "body.extra"),
    ],
)
async def test_bad_requests_name_the_field(api: Api, path: str, body: dict, field: str) -> None:  # type: ignore[type-arg]
    incident_id = await _incident(api)
    r = await api.client.post(f"/incidents/{incident_id}/{path}", json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert field in [f["field"] for f in r.json()["fields"]], r.json()
    assert field in r.json()["message"]


async def test_bad_query_parameters_name_the_field(api: Api) -> None:
    r = await api.client.get("/incidents", params={"status": "sleeping"})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "query.status"
    assert r.json()["error"] == "invalid_request"


async def test_health_reports_each_role(api: Api) -> None:
    """An API-only process: the watches of the servers it uses (the database it reads, Kafka
    for the dashboard's reader of panes) and that reader."""
    r = await api.client.get("/health")
    postgres = {"ready": True, "down_for_s": 0.0, "outages": 0, "last_error": None}
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["waiting_for"] == []
    assert body["roles"]["postgres"] == postgres
    # the watches first, then the api role's ingest producer and its reader of panes (Kafka)
    assert list(body["roles"]) == ["kafka", "postgres", "ingest-producer", "dashboard"]
    assert body["roles"]["kafka"]["ready"] is True
    assert body["roles"]["dashboard"]["ready"] is True
    assert "waiting_for" not in body["roles"]["dashboard"]
    assert body["roles"]["dashboard"]["restarts"] == 0  # supervised, like every other role
    assert body["roles"]["ingest-producer"]["ready"] is True
    assert body["roles"]["ingest-producer"]["restarts"] == 0
