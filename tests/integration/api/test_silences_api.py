"""Silences over HTTP: create, list, get, update, delete (expire); validation names the field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.api.conftest import Api


def _at(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


BODY = {
    "matchers": [
        {"name": "service", "value": "chat-api"},
        {"name": "rule", "value": "p95.*", "op": "=~"},
    ],
    "ends_at": _at(60),
    "created_by": "ana",
    "comment": "planned maintenance",
}


async def test_silence_crud(api: Api) -> None:
    created = await api.client.post("/silences", json=BODY)
    assert created.status_code == 201
    silence = created.json()
    assert silence["state"] == "active" and silence["matchers"][1] == {
        "name": "rule",
        "value": "p95.*",
        "op": "=~",
    }
    sid = silence["id"]
    assert [s["id"] for s in (await api.client.get("/silences")).json()] == [sid]
    assert (await api.client.get(f"/silences/{sid}")).json()["comment"] == "planned maintenance"
    patched = await api.client.patch(
        f"/silences/{sid}", json={"comment": "extended", "ends_at": _at(120)}
    )
    assert patched.json()["comment"] == "extended"
    deleted = await api.client.delete(f"/silences/{sid}")
    assert deleted.status_code == 200 and deleted.json()["state"] == "expired"
    assert (await api.client.get("/silences")).json() == []
    assert [
        s["id"] for s in (await api.client.get("/silences", params={"expired": True})).json()
    ] == [sid]
    missing = await api.client.get("/silences/sil_nope")
    assert missing.status_code == 404 and "sil_nope" in missing.json()["message"]


async def test_a_future_silence_is_pending(api: Api) -> None:
    r = await api.client.post("/silences", json={**BODY, "starts_at": _at(30)})
    assert r.json()["state"] == "pending"


async def test_invalid_silences_name_the_field(api: Api) -> None:
    cases = [
        ({**BODY, "matchers": []}, "body.matchers"),
        ({**BODY, "matchers": [{"name": "rule", "value": "(", "op": "=~"}]}, "body.matchers"),
        ({**BODY, "matchers": [{"name": "rule", "value": "x", "op": "~"}]}, "body.matchers.0.op"),
        ({k: v for k, v in BODY.items() if k != "ends_at"}, "body.ends_at"),
    ]
    for body, field in cases:
        r = await api.client.post("/silences", json=body)
        assert r.status_code == 422 and field in [f["field"] for f in r.json()["fields"]], (
            field,
            r.json(),
        )
    past = await api.client.post("/silences", json={**BODY, "ends_at": _at(-5)})
    assert past.status_code == 422 and past.json()["error"] == "invalid_request"
    assert [f["field"] for f in past.json()["fields"]] == ["body.ends_at"]


async def test_a_silence_longer_than_the_cap_is_refused_on_create_and_on_update(api: Api) -> None:
    day = 24 * 60
    years = await api.client.post("/silences", json={**BODY, "ends_at": "9000-01-01T00:00:00Z"})
    assert years.status_code == 422 and years.json()["error"] == "invalid_request"
    [field] = years.json()["fields"]
    assert field["field"] == "body.ends_at" and "ALERTPIPE_SILENCE_MAX_DAYS" in field["message"]
    too_long = await api.client.post("/silences", json={**BODY, "ends_at": _at(90 * day + 5)})
    assert too_long.status_code == 422
    long = await api.client.post("/silences", json={**BODY, "ends_at": _at(89 * day)})
    assert long.status_code == 201
    stretched = await api.client.patch(
        f"/silences/{long.json()['id']}", json={"ends_at": _at(91 * day)}
    )
    assert stretched.status_code == 422
    assert [f["field"] for f in stretched.json()["fields"]] == ["body.ends_at"]
