"""Maintenance windows, global holds and releases over HTTP, on PostgreSQL: who may write, the
actor is the principal, policy windows are read-only, and every open incident shows what holds
its automation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from app.credentials import issue_token
from app.pipeline import build_pipeline
from app.settings import AuthSettings, Settings
from handlers.incidents.manager import IncidentManager
from schemas.severity import Severity
from tests.integration.api.conftest import BOOTSTRAP, Api, client_for
from tests.support.decisions import decision

POLICY = """
rules:
  - {name: errors, metric: error_rate, comparison: ">", threshold: 10%, severity: CRITICAL,
     response: rollback, window: 1m, min_samples: 1, for: 0s, keep_firing_for: 0s}
maintenance:
  - name: nightly
    services: ["search-*"]
    time_intervals: [{times: [{start_time: "00:00", end_time: "24:00"}]}]
    comment: always on, for the test
"""


@pytest.fixture
async def api(database: str, tmp_path: Path) -> AsyncIterator[Api]:
    """The API with a policy of one always-on window for search-*."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    auth = AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP))
    settings = Settings(database_url=database, auth=auth, policy=policy)
    pipeline = await build_pipeline(settings, ("api",), http=False)
    assert pipeline.responder is not None and pipeline.asgi is not None
    r = pipeline.responder
    tokens = {}
    for role, name in {"viewer": "vic", "operator": "ana"}.items():
        _, tokens[role] = await issue_token(r.credentials, name, role, "tests", time.time())
    clients = {role: client_for(pipeline.asgi, token) for role, token in tokens.items()}
    anonymous = client_for(pipeline.asgi)
    try:
        yield Api(clients["operator"], anonymous, r, pipeline.asgi, tokens, clients)
    finally:
        for client in (*clients.values(), anonymous):
            await client.aclose()
        await pipeline.close()


def _one_off(**fields: Any) -> dict[str, Any]:
    now = time.time()
    return {
        "name": "db-upgrade",
        "services": ["chat-api"],
        "starts_at": datetime.fromtimestamp(now - 60, UTC).isoformat(),
        "ends_at": datetime.fromtimestamp(now + 3600, UTC).isoformat(),
        **fields,
    }


async def test_windows_crud_by_operators_read_by_viewers(api: Api) -> None:
    made = await api.client.post("/maintenance-windows", json=_one_off(comment="pg 16"))
    assert made.status_code == 201, made.text
    window = made.json()
    assert (window["source"], window["active"], window["created_by"]) == ("api", True, "ana")
    assert window["id"].startswith("mw_") and window["window"]["notifications"] == "mute"

    viewer = api.as_("viewer")
    listed = (await viewer.get("/maintenance-windows")).json()
    assert [w["id"] for w in listed] == ["policy:nightly", window["id"]]
    assert (await viewer.post("/maintenance-windows", json=_one_off())).status_code == 403
    assert (await api.anonymous.get("/maintenance-windows")).status_code == 401

    replaced = await api.client.put(
        f"/maintenance-windows/{window['id']}", json=_one_off(notifications="send")
    )
    assert replaced.status_code == 200 and replaced.json()["window"]["notifications"] == "send"
    ended = await api.client.delete(f"/maintenance-windows/{window['id']}")
    assert ended.status_code == 200
    assert (await viewer.get(f"/maintenance-windows/{window['id']}")).status_code == 404
    ended_too = (await viewer.get("/maintenance-windows", params={"ended": "true"})).json()
    assert window["id"] in [w["id"] for w in ended_too]


async def test_policy_windows_are_changed_in_the_file_only(api: Api) -> None:
    got = await api.client.get("/maintenance-windows/policy:nightly")
    assert got.status_code == 200 and got.json()["source"] == "policy"
    for answer in (
        await api.client.put("/maintenance-windows/policy:nightly", json=_one_off()),
        await api.client.delete("/maintenance-windows/policy:nightly"),
    ):
        assert answer.status_code == 409
        body = answer.json()
        assert body["error"] == "conflict" and "policy file" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**_one_off(), "ends_at": "2020-01-01T00:00:00Z"}, "body.ends_at"),
        ({"name": "w", "time_intervals": [{"weekdays": ["funday"]}]}, "body.time_intervals.0.weekdays"),
        ({"name": "w", "time_intervals": [{"location": "Mars/Base"}]}, "body.time_intervals.0.location"),
        ({**_one_off(), "hold": True}, "body.hold"),
    ],
)  # fmt: skip
async def test_a_bad_window_is_a_422_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    answer = await api.client.post("/maintenance-windows", json=body)
    assert answer.status_code == 422
    assert field in [f["field"] for f in answer.json()["fields"]]


async def test_global_holds_set_list_lift(api: Api) -> None:
    made = await api.client.post("/automation-holds", json={"reason": "load test", "by": "eve"})
    assert made.status_code == 422  # no actor in the body: it is the principal
    made = await api.client.post("/automation-holds", json={"reason": "load test"})
    assert made.status_code == 201
    hold = made.json()
    assert (hold["reason"], hold["created_by"], hold["lifted_at"]) == ("load test", "ana", None)
    assert [h["id"] for h in (await api.as_("viewer").get("/automation-holds")).json()] == [
        hold["id"]
    ]
    lifted = await api.client.delete(f"/automation-holds/{hold['id']}")
    assert lifted.status_code == 200 and lifted.json()["lifted_by"] == "ana"
    again = await api.client.delete(f"/automation-holds/{hold['id']}")
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert (await api.client.get("/automation-holds")).json() == []
    assert len((await api.client.get("/automation-holds", params={"lifted": True})).json()) == 1
    assert (await api.client.delete("/automation-holds/hold_nope")).status_code == 404


def _manager(api: Api) -> IncidentManager:
    r = api.responder
    return IncidentManager(r.incidents, None, r.settings.response, r.clock)  # type: ignore[arg-type]


async def _open(api: Api, service: str) -> dict[str, Any]:
    await _manager(api).apply(decision(service, Severity.CRITICAL, rule=f"errors-{service}"))
    [found] = (await api.client.get("/incidents", params={"service": service})).json()
    return dict(found)


async def test_every_open_incident_shows_what_holds_it_and_an_operator_releases_it(
    api: Api,
) -> None:
    hold = (await api.client.post("/automation-holds", json={"reason": "freeze"})).json()
    searching = await _open(api, "search-api")  # the policy's always-on window covers it too
    chatting = await _open(api, "chat-api")
    held_by = {h["kind"]: h for h in searching["automation"]["held_by"]}
    assert set(held_by) == {"hold", "window"} and searching["automation"]["held"] is True
    assert held_by["window"]["id"] == "policy:nightly" and held_by["hold"]["reason"] == "freeze"
    got = (await api.client.get(f"/incidents/{chatting['id']}")).json()
    assert [h["id"] for h in got["automation"]["held_by"]] == [hold["id"]]

    released = await api.client.post(
        f"/incidents/{chatting['id']}/release", json={"note": "this one may roll back"}
    )
    assert released.status_code == 200, released.text
    got = (await api.client.get(f"/incidents/{chatting['id']}")).json()
    assert got["automation"]["held"] is False
    assert got["automation"]["released"][0] == {**got["automation"]["released"][0],
        "cause": f"hold:{hold['id']}", "by": "ana", "note": "this one may roll back"}  # fmt: skip
    assert any(t["message"].startswith("automation released from global hold") and
               t["actor"] == "ana" for t in got["timeline"])  # fmt: skip
    twice = await api.client.post(f"/incidents/{chatting['id']}/release", json={})
    assert twice.status_code == 409 and "nothing holds" in twice.json()["message"]
    refused = await api.as_("viewer").post(f"/incidents/{searching['id']}/release", json={})
    assert refused.status_code == 403
    missing = await api.client.post("/incidents/inc_nope/release", json={})
    assert missing.status_code == 404


async def test_a_silence_can_hold_automation(api: Api) -> None:
    ends = datetime.fromtimestamp(time.time() + 600, UTC).isoformat()
    made = await api.client.post(
        "/silences",
        json={
            "matchers": [{"name": "service", "value": "chat-api"}],
            "ends_at": ends,
            "comment": "game day",
            "hold_automation": True,
        },
    )
    assert made.status_code == 201 and made.json()["hold_automation"] is True
    chatting = await _open(api, "chat-api")
    [cause] = chatting["automation"]["held_by"]
    assert (cause["kind"], cause["id"], cause["reason"]) == (
        "silence",
        made.json()["id"],
        "game day",
    )
    patched = await api.client.patch(f"/silences/{cause['id']}", json={"hold_automation": False})
    assert patched.json()["hold_automation"] is False
    got = (await api.client.get(f"/incidents/{chatting['id']}")).json()
    assert got["automation"]["held"] is False
