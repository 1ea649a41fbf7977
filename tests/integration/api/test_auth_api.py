"""Authentication and roles over HTTP, on a real database: every route but /health needs a
credential; 401 without or with a bad one, 403 for a missing role, each saying which; tokens
(created, listed, revoked), sessions with their CSRF token, the trusted proxy, throttling, the
authenticated actor on the timeline and on silences, and no credential in any log line."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from app.api.auth import CSRF_HEADER, SESSION_COOKIE
from app.settings import AuthSettings
from schemas.clock import ManualClock
from schemas.severity import Severity
from tests.integration.api.conftest import BOOTSTRAP, Api, client_for, start_api
from tests.support.decisions import decision

SILENCE = {
    "matchers": [{"name": "service", "value": "chat-api"}],
    "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    "created_by": "mallory",  # ignored: the actor is the principal
}


async def _incident(api: Api, severity: Severity = Severity.HIGH) -> str:
    await api.manager.apply(decision(severity=severity, rule="p95_latency", metric="p95_ms"))
    found = (await api.client.get("/incidents")).json()
    return str(found[0]["id"])


def _routes(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) the API serves, from its own OpenAPI document, plus the document."""
    document = api.asgi.openapi()
    found = [
        (method.upper(), path.replace("{incident_id}", "inc_x").replace("{silence_id}", "s"))
        for path, item in document["paths"].items()
        for method in item
    ]
    return [*[(m, p.replace("{token_id}", "t")) for m, p in found], ("GET", "/openapi.json")]


# --- 401 / 403 ------------------------------------------------------------------------------


async def test_every_route_but_health_and_open_metrics_needs_a_credential(api: Api) -> None:
    routes = _routes(api)
    assert len(routes) >= 15, routes
    for method, path in routes:
        r = await api.anonymous.request(method, path, json={})
        if path in ("/health", "/metrics") or (method, path) == ("DELETE", "/session"):
            assert r.status_code < 400, (method, path, r.text)
            continue
        if (method, path) == ("POST", "/session"):  # sign-in itself: no token in the body
            assert r.status_code == 401 and r.json()["error"] == "unauthenticated"
            continue
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"] == "unauthenticated", (method, path)
        assert "Authorization: Bearer" in r.json()["message"]
        assert r.headers["www-authenticate"] == "Bearer"


async def test_a_body_that_is_not_json_is_refused_for_the_credential_first(api: Api) -> None:
    """JSON that does not parse is refused before any dependency runs; a stranger still gets
    the 401 (a viewer the 403), never the route's body shape in a 422."""
    writes = [
        (m, p) for m, p in _routes(api) if m in ("POST", "PATCH", "PUT")
        and (m, p) != ("POST", "/session") and not p.startswith(("/v1/telemetry", "/v1/otlp"))
    ]  # fmt: skip
    assert len(writes) >= 8, writes
    headers = {"content-type": "application/json"}
    async with client_for(api.asgi, api.tokens["viewer"]) as viewer:
        for method, path in writes:
            r = await api.anonymous.request(method, path, content=b"{not json", headers=headers)
            assert (r.status_code, r.json()["error"]) == (401, "unauthenticated"), (path, r.text)
            r = await viewer.request(method, path, content=b"{not json", headers=headers)
            assert r.status_code == 403, (method, path, r.text)
    r = await api.client.post("/silences", content=b"{not json", headers=headers)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
    unstorable = {**SILENCE, "comment": "a\u0000b"}
    r = await api.anonymous.post("/silences", json=unstorable)
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated"), r.text
    r = await api.client.post("/silences", json=unstorable)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "body.comment", r.text


async def test_a_bad_or_malformed_token_is_401_saying_so(api: Api) -> None:
    viewer = api.tokens["viewer"]
    forged = viewer[:-4] + ("AAAA" if not viewer.endswith("AAAA") else "BBBB")
    for token in (forged, "ap_000000000000_" + "x" * 43, "not-a-token", BOOTSTRAP + "x"):
        async with client_for(api.asgi, token) as client:
            r = await client.get("/incidents")
        assert r.status_code == 401 and r.json() == {
            "error": "unauthenticated",
            "message": "the token is not valid",
        }, token


async def test_viewers_read_operators_write_admins_manage_tokens(api: Api) -> None:
    incident_id = await _incident(api)
    viewer, operator = api.as_("viewer"), api.as_("operator")
    assert (await viewer.get(f"/incidents/{incident_id}")).status_code == 200
    assert (await viewer.get("/silences")).status_code == 200
    refused = await viewer.post(f"/incidents/{incident_id}/ack", json={})
    assert refused.status_code == 403 and refused.json() == {
        "error": "forbidden",
        "message": "this needs the operator role; vic is a viewer",
    }
    assert (await viewer.post("/silences", json=SILENCE)).status_code == 403
    tokens = await operator.get("/tokens")
    assert (
        tokens.status_code == 403
        and "needs the admin role; ana is an operator" in (tokens.json()["message"])
    )
    assert (await operator.post(f"/incidents/{incident_id}/ack", json={})).status_code == 200
    assert (await api.as_("admin").get("/tokens")).status_code == 200


async def test_the_operator_routes_answer_under_v1_with_the_same_rules(api: Api) -> None:
    incident_id = await _incident(api)
    viewer, operator = api.as_("viewer"), api.as_("operator")
    unversioned = (await viewer.get(f"/incidents/{incident_id}")).json()
    assert (await viewer.get(f"/v1/incidents/{incident_id}")).json() == unversioned
    assert (await api.anonymous.get("/v1/silences")).status_code == 401
    assert (await viewer.post("/v1/silences", json=SILENCE)).status_code == 403
    assert (await operator.post("/v1/silences", json=SILENCE)).status_code == 201
    for path in ("/v1/drills", "/v1/maintenance-windows", "/v1/automation-holds"):
        assert (await viewer.get(path)).status_code == 200, path
    assert (await viewer.get("/v1/drills/drl_nope")).status_code == 404
    # Described once: the OpenAPI document has the unversioned paths only.
    assert not [p for p in api.asgi.openapi()["paths"] if p.startswith("/v1/incidents")]


async def test_the_bootstrap_token_is_an_admin_named_bootstrap(api: Api) -> None:
    async with client_for(api.asgi, BOOTSTRAP) as root:
        created = await root.post("/tokens", json={"name": "ci-bot", "role": "operator"})
    assert created.status_code == 201 and created.json()["created_by"] == "bootstrap"


# --- token lifecycle ------------------------------------------------------------------------


async def test_token_created_listed_used_and_revoked_over_the_api(api: Api, database: str) -> None:
    admin = api.as_("admin")
    created = await admin.post("/tokens", json={"name": "grafana", "role": "viewer"})
    assert created.status_code == 201
    body = created.json()
    token, token_id = body["token"], body["id"]
    assert token.startswith(f"ap_{token_id}_") and body["created_by"] == "root"
    again = await admin.post("/tokens", json={"name": "grafana", "role": "viewer"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    bad = await admin.post("/tokens", json={"name": "no spaces", "role": "god"})
    assert bad.status_code == 422
    assert {f["field"] for f in bad.json()["fields"]} == {"body.name", "body.role"}

    listed = (await admin.get("/tokens")).json()
    assert {t["name"] for t in listed} == {"vic", "ana", "root", "grafana"}
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetch("SELECT * FROM api_tokens")
    finally:
        await conn.close()
    secret = token.split("_", 2)[2]
    assert all(token not in str(dict(r)) and secret not in str(dict(r)) for r in stored)

    async with client_for(api.asgi, token) as grafana:
        assert (await grafana.get("/incidents")).status_code == 200
        revoked = await admin.delete(f"/tokens/{token_id}")
        assert revoked.status_code == 200 and revoked.json()["revoked_by"] == "root"
        after = await grafana.get("/incidents")
    assert after.status_code == 401 and after.json()["message"] == "the token was revoked"
    assert (await admin.delete(f"/tokens/{token_id}")).status_code == 404
    listed = (await admin.get("/tokens", params={"revoked": True})).json()
    assert [t["revoked_by"] for t in listed if t["name"] == "grafana"] == ["root"]


# --- the actor ------------------------------------------------------------------------------


async def test_the_actor_is_the_principal_never_a_body_field(api: Api) -> None:
    incident_id = await _incident(api)
    ack = await api.client.post(
        f"/incidents/{incident_id}/ack", json={"by": "mallory", "note": "on it"}
    )
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "ana"
    got = (await api.client.get(f"/incidents/{incident_id}")).json()
    human = [t for t in got["timeline"] if t["kind"] == "human"]
    assert [h["actor"] for h in human] == ["ana"]
    assert "mallory" not in str(got["timeline"])

    silence = (await api.client.post("/silences", json=SILENCE)).json()
    assert silence["created_by"] == "ana" and silence["updated_by"] is None
    async with client_for(api.asgi, BOOTSTRAP) as root:
        expired = (await root.delete(f"/silences/{silence['id']}")).json()
    assert expired["created_by"] == "ana" and expired["updated_by"] == "bootstrap"


# --- sessions and CSRF ----------------------------------------------------------------------


@asynccontextmanager
async def _signed_in(api: Api, role: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with client_for(api.asgi) as client:
        r = await client.post("/session", json={"token": api.tokens[role]})
        assert r.status_code == 200, r.text
        yield client, str(r.json()["csrf"])


async def test_sign_in_sets_a_strict_http_only_cookie_and_answers_who_and_csrf(api: Api) -> None:
    async with client_for(api.asgi) as client:
        r = await client.post("/session", json={"token": api.tokens["operator"]})
        assert r.status_code == 200
        assert r.json()["name"] == "ana" and r.json()["role"] == "operator"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        attributes = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "path", "samesite", "max-age"} <= attributes
        assert "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        assert "secure" not in attributes
        me = (await client.get("/session")).json()
        assert me["name"] == "ana" and me["via"] == "session" and me["csrf"] == r.json()["csrf"]
        assert (await client.delete("/session")).status_code == 204
        after = await client.get("/session")
    assert after.status_code == 401


async def test_the_cookie_is_secure_when_the_console_is_served_over_https(database: str) -> None:
    auth = AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP), secure_cookie=True)
    async for api in start_api(database, auth):
        async with client_for(api.asgi) as client:
            r = await client.post("/session", json={"token": BOOTSTRAP})
        assert "; secure" in r.headers["set-cookie"].lower()


async def test_cookie_writes_need_the_sessions_csrf_token(api: Api) -> None:
    incident_id = await _incident(api)
    async with _signed_in(api, "operator") as (client, csrf):
        bare = await client.post(f"/incidents/{incident_id}/ack", json={})
        wrong = await client.post(
            f"/incidents/{incident_id}/ack", json={}, headers={CSRF_HEADER: csrf[:-1] + "x"}
        )
        for refused in (bare, wrong):
            assert refused.status_code == 403 and refused.json()["error"] == "csrf"
            assert CSRF_HEADER in refused.json()["message"]
        ok = await client.post(
            f"/incidents/{incident_id}/ack", json={}, headers={CSRF_HEADER: csrf}
        )
        assert ok.status_code == 200 and ok.json()["acknowledged_by"] == "ana"
        assert (await client.get(f"/incidents/{incident_id}")).status_code == 200  # reads: none
    # a bearer write needs no CSRF token (no browser sends it on its own)
    assert (await api.client.post(f"/incidents/{incident_id}/resolve", json={})).status_code == 200


async def test_a_forged_write_with_a_viewers_cookie_is_refused(api: Api) -> None:
    incident_id = await _incident(api)
    async with _signed_in(api, "viewer") as (client, csrf):
        r = await client.post(f"/incidents/{incident_id}/ack", json={}, headers={CSRF_HEADER: csrf})
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    got = (await api.client.get(f"/incidents/{incident_id}")).json()
    assert got["status"] == "open"


async def test_sessions_expire_and_end_with_their_token(database: str) -> None:
    clock = ManualClock(datetime.now(UTC).timestamp())
    auth = AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP), session_ttl_s=60)
    async for api in start_api(database, auth, clock):
        async with _signed_in(api, "viewer") as (client, _):
            assert (await client.get("/session")).status_code == 200
            await clock.advance(61)
            expired = await client.get("/session")
            assert expired.status_code == 401 and "expired" in expired.json()["message"]
            assert expired.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=; Max-Age=0")
            # a console left open polls with its dead cookie: that is no guess, no throttle
            for _ in range(2 * api.asgi.state.auth.cfg.max_failures):
                client.cookies.set(SESSION_COOKIE, "dead-cookie")
                assert (await client.get("/incidents")).status_code == 401
            again = await client.post("/session", json={"token": api.tokens["viewer"]})
            assert again.status_code == 200
        async with _signed_in(api, "viewer") as (client, _):
            await api.as_("admin").delete("/tokens/vic")  # revoke by name
            assert (await client.get("/session")).status_code == 401


async def test_sessions_are_stored_as_hashes(api: Api, database: str) -> None:
    async with _signed_in(api, "viewer") as (client, _):
        cookie = client.cookies[SESSION_COOKIE]
    conn = await asyncpg.connect(database)
    try:
        rows = [dict(r) for r in await conn.fetch("SELECT * FROM api_sessions")]
    finally:
        await conn.close()
    assert len(rows) == 1 and rows[0]["name"] == "vic"
    assert cookie not in str(rows) and api.tokens["viewer"] not in str(rows)


# --- throttling -----------------------------------------------------------------------------


async def test_failed_attempts_are_throttled_per_client_address(database: str) -> None:
    auth = AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP), max_failures=3)
    async for api in start_api(database, auth):
        attacker = client_for(api.asgi, client=("203.0.113.9", 5000))
        bystander = client_for(api.asgi, api.tokens["viewer"], client=("198.51.100.7", 5000))
        async with attacker, bystander:
            for _ in range(3):
                r = await attacker.post("/session", json={"token": "ap_guess"})
                assert r.status_code == 401
            blocked = await attacker.post("/session", json={"token": api.tokens["viewer"]})
            assert blocked.status_code == 429 and blocked.json()["error"] == "throttled"
            assert 1 <= int(blocked.headers["retry-after"]) <= 60
            assert "203.0.113.9" in blocked.json()["message"]
            bearer = await attacker.get(
                "/incidents", headers={"Authorization": f"Bearer {api.tokens['viewer']}"}
            )
            assert bearer.status_code == 429  # even a good token: no oracle while throttled
            assert (await bystander.get("/incidents")).status_code == 200
        auth_state = api.asgi.state.auth
        assert auth_state.failures["bad_token"] == 3 and auth_state.failures["throttled"] == 2


# --- the trusted reverse proxy --------------------------------------------------------------


@pytest.fixture
async def proxied(database: str) -> AsyncIterator[Api]:
    auth = AuthSettings(
        bootstrap_token=SecretStr(BOOTSTRAP),
        proxy_user_header="X-Forwarded-User",
        proxy_role_header="X-Forwarded-Role",
        trusted_proxies=("10.9.0.0/16",),
    )
    async for api in start_api(database, auth):
        yield api


async def test_the_proxy_user_is_believed_only_from_a_trusted_proxy(proxied: Api) -> None:
    api = proxied
    incident_id = await _incident(api)
    headers = {"X-Forwarded-User": "dana@example.com", "X-Forwarded-Role": "operator"}
    async with client_for(api.asgi, client=("10.9.1.1", 443)) as proxy:
        me = await proxy.get("/session", headers=headers)
        assert me.status_code == 200
        assert (me.json()["name"], me.json()["role"], me.json()["via"]) == (
            "dana@example.com",
            "operator",
            "proxy",
        )
        csrf = me.json()["csrf"]
        bare = await proxy.post(f"/incidents/{incident_id}/ack", json={}, headers=headers)
        assert bare.status_code == 403 and bare.json()["error"] == "csrf"
        ok = await proxy.post(
            f"/incidents/{incident_id}/ack", json={}, headers={**headers, CSRF_HEADER: csrf}
        )
        assert ok.status_code == 200 and ok.json()["acknowledged_by"] == "dana@example.com"
        viewer = await proxy.get("/tokens", headers={"X-Forwarded-User": "eve"})
        assert viewer.status_code == 403 and "eve is a viewer" in viewer.json()["message"]
        bad_role = await proxy.get("/incidents", headers={**headers, "X-Forwarded-Role": "root"})
        assert bad_role.status_code == 403 and "'root'" in bad_role.json()["message"]
    async with client_for(api.asgi, client=("192.0.2.50", 443)) as direct:
        spoofed = await direct.get("/incidents", headers=headers)
    assert spoofed.status_code == 401
    assert api.asgi.state.auth.failures["untrusted_proxy"] == 1


async def test_behind_a_trusted_proxy_throttling_keys_on_the_forwarded_client(
    proxied: Api,
) -> None:
    api = proxied
    auth = api.asgi.state.auth
    async with client_for(api.asgi, client=("10.9.1.1", 443)) as proxy:
        for _ in range(auth.cfg.max_failures):
            r = await proxy.get(
                "/incidents",
                headers={"Authorization": "Bearer nope", "X-Forwarded-For": "198.51.100.1"},
            )
            assert r.status_code == 401
        other = await proxy.get(
            "/incidents",
            headers={
                "Authorization": f"Bearer {api.tokens['viewer']}",
                "X-Forwarded-For": "198.51.100.2, 10.9.3.3",
            },
        )
        same = await proxy.get(
            "/incidents",
            headers={
                "Authorization": f"Bearer {api.tokens['viewer']}",
                "X-Forwarded-For": "198.51.100.1",
            },
        )
    assert other.status_code == 200 and same.status_code == 429


# --- logs -----------------------------------------------------------------------------------


async def test_no_credential_is_ever_logged(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    incident_id = await _incident(api)
    caplog.set_level(logging.DEBUG)
    secrets = [*api.tokens.values(), BOOTSTRAP]
    async with client_for(api.asgi) as browser:
        signed = await browser.post("/session", json={"token": api.tokens["operator"]})
        csrf = signed.json()["csrf"]
        cookie = browser.cookies[SESSION_COOKIE]
        await browser.post(f"/incidents/{incident_id}/ack", json={})  # no CSRF: refused
        await browser.post(f"/incidents/{incident_id}/ack", json={}, headers={CSRF_HEADER: csrf})
        await browser.delete("/session")
        await browser.get("/session")  # the ended session: refused
    for wrong in ("ap_0123456789ab_" + "y" * 43, api.tokens["viewer"] + "x", "hunter2"):
        await api.anonymous.post("/session", json={"token": wrong})
        await api.anonymous.get("/incidents", headers={"Authorization": f"Bearer {wrong}"})
        secrets.append(wrong)
    secrets += [cookie, csrf]
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "authentication failed from" in logged and "CSRF" in logged  # it does log, but…
    for secret in secrets:
        assert secret not in logged
        assert secret[-20:] not in logged


# --- the OpenAPI document -------------------------------------------------------------------


async def test_openapi_declares_the_security_schemes_and_every_error_body(api: Api) -> None:
    r = await api.as_("viewer").get("/openapi.json")
    assert r.status_code == 200
    document = r.json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["token"]["description"],
    }
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == SESSION_COOKIE
    error_ref = "#/components/schemas/ErrorBody"
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            if path == "/health":
                assert "security" not in operation, where
                continue
            if (method, path) not in (("post", "/session"), ("delete", "/session")):
                assert {"token": []} in operation["security"], where
                assert {"session": []} in operation["security"], where
            errors = {code: r for code, r in operation["responses"].items() if code[0] == "4"}
            if (method, path) != ("delete", "/session"):
                assert errors, where
            for code, response in errors.items():
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": error_ref}, (where, code)


# --- /metrics: open, or protected by a setting ----------------------------------------------


async def test_metrics_are_open_unless_a_metrics_token_is_set(database: str) -> None:
    scrape_token = "prometheus-scrape-token-0123456789"
    auth = AuthSettings(bootstrap_token=SecretStr(BOOTSTRAP), metrics_token=SecretStr(scrape_token))
    async for api in start_api(database, auth):
        refused = await api.anonymous.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"] == "unauthenticated"
        async with client_for(api.asgi, scrape_token) as prometheus:
            scraped = await prometheus.get("/metrics")
        assert scraped.status_code == 200 and "# TYPE alertpipe_auth_failures_total" in scraped.text
        assert (await api.as_("viewer").get("/metrics")).status_code == 200
        async with client_for(api.asgi, scrape_token) as prometheus:
            assert (await prometheus.get("/incidents")).status_code == 401  # metrics only
