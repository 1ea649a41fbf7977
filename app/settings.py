"""Settings: one frozen, validated object, loaded once from ``ALERTPIPE_*`` variables.

Nested groups use ``__`` in the variable name (``ALERTPIPE_TOPICS__PARTITIONS=6``); the
receiver URLs and the policy file keep the flat names operators expect
(``ALERTPIPE_PAGER_URL``, ``ALERTPIPE_POLICY``).

Receiver URLs are treated as secrets: a Slack incoming-webhook URL *is* a credential, so
``masked()`` shows only scheme and host.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.roles import ROLE_NAMES
from handlers.actions import ACTIONS, URL_SETTINGS
from handlers.config import (
    DeliveryConfig,
    HoldConfig,
    ReadinessConfig,
    ResponseConfig,
    RollbackConfig,
)
from streams.supervise import SupervisionConfig

__all__ = [
    "DRILL_URLS",
    "RECEIVER_URLS",
    "AggregatorSettings",
    "AuthSettings",
    "DashboardSettings",
    "DrillSettings",
    "EvaluatorSettings",
    "IngestSettings",
    "LocalSettings",
    "Settings",
    "TopicSettings",
    "get_settings",
    "masked",
]


def _default_local_dir() -> Path:
    """`/tmp/alertpipe-$USER` (the system's temporary folder)"""
    # Under /tmp rather than $HOME: PostgreSQL refuses to run as root, so when we are root the
    # server runs as the `postgres` user, which must be able to reach its data folder.
    return Path(tempfile.gettempdir()) / f"alertpipe-{getpass.getuser()}"


def _default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/alertpipe` or `~/.cache/alertpipe`"""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alertpipe"


def _empty_is_unset(value: Any) -> Any:
    # ALERTPIPE_PAGER_URL= (set but empty, as compose files and env templates leave it)
    # means "no receiver": print to the console, never POST to an empty URL and fail.
    if isinstance(value, str) and not value.strip():
        return None
    return value


# The receivers' URL settings (``ALERTPIPE_<NAME>``): one per URL that a row of
# ``handlers.actions.ACTIONS`` names, so a new receiver brings its own. Unset or empty: the
# console receiver.
RECEIVER_URLS: tuple[str, ...] = tuple(URL_SETTINGS)
ReceiverUrl = Annotated[SecretStr | None, BeforeValidator(_empty_is_unset)]


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TopicSettings(_Group):
    """Kafka topic names, partition count and retention (created at start if missing)."""

    telemetry: str = Field(default="telemetry", description="ingest topic (key: service)")
    dead_letter: str = Field(
        default="telemetry.dlq", description="rejected input with its reason, field and origin"
    )
    panes: str = Field(
        default="metrics.panes",
        description="panes (on time, then refinements for late events): stage 1 → stage 2",
    )
    decisions: str = Field(
        default="alerts.decisions", description="severity decisions: stage 2 → stage 3"
    )
    incidents: str = Field(default="incidents", description="lifecycle events for subscribers")
    partitions: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="partitions of every topic created at start (existing ones are left alone)",
    )
    replication_factor: int = Field(
        default=1, ge=1, description="replication factor of every topic created at start"
    )
    retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000,
        ge=60_000,
        description="retention of every topic created at start (the default is 7 days)",
    )


class LocalSettings(_Group):
    """Where and how `alertpipe local up` runs Kafka and PostgreSQL on 127.0.0.1."""

    dir: Path = Field(
        default_factory=_default_local_dir, description="data folders, logs and pid files"
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir, description="Kafka's jars, fetched with Maven once"
    )
    kafka_version: str = Field(default="4.1.1", description="Apache Kafka release")
    kafka_port: int = Field(default=19092, ge=1, le=65535, description="broker port on 127.0.0.1")
    kafka_controller_port: int = Field(
        default=19093, ge=1, le=65535, description="KRaft controller port on 127.0.0.1"
    )
    kafka_heap: str = Field(default="768m", description="the broker JVM's `-Xmx`")
    postgres_port: int = Field(
        default=54329, ge=1, le=65535, description="PostgreSQL port on 127.0.0.1"
    )
    postgres_db: str = Field(default="alertpipe", description="database created for alertpipe")
    postgres_user: str = Field(
        default="alertpipe",
        description="role created for alertpipe (trust authentication, loopback only)",
    )
    startup_timeout_s: float = Field(
        default=120.0, gt=0, description="how long each server may take to answer"
    )
    heartbeat_s: float = Field(
        default=10.0,
        gt=0,
        description="how often a long step (download, start) prints that it is still running",
    )


class AggregatorSettings(_Group):
    """Stage 1: event-time panes."""

    pane_ms: int = Field(default=1000, ge=10, description="pane width")
    allowed_lateness_ms: int = Field(
        default=5000,
        ge=0,
        description="how late an event may be and still count in its pane: a pane is published "
        "when the watermark passes its end and again (a refinement) for events this late",
    )
    idle_timeout_ms: int = Field(
        default=3000,
        ge=10,
        description="a partition quiet this long has its panes published and closed anyway",
    )
    max_future_skew_ms: int = Field(
        default=60_000,
        ge=0,
        description="events further ahead of the broker's clock are dead-lettered (`future_ts`)",
    )


class EvaluatorSettings(_Group):
    """Stage 2: the evaluator and the cascade correlator (the policy holds the plan's numbers)."""

    state_topic: str = Field(
        default="alerts.state",
        description="stage 2's compacted state (alert states, baselines), co-partitioned with "
        "the panes topic",
    )
    transactional_prefix: str | None = Field(
        default=None,
        description="partition P's producer is `PREFIX.PANES_TOPIC.P`; unset: the group id",
    )
    correlator: bool = Field(
        default=True, description="run the S4 cascade correlator with the evaluator"
    )
    idle_after_ms: int = Field(
        default=10_000,
        ge=0,
        description="a scope, service or whole partition with no pane for this long is judged "
        "on its silence (in the partition's event time; wall-clock time when all of it is quiet)",
    )
    rebuild_margin_ms: int = Field(
        default=30_000,
        ge=0,
        description="panes kept (and re-read after a restart) beyond the longest window",
    )
    checkpoint_every_ms: int = Field(
        default=30_000,
        ge=0,
        description="baselines and deploy tracks are written to the state topic at most this often",
    )
    session_timeout_ms: int = Field(
        default=10_000, ge=6_000, description="a dead evaluator's partitions move after this"
    )
    offset_reset: Literal["latest", "earliest"] = Field(
        default="latest", description="where a brand-new consumer group starts"
    )


class IngestSettings(_Group):
    """HTTP ingest on the `api` role (`POST /v1/telemetry`, OTLP `/v1/traces|metrics|logs`,
    `POST /v1/alertmanager`): its limits, and when it pushes back."""

    max_body_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="largest request body, as sent and again after gzip is undone (413 beyond)",
    )
    max_in_flight: int = Field(
        default=50_000,
        ge=1,
        description="events (or alerts) accepted but not yet acknowledged by Kafka, across "
        "requests; a request that would go beyond is answered 429 with `Retry-After`, before "
        "anything of it is written",
    )
    ack_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="how long a request waits for Kafka's acknowledgement (acks=all) of what "
        "it wrote; longer: 429 with `Retry-After` (the write may still land: at least once)",
    )
    retry_after_s: int = Field(
        default=2, ge=1, description="the `Retry-After` (seconds) of a 429 from ingest"
    )
    linger_ms: int = Field(
        default=5,
        ge=0,
        description="the ingest producer's batching delay (concurrent requests share batches)",
    )


class AuthSettings(_Group):
    """Who may use the HTTP API and the console (see docs/auth.md): tokens, sessions, a
    trusted reverse proxy, throttling of failed attempts, and whether /metrics is open."""

    bootstrap_token: SecretStr | None = Field(
        default=None,
        description="an admin token taken from the environment (the first credential, before "
        "`alertpipe token create` has made any); at least 24 characters; signs in as `bootstrap`",
    )
    session_ttl_s: float = Field(
        default=12 * 3600.0,
        gt=0,
        description="a console session (cookie) ends this long after sign-in",
    )
    secure_cookie: bool = Field(
        default=False,
        description="the console is served over https (directly or by a TLS-terminating proxy): "
        "the session cookie is marked `Secure`",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="unset: /metrics is open; set: /metrics needs `Authorization: Bearer` with "
        "this token (Prometheus's `authorization` scrape setting) or, on an `api` process, a "
        "viewer credential",
    )
    max_failures: int = Field(
        default=10,
        ge=1,
        description="failed sign-ins from one client address within `failure_window_s` before "
        "its requests are refused with 429 (per process)",
    )
    failure_window_s: float = Field(
        default=60.0, gt=0, description="the window over which failed attempts are counted"
    )
    proxy_user_header: str | None = Field(
        default=None,
        description="trusted reverse-proxy mode: the request header naming the signed-in user "
        "(e.g. `X-Forwarded-User`); read only from `trusted_proxies`; unset: off",
    )
    proxy_role_header: str | None = Field(
        default=None,
        description="the header carrying the proxied user's role (viewer, operator, admin); "
        "unset or absent: `proxy_role`",
    )
    proxy_role: str = Field(
        default="viewer", description="the role of a proxied user whose request names none"
    )
    trusted_proxies: tuple[str, ...] = Field(
        default=(),
        description="addresses or CIDRs of the reverse proxies whose user header and "
        '`X-Forwarded-For` are believed (JSON list, e.g. `["10.0.0.0/8"]`)',
    )

    @field_validator("bootstrap_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 24:
            raise ValueError("must be at least 24 characters (make one: `openssl rand -hex 24`)")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an address or CIDR") from None
        return value

    @field_validator("proxy_user_header", "proxy_role_header")
    @classmethod
    def _header(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("proxy_role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ROLE_NAMES:
            raise ValueError(f"expected one of {', '.join(ROLE_NAMES)}")
        return value

    @model_validator(mode="after")
    def _proxy_needs_trust(self) -> AuthSettings:
        if self.proxy_user_header and not self.trusted_proxies:
            raise ValueError(
                "proxy_user_header is set but trusted_proxies is empty: name the proxies "
                "whose header is believed"
            )
        return self


# A drill's control URLs: one per control URL of ``handlers.actions.ACTIONS`` (breaker,
# rollback, restore, bot_restart), so a new control receiver brings its drill URL too.
DRILL_URLS: tuple[str, ...] = tuple(
    dict.fromkeys(f"{spec.url}_url" for spec in ACTIONS.values() if not spec.notification)
)

if TYPE_CHECKING:
    _DrillUrls = _Group
else:
    _DrillUrls = create_model(
        "_DrillUrls",
        __base__=_Group,
        **{
            name: (
                ReceiverUrl,
                Field(
                    default=None,
                    description=f"a drill's {URL_SETTINGS[name]} (a staging deploy tool; "
                    "secret); unset: the console",
                ),
            )
            for name in DRILL_URLS
        },
    )


class DrillSettings(_DrillUrls):
    """DR drills (`alertpipe drill`): where their effects go, their pace and schedule."""

    pager_routing_key: SecretStr | None = Field(
        default=None,
        description="PagerDuty routing key of a drill's pages; unset: a drill pages nobody "
        "(the console)",
    )
    schedule_days: float = Field(
        default=30.0,
        gt=0,
        description="the plan's monthly drill: a drill is overdue this long after the last "
        "finished one (readiness and the dashboard say so)",
    )
    compress: float = Field(
        default=1.0,
        gt=0,
        description="how many times faster than the plan this pipeline's clock runs (the "
        "demo's `--compress`): a drill report scales the plan's budgets by it",
    )
    warmup_s: float = Field(
        default=30.0, ge=5, description="healthy traffic a drill plays before its fault"
    )
    max_s: float = Field(
        default=1800.0,
        gt=0,
        description="a drill's traffic stops at the latest this long after the fault",
    )
    settle_s: float = Field(
        default=10.0,
        ge=0,
        description="healthy traffic a drill keeps playing after its incidents resolved",
    )
    rate: float = Field(default=200.0, gt=0, le=5000, description="a drill's requests per second")
    lease_s: float = Field(
        default=15.0, gt=0, description="a drill runner's lease (another process resumes it)"
    )
    poll_s: float = Field(default=1.0, gt=0, description="how often runners look for drills")


class DashboardSettings(_Group):
    """The dashboard at `/` (the `api` role): its in-memory ring of recent panes per scope."""

    retention_s: int = Field(
        default=3600,
        ge=60,
        le=86_400,
        description="how far back the graphs reach: panes kept per scope, refilled from Kafka "
        "at start (the ring holds retention / pane width panes of each scope)",
    )
    refill_recent_s: int = Field(
        default=900,
        ge=10,
        description="at start, the refill reads this much of the recent past first (the "
        "page's default 15 minutes), then the rest of the retention beside the live panes",
    )
    max_scopes: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="scopes kept at once; beyond it the scope quiet the longest is dropped "
        "(with the defaults an endpoint scope takes at most 130 kB: docs/dashboard.md)",
    )
    live_every_s: float = Field(
        default=1.0, ge=0.5, le=5.0, description="how often the page's live stream sends news"
    )


class _Servers(BaseSettings):
    """``Settings`` up to the receivers' URLs (see there)."""

    model_config = SettingsConfigDict(
        env_prefix="ALERTPIPE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka_bootstrap: str | None = Field(
        default=None,
        description="`host:port[,host:port]`; unset means the local broker from "
        "`alertpipe local up` (127.0.0.1, `ALERTPIPE_LOCAL__KAFKA_PORT`)",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="`postgresql://…`; unset means the local server from `alertpipe local up`",
    )
    database_schema: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema of alertpipe's tables (created by the migrations); "
        "unset: the server's search_path (public)",
    )
    database_notify: bool = Field(
        default=True,
        description="wake the responder's workers on PostgreSQL LISTEN/NOTIFY when work is "
        "committed; off (poll intervals only) behind a pooler that does not pass notifications",
    )
    group_prefix: str = Field(
        default="alertpipe", description="prefix of every consumer group and transactional id"
    )
    topics: TopicSettings = Field(default_factory=TopicSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)
    aggregator: AggregatorSettings = Field(default_factory=AggregatorSettings)
    evaluator: EvaluatorSettings = Field(default_factory=EvaluatorSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    # Stages 3–4 (groups defined beside the code that reads them, in handlers/config.py).
    response: ResponseConfig = Field(default_factory=ResponseConfig)
    rollback: RollbackConfig = Field(default_factory=RollbackConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    holds: HoldConfig = Field(default_factory=HoldConfig)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    # Every role of every process (defined beside the supervisor, in streams/supervise.py).
    supervision: SupervisionConfig = Field(default_factory=SupervisionConfig)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    drill: DrillSettings = Field(default_factory=DrillSettings)
    policy: Path | None = Field(
        default=None,
        description="policy YAML file; unset means the built-in plan (`alertpipe policy default`)",
    )

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for part in value.split(","):
            host, sep, port = part.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {part!r}")
        return value


if TYPE_CHECKING:  # the URL fields are generated: code reads them by name from RECEIVER_URLS
    _WithReceiverUrls = _Servers
else:
    _WithReceiverUrls = create_model(
        "_WithReceiverUrls",
        __base__=_Servers,
        **{
            name: (ReceiverUrl, Field(default=None, description=f"{about} (secret)"))
            for name, about in URL_SETTINGS.items()
        },
    )


class Settings(_WithReceiverUrls):
    """Everything alertpipe reads from its environment. Frozen: built once, passed down.

    The receivers' URL fields (``RECEIVER_URLS``: ``pager_url`` …) are generated from
    ``handlers.actions.ACTIONS`` in a class of their own, between ``_Servers`` and this one,
    so that they keep their place after ``policy`` in ``alertpipe config show``."""

    webhook_secret: SecretStr | None = Field(
        default=None,
        description="HMAC-SHA256 key for `X-Alertpipe-Signature` on every receiver call; "
        "unset: unsigned",
    )
    pager_routing_key: SecretStr | None = Field(
        default=None,
        description="PagerDuty Events v2 routing key (32 characters) of the policy's default "
        "route (its name there is `default`); required when `ALERTPIPE_PAGER_URL` is set",
    )
    pager_routing_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="more routing keys, by the names the policy's routes give them (JSON, "
        '`{"chat-oncall": "…", "dave": "…"}`): each team\'s PagerDuty service and tier',
    )
    chat_urls: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="more Slack incoming-webhook URLs, by the names the policy's routes give "
        'them (JSON, `{"chat-team": "https://hooks.slack.com/…"}`); `default` is '
        "`ALERTPIPE_CHAT_URL`",
    )
    statuspage_api_key: SecretStr | None = Field(
        default=None,
        description="Statuspage API key, sent as `Authorization: OAuth <key>`; required when "
        "`ALERTPIPE_STATUSPAGE_URL` (`https://api.statuspage.io/v1/pages/<page_id>`) is set",
    )
    statuspage_components: dict[str, str] = Field(
        default_factory=dict,
        description="the Statuspage component id of each service (JSON, "
        '`{"chat-api": "8kbf7d35c070"}`); a service with none is named in the text only',
    )
    public_url: str | None = Field(
        default=None,
        description="where people reach this alertpipe's console (`https://alertpipe.example.com`)"
        ": pages and chat messages link to the incident and its review there; unset: no links",
    )
    token: SecretStr | None = Field(
        default=None,
        description="an API token the CLI's `drill` and `review` commands send (their "
        "`--token` wins)",
    )

    http_host: str = Field(
        default="127.0.0.1", description="where each process serves /health, /metrics (and the API)"
    )
    http_port: int = Field(
        default=8080, ge=0, le=65535, description="its port (0 picks a free one)"
    )
    http_max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description="the API refuses a request body larger than this with 413 (default 1 MiB)",
    )
    silence_max_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="a silence (API or dashboard) may last at most this long; a longer one "
        "is refused with 422 naming `ends_at`, so that a forgotten silence cannot hide pages "
        "for years",
    )
    log_level: str = Field(
        default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL (`-v` is DEBUG)"
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.strip().rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def uses_local_postgres(self) -> bool:
        return self.database_url is None

    @property
    def bootstrap(self) -> str:
        """The Kafka bootstrap address in effect (configured, or the local broker's)."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.local.kafka_port}"

    @property
    def dsn(self) -> str:
        """The PostgreSQL DSN in effect (configured, or the local server's), with the
        ``search_path`` of ``database_schema`` when one is set."""
        if self.database_url is not None:
            dsn = self.database_url.get_secret_value()
        else:
            loc = self.local
            dsn = (
                f"postgresql://{loc.postgres_user}@127.0.0.1:{loc.postgres_port}/{loc.postgres_db}"
            )
        if self.database_schema is None:
            return dsn
        return f"{dsn}{'&' if '?' in dsn else '?'}search_path={self.database_schema}"


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "**********"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…(masked)"


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, with every secret masked; safe to print or log."""
    data = settings.model_dump(mode="json")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        if not isinstance(value, SecretStr):
            continue
        secret = value.get_secret_value()
        is_url = name.endswith("_url") and field.annotation is not None
        data[name] = _mask_url(secret) if is_url else "**********"
    return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Load once per process. Tests build `Settings(...)` directly instead."""
    return Settings()
