"""Who is calling, and may they: roles, credentials, CSRF, throttling (docs/auth.md).

Credentials are tried in this order: ``Authorization: Bearer <token>``, the trusted reverse
proxy's user header (believed only from ``ALERTPIPE_AUTH__TRUSTED_PROXIES``), the
``alertpipe_session`` cookie. A route says what it needs with a dependency (``principal:
Operator`` or ``Depends(require("operator"))``): 401 without a good credential, 403 when the
role is too low, 429 while the address is throttled. A write authenticated by the cookie or the
proxy must carry ``X-CSRF-Token``: another site's page can make the browser send the cookie,
never that header. No credential is ever logged: the log says who failed from where and why,
never what was sent (docs/design.md record 18).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from app.api.errors import CSRF, ApiError
from app.credentials import (
    CredentialStore,
    SessionVia,
    StoredSession,
    StoredToken,
    digest,
    new_secret,
    parse_token,
    same_digest,
)
from app.roles import ROLE_NAMES, ROLES, Role, allows
from app.settings import AuthSettings
from schemas.clock import Clock

__all__ = [
    "CSRF_HEADER",
    "ROLES",
    "ROLE_NAMES",
    "SESSION_COOKIE",
    "Admin",
    "Authenticator",
    "Bearer",
    "Cookie",
    "Operator",
    "Principal",
    "Role",
    "Throttle",
    "Via",
    "Viewer",
    "allows",
    "authenticator",
    "bearer_scheme",
    "cookie_scheme",
    "require",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "alertpipe_session"
CSRF_HEADER = "X-CSRF-Token"
WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
BOOTSTRAP_NAME = "bootstrap"

Via = Literal["token", "session", "proxy"]

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="an API token (`alertpipe token create`): `Authorization: Bearer ap_…`",
)
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="the console's session cookie (`POST /session`); writes also need the "
    f"`{CSRF_HEADER}` header",
)


@dataclass(frozen=True)
class Principal:
    """Who a request is from: the actor recorded on the timeline and on silences."""

    name: str
    role: str
    via: Via


class Throttle:
    """Failed attempts per client address within a sliding window. Memory is bounded: the
    least recently failing addresses are forgotten first."""

    def __init__(self, limit: int, window_s: float, max_addresses: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._max = max_addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def record(self, address: str, now: float) -> None:
        times = self._recent(address, now)
        times.append(now)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > self._max:
            self._failures.popitem(last=False)

    def retry_after(self, address: str, now: float) -> float | None:
        """Seconds until ``address`` may try again; None when it may now."""
        times = self._recent(address, now)
        if len(times) < self.limit:
            return None
        return max(times[-self.limit] + self.window_s - now, 0.001)


def _networks(entries: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def _article(role: str) -> str:
    return f"an {role}" if role[:1] in "aeiou" else f"a {role}"


class Authenticator:
    """The checks behind ``require``: one per API process, on ``app.state.auth``."""

    def __init__(
        self, cfg: AuthSettings, clock: Clock, store: CredentialStore | None = None
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.store = store
        self.throttle = Throttle(cfg.max_failures, cfg.failure_window_s)
        self.failures: Counter[str] = Counter()
        self._trusted = _networks(cfg.trusted_proxies)
        self._bootstrap = self._digest_of(cfg.bootstrap_token)
        self._metrics = self._digest_of(cfg.metrics_token)

    @staticmethod
    def _digest_of(secret: object) -> str | None:
        value = getattr(secret, "get_secret_value", lambda: None)()
        return None if not value else digest(value)

    # --- where the request comes from --------------------------------------------------

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def client(self, request: Request) -> str:
        """The client's address: the peer, or behind a trusted proxy the nearest address in
        ``X-Forwarded-For`` that is not itself a trusted proxy."""
        peer = request.client.host if request.client else "unknown"
        if not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            if not self._is_trusted(hop):
                return hop
        return peer

    # --- failures ------------------------------------------------------------------------

    def _refuse_if_throttled(self, address: str) -> None:
        wait = self.throttle.retry_after(address, self.clock.now())
        if wait is None:
            return
        self.failures["throttled"] += 1
        seconds = max(1, int(wait + 0.999))
        raise ApiError(
            429,
            f"too many failed sign-in attempts from {address}; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )

    def _fail(self, address: str, reason: str, message: str, *, guess: bool = True) -> ApiError:
        """Count a refused credential; a possible guess (a token) also counts toward the
        address's throttle. A dead session cookie is no guess (its 256 random bits cannot be
        guessed): a console left open must not lock its user out by polling."""
        self.failures[reason] += 1
        if guess:
            self.throttle.record(address, self.clock.now())
        log.warning("authentication failed from %s: %s", address, reason)
        return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})

    # --- credentials ---------------------------------------------------------------------

    async def verify_token(self, value: str, address: str) -> tuple[Principal, str | None]:
        """The principal of a token and its id (None for the bootstrap token); 401 if bad."""
        self._refuse_if_throttled(address)
        if self._bootstrap is not None and same_digest(digest(value), self._bootstrap):
            return Principal(BOOTSTRAP_NAME, "admin", "token"), None
        stored = await self._stored(value)
        if stored is None:
            raise self._fail(address, "bad_token", "the token is not valid")
        if stored.revoked_at is not None:
            raise self._fail(address, "revoked_token", "the token was revoked")
        return Principal(stored.name, stored.role, "token"), stored.id

    async def _stored(self, value: str) -> StoredToken | None:
        """The stored token whose secret ``value`` holds (compared in constant time)."""
        parsed = parse_token(value)
        if parsed is None or self.store is None:
            return None
        token_id, secret = parsed
        stored = await self.store.token(token_id)
        if stored is None or not same_digest(digest(secret), stored.secret_hash):
            return None
        return stored

    async def session(self, cookie: str) -> StoredSession | None:
        if self.store is None:
            return None
        return await self.store.session(digest(cookie), self.clock.now())

    def _proxied(self, request: Request) -> Principal | None:
        header = self.cfg.proxy_user_header
        user = request.headers.get(header, "").strip() if header else ""
        if not user:
            return None
        peer = request.client.host if request.client else "unknown"
        if not self._is_trusted(peer):
            self.failures["untrusted_proxy"] += 1
            log.warning("ignored the proxy user header from %s: not a trusted proxy", peer)
            return None
        role_header = self.cfg.proxy_role_header
        role = (request.headers.get(role_header, "") if role_header else "").strip().lower()
        role = role or self.cfg.proxy_role
        if role not in ROLE_NAMES:
            raise ApiError(
                403, f"the proxy gave role {role!r}; expected one of {', '.join(ROLE_NAMES)}"
            )
        return Principal(user[:200], role, "proxy")

    async def identify(
        self, request: Request, bearer: str | None, cookie: str | None
    ) -> Principal | None:
        """The request's principal, None when it brought no credential; 401 when it brought a
        bad one, 429 while its address is throttled."""
        address = self.client(request)
        self._refuse_if_throttled(address)
        if bearer is not None:
            principal, _ = await self.verify_token(bearer, address)
            return principal
        proxied = self._proxied(request)
        if proxied is not None:
            return proxied
        if cookie is None:
            return None
        session = await self.session(cookie)
        if session is None:
            error = self._fail(
                address,
                "bad_session",
                "the session has expired or was ended; sign in again",
                guess=False,
            )
            assert error.headers is not None
            error.headers["Set-Cookie"] = (
                f"{SESSION_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=strict"
            )
            raise error
        request.state.session = session
        return Principal(session.name, session.role, "session")

    async def check_csrf(self, request: Request, principal: Principal, cookie: str | None) -> None:
        """A cookie- or proxy-authenticated write must carry its session's CSRF token."""
        session: StoredSession | None = getattr(request.state, "session", None)
        if session is None and cookie is not None:
            session = await self.session(cookie)
        sent = request.headers.get(CSRF_HEADER)
        if (
            session is not None
            and session.name == principal.name
            and sent is not None
            and same_digest(sent, session.csrf)
        ):
            return
        self.failures["csrf"] += 1
        log.warning("refused a %s without its CSRF token from %s", request.method, principal.name)
        raise ApiError(
            403,
            f"a write from the console needs the {CSRF_HEADER} header of its session "
            "(GET /session gives it)",
            code=CSRF,
        )

    def metrics_token_matches(self, bearer: str | None) -> bool:
        return (
            self._metrics is not None
            and bearer is not None
            and same_digest(digest(bearer), self._metrics)
        )

    # --- sessions ------------------------------------------------------------------------

    async def start_session(
        self, principal: Principal, token_id: str | None
    ) -> tuple[str, StoredSession]:
        """A new session for ``principal``: the cookie value (never stored) and the session."""
        if self.store is None:
            raise ApiError(404, "this process keeps no sessions (it runs no `api` role)")
        now = self.clock.now()
        cookie = new_secret()
        via: SessionVia = "proxy" if principal.via == "proxy" else "token"
        ends = now + self.cfg.session_ttl_s
        session = StoredSession(principal.name, principal.role, via, new_secret(), ends, token_id)
        await self.store.start_session(digest(cookie), session, now)
        return cookie, session

    async def end_session(self, cookie: str) -> None:
        if self.store is not None:
            await self.store.end_session(digest(cookie))


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.auth
    return auth


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
Cookie = Annotated[str | None, Depends(cookie_scheme)]


@functools.cache
def require(role: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency answering the principal of a request that may do what needs ``role``."""
    if role not in ROLE_NAMES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLE_NAMES)}")

    async def principal(request: Request, bearer: Bearer, cookie: Cookie) -> Principal:
        auth = authenticator(request)
        found = await auth.identify(request, bearer.credentials if bearer else None, cookie)
        if found is None:
            raise ApiError(
                401,
                "no credential: send `Authorization: Bearer <token>` or sign in (POST /session)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not allows(found.role, role):
            auth.failures["forbidden"] += 1
            raise ApiError(
                403, f"this needs the {role} role; {found.name} is {_article(found.role)}"
            )
        if request.method in WRITES and found.via != "token":
            await auth.check_csrf(request, found, cookie)
        request.state.principal = found
        return found

    principal.__name__ = f"require_{role}"
    _REQUIRED[principal] = role
    return principal


# The dependency ``require`` made for each role, to find the role a route asks for.
_REQUIRED: dict[Callable[..., Awaitable[Principal]], str] = {}


def _roles_of(dependant: Dependant | None) -> list[str]:
    if dependant is None:
        return []
    found = [_REQUIRED[d.call] for d in dependant.dependencies if d.call in _REQUIRED]
    return found + [role for d in dependant.dependencies for role in _roles_of(d)]


async def refusal_before_the_body(request: Request) -> ApiError | None:
    """The credential check of a route whose body FastAPI refused before running it (JSON
    that does not parse is refused before any dependency): without this a stranger would
    learn the route's body shape from a 422 instead of getting the 401 (or 403)."""
    if getattr(request.state, "principal", None) is not None:
        return None  # authenticated already: the body itself was wrong
    roles = _roles_of(getattr(request.scope.get("route"), "dependant", None))
    if not roles:
        return None  # an open route: the body's own error stands
    bearer, cookie = await bearer_scheme(request), await cookie_scheme(request)
    for role in roles:
        try:
            await require(role)(request, bearer, cookie)
        except ApiError as refused:
            return refused
    return None


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
