"""One typed settings object, read from the environment (see `.env.example`)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bff.domain.documents import parse_version
from bff.domain.passkeys import RelyingParty
from bff.domain.rbac import Role
from bff.domain.sessions import SessionPolicy
from bff.domain.throttle import Limits, ThrottlePolicy, ThrottleScope
from bff.notify.retries import RetryPolicy
from bff.origins import parse_origins
from bff.ratelimit import Bucket, Budgets, OperationClass

# How an Android app's origin reads in a WebAuthn client data (its signing key's hash).
ANDROID_ORIGIN = "android:apk-key-hash:"


def _listed(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DocumentsMode(StrEnum):
    """Which GraphQL documents run: any (with automatic persisted queries), or registered only."""

    OPEN = "open"
    TRUSTED = "trusted"


class Settings(BaseSettings):
    """Every runtime knob of the service. Unknown variables are ignored."""

    model_config = SettingsConfigDict(
        env_prefix="BFF_", env_file=".env", env_ignore_empty=True, extra="ignore", frozen=True
    )

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # TLS terminated by `bff serve` itself (TLS 1.3 only); unset: plain HTTP behind a proxy.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    workers: int = Field(default=1, ge=1, le=64)
    data_dir: Path = Path(".data")

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "BFF_DATABASE_URL")
    )
    db_pool_size: int = Field(default=10, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    # Client-side bounds, for a server that stopped answering (paused, partitioned): opening a
    # connection, and one statement (above statement_timeout, so the server's own normally wins).
    db_connect_timeout_s: float = Field(default=3.0, gt=0)
    db_command_timeout_s: float = Field(default=20.0, gt=0)
    db_statement_timeout_ms: int = Field(default=15_000, ge=0)
    db_lock_timeout_ms: int = Field(default=5_000, ge=0)
    db_pool_pre_ping: bool = False
    # A streaming replica for lag-tolerant reads (history pages); past this replay lag, or
    # when it fails, they go to the primary.
    database_replica_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_REPLICA_URL", "BFF_DATABASE_REPLICA_URL"),
    )
    db_replica_max_lag_s: float = Field(default=5.0, gt=0)

    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "BFF_REDIS_URL")
    )
    # Rate limits: budgets per window, per actor (an address gets `address_factor` times more).
    rate_limits_enabled: bool = True
    rate_limit_window_s: int = Field(default=60, ge=1)
    rate_limit_login: int = Field(default=20, ge=1)
    rate_limit_money: int = Field(default=60, ge=1)
    rate_limit_mutations: int = Field(default=120, ge=1)
    rate_limit_address_factor: int = Field(default=5, ge=1)
    # Query cost (bff/api/cost.py): the most one operation may cost, each signed-in user's leaky
    # bucket, the bucket of anonymous callers per client address, and the charge of a refusal.
    query_cost_max: int = Field(default=5_000, ge=1)
    cost_bucket: int = Field(default=50_000, ge=1)
    cost_restore_rate: float = Field(default=5_000.0, gt=0)
    cost_anonymous_bucket: int = Field(default=5_000, ge=1)
    cost_anonymous_restore_rate: float = Field(default=500.0, gt=0)
    cost_refusal_charge: int = Field(default=10, ge=0)
    # This many refused documents of one principal within `cost_refusal_penalty_s` have its
    # documents refused unread for as long (bff/ratelimit/overdrawn.py); 0 turns it off.
    cost_refusal_strikes: int = Field(default=10, ge=0)
    cost_refusal_penalty_s: float = Field(default=10.0, gt=0)
    # Load shedding (bff/edge/load_shedding.py): saturated over this many HTTP GraphQL requests
    # in flight or this event-loop lag; then queries costing more than `shed_heavy_cost` and
    # introspection are refused with 503 OVERLOADED.
    shed_max_in_flight: int = Field(default=64, ge=0)
    shed_max_loop_lag_ms: float = Field(default=250.0, ge=0)
    shed_heavy_cost: int = Field(default=2_000, ge=0)
    # The read-through cache of the dataloaders (Redis with REDIS_URL, else process memory).
    cache_enabled: bool = True
    cache_ttl_s: int = Field(default=300, ge=1)
    # Whole responses to queries, proven current on every hit (only with the cache above).
    response_cache_enabled: bool = True

    jwt_issuer: str = "fintech-bff"
    jwt_audience: str = "fintech-app"
    jwt_keys_file: Path | None = None
    # The key ring's JSON itself, for platforms that hand secrets over as variables.
    jwt_keys: str | None = None
    access_token_ttl_s: int = Field(default=900, ge=60, le=3600)
    # The data key ring (key-encryption keys and the blind-index key), as a file or as JSON.
    data_keys_file: Path | None = None
    data_keys: str | None = None
    # The Ed25519 key that signs audit anchors (`bff audit anchor`).
    audit_anchor_key_file: Path | None = None
    session_idle_timeout_s: int = Field(default=30 * 24 * 3600, ge=3600)
    session_max_lifetime_s: int = Field(default=90 * 24 * 3600, ge=3600)
    # How long a process may trust its answer to "is this session live, with which roles".
    session_cache_ttl_s: float = Field(default=1.0, ge=0, le=1.0)
    login_free_failures: int = Field(default=3, ge=1)
    login_lockout_failures: int = Field(default=10, ge=2)
    login_address_free_failures: int = Field(default=20, ge=1)
    login_address_lockout_failures: int = Field(default=100, ge=2)
    login_lockout_s: int = Field(default=15 * 60, ge=1)
    # The issuer name authenticator apps show beside an enrolled TOTP secret.
    totp_issuer: str = Field(default="Fintech Bank", min_length=1, max_length=64)
    # Passkeys (WebAuthn): the relying party ID (the registrable domain passkeys are scoped to),
    # the name devices show, the origins the ceremonies may run on (comma-separated: web origins
    # as browsers send them, and Android apps' `android:apk-key-hash:...`), and how long a
    # ceremony's challenge stays good.
    webauthn_rp_id: str = Field(default="localhost", min_length=1, max_length=253)
    webauthn_rp_name: str = Field(default="Fintech Bank", min_length=1, max_length=64)
    webauthn_origins: str = "http://localhost:8000"
    webauthn_timeout_s: int = Field(default=300, ge=30, le=600)
    # Third-party access (OAuth 2.0): the authorization server's public base URL (its issuer
    # identifier; default http://HOST:PORT) and the lifetime of the apps' access tokens.
    oauth_issuer: str | None = None
    oauth_access_token_ttl_s: int = Field(default=300, ge=60, le=600)
    # Proxies whose X-Forwarded-For is trusted for the client address (uvicorn's setting).
    forwarded_allow_ips: str | None = None

    # Other sites' origins whose pages may call the API, over HTTP (CORS) and WebSocket
    # (comma-separated, exactly as browsers send Origin). Apps send no Origin and the server's
    # own pages (GraphiQL) are same-origin: both always pass.
    allowed_origins: str = ""
    ws_max_subscriptions: int = Field(default=20, ge=1)
    ws_init_timeout_s: float = Field(default=10.0, gt=0)
    introspection: bool | None = None
    graphql_max_depth: int = Field(default=12, ge=2)
    graphql_max_aliases: int = Field(default=30, ge=1)
    # The app's largest document is about 100 tokens and 500 characters, GraphiQL's
    # introspection query under 250 tokens and 2 KB; a document parsed to the limit costs less
    # CPU than the home query (README, figure 9). The length is checked before any token is read.
    graphql_max_tokens: int = Field(default=500, ge=100)
    graphql_max_document_chars: int = Field(default=8 * 1024, ge=1024)
    # Checked in one pass before validation (bff/api/document_limits.py).
    graphql_max_directives: int = Field(default=4, ge=1)
    graphql_max_selections: int = Field(default=32, ge=1)  # the app's largest set has 8
    graphql_max_fields: int = Field(default=500, ge=1)
    # The characters of a document's string literals together: the app sends values as
    # variables, and graphql-core reads a literal a character at a time (0.3 µs each).
    graphql_max_string_chars: int = Field(default=1024, ge=64)
    # Queries run on executors compiled per document (bff/api/compiled); off: graphql-core only.
    compiled_execution: bool = True
    # Trusted documents (bff/api/documents): unset, trusted in production and open elsewhere.
    documents_mode: DocumentsMode | None = None
    # Roles whose requests may send any document in trusted mode (staff tools), comma-separated.
    documents_exempt_roles: str = ""
    # The oldest build each app may still use, as `ios=4.2.0,android=4.1.0`.
    min_client_versions: str = ""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    idempotency_ttl_s: int = Field(default=48 * 3600, ge=24 * 3600)
    # Base backups and the WAL archive (`bff backup`), and PostgreSQL's programs for them.
    backup_dir: Path | None = None
    pg_bin_dir: Path | None = None
    # Held transfers (fraud review, step-up): voided unless resolved within this long.
    hold_ttl_s: int = Field(default=72 * 3600, ge=1)
    hold_expiry_poll_s: float = Field(default=5.0, gt=0)
    # Step-up: how long a transfer waits for the customer's second factor (then it is voided),
    # and how many wrong answers fail its challenge (voiding it too).
    step_up_ttl_s: int = Field(default=300, ge=1)
    step_up_max_failures: int = Field(default=3, ge=1)
    # The fraud risk model (skops); `bff serve` trains one there at first start when missing.
    fraud_model_file: Path | None = None
    # Screening of customer transfers; false: every transfer posts as before.
    fraud_screening: bool = True
    # How long published account events stay for clients resuming live streams (`bff purge`).
    event_retention_days: int = Field(default=30, ge=1)
    # Monthly partitions of the history tables kept ready ahead of time (`bff partitions ensure`,
    # and every server process at start and then every partition_check_s).
    partition_months_ahead: int = Field(default=3, ge=1, le=36)
    partition_check_s: float = Field(default=6 * 3600, gt=0)

    log_json: bool | None = None
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    # OpenTelemetry traces over OTLP/HTTP (unset: no tracing), the standard variables.
    otel_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    otel_service_name: str = Field(
        default="fintech-bff", validation_alias=AliasChoices("OTEL_SERVICE_NAME")
    )
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # Prometheus metrics on a listener of their own (unset: none); on the public listener's
    # /metrics only when BFF_METRICS_PUBLIC is set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_public: bool = False

    # Customer events (notifications, the activity feed). With AMQP_URL they travel through
    # RabbitMQ to `bff worker`; without it workers read them from PostgreSQL.
    amqp_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AMQP_URL", "BFF_AMQP_URL")
    )
    # Names the exchange and queues, so that environments sharing a broker stay apart.
    amqp_prefix: str = Field(default="bff", pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    # Run a worker inside each `bff serve` process (default: in development, not in production).
    inline_worker: bool | None = None
    worker_prefetch: int = Field(default=64, ge=1, le=10_000)
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    # Seconds before each retry of an event whose handling failed (the last repeats).
    worker_retry_delays_s: str = "1,5,30,120"
    # Expo's push API (https://docs.expo.dev/push-notifications/sending-notifications/).
    push_expo_url: str = "https://exp.host/--/api/v2/push/send"
    push_expo_receipts_url: str = "https://exp.host/--/api/v2/push/getReceipts"
    push_expo_access_token: str | None = None
    # FCM HTTP v1: a service account's JSON key (unset: FCM tokens are not pushed to).
    push_fcm_credentials_file: Path | None = None
    push_fcm_url: str = "https://fcm.googleapis.com"
    push_timeout_s: float = Field(default=10.0, gt=0)
    # Expo keeps receipts for a day and advises asking for them after about 15 minutes.
    push_receipt_delay_s: float = Field(default=900.0, ge=0)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_as_browsers_send_them(cls, value: str) -> str:
        parse_origins(value)
        return value

    @field_validator("webauthn_origins")
    @classmethod
    def _webauthn_origins(cls, value: str) -> str:
        web = [part for part in _listed(value) if not part.startswith(ANDROID_ORIGIN)]
        parse_origins(",".join(web))
        if not _listed(value):
            raise ValueError("list at least one origin passkey ceremonies run on")
        return value

    @field_validator("worker_retry_delays_s")
    @classmethod
    def _delays_are_seconds(cls, value: str) -> str:
        delays = [float(delay) for delay in value.split(",")]
        if not delays or any(delay <= 0 for delay in delays):
            raise ValueError("retry delays are positive seconds, comma-separated")
        return value

    @field_validator("min_client_versions")
    @classmethod
    def _versions_per_app(cls, value: str) -> str:
        parse_min_versions(value)
        return value

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("TLS needs both BFF_TLS_CERT_FILE and BFF_TLS_KEY_FILE")
        return self

    @model_validator(mode="after")
    def _workers_share_a_broker(self) -> Settings:
        if self.workers > 1 and not self.redis_url:
            raise ValueError(
                "BFF_WORKERS > 1 needs REDIS_URL: without it live events are per process"
            )
        return self

    @model_validator(mode="after")
    def _production_is_explicit(self) -> Settings:
        # DATABASE_URL is required where a database is used (bff.db.provision): the key ring
        # commands run without one.
        if self.is_production and not (self.jwt_keys_file or self.jwt_keys):
            raise ValueError(
                "production mode needs BFF_JWT_KEYS_FILE or BFF_JWT_KEYS"
                " (development defaults are refused)"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def introspection_enabled(self) -> bool:
        """Introspection is on in development; production opts in for frontend tooling."""
        return self.introspection if self.introspection is not None else not self.is_production

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.is_production

    @property
    def browser_origins(self) -> frozenset[str]:
        """Other sites' origins whose pages may call the API (the server's own always may)."""
        return parse_origins(self.allowed_origins)

    @property
    def tls_enabled(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def hsts(self) -> bool:
        """Strict-Transport-Security: in production (TLS ends at the load balancer or here), and
        wherever the server itself speaks TLS."""
        return self.is_production or self.tls_enabled

    @property
    def trusted_documents_only(self) -> bool:
        mode = self.documents_mode
        return mode == DocumentsMode.TRUSTED if mode is not None else self.is_production

    @property
    def documents_exempt(self) -> frozenset[Role]:
        """Roles exempt from trusted mode."""
        return frozenset(
            Role(r.strip()) for r in self.documents_exempt_roles.split(",") if r.strip()
        )

    @property
    def min_versions(self) -> dict[str, tuple[int, ...]]:
        return parse_min_versions(self.min_client_versions)

    @property
    def rate_limit_budgets(self) -> Budgets:
        return Budgets(
            window_s=self.rate_limit_window_s,
            per_class={
                OperationClass.LOGIN: self.rate_limit_login,
                OperationClass.MONEY: self.rate_limit_money,
                OperationClass.MUTATION: self.rate_limit_mutations,
            },
            address_factor=self.rate_limit_address_factor,
            max_cost=self.query_cost_max,
            user_cost=Bucket(self.cost_bucket, self.cost_restore_rate),
            anonymous_cost=Bucket(self.cost_anonymous_bucket, self.cost_anonymous_restore_rate),
            refusal_charge=self.cost_refusal_charge,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            delays_s=tuple(float(delay) for delay in self.worker_retry_delays_s.split(",")),
            max_attempts=self.worker_max_attempts,
        )

    @property
    def runs_inline_worker(self) -> bool:
        return self.inline_worker if self.inline_worker is not None else not self.is_production

    @property
    def oauth_issuer_url(self) -> str:
        """The issuer identifier: the public base URL, without a trailing slash."""
        return (self.oauth_issuer or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def relying_party(self) -> RelyingParty:
        """The bank as passkeys know it."""
        return RelyingParty(
            id=self.webauthn_rp_id,
            name=self.webauthn_rp_name,
            origins=_listed(self.webauthn_origins),
            timeout_s=self.webauthn_timeout_s,
        )

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle_timeout=timedelta(seconds=self.session_idle_timeout_s),
            max_lifetime=timedelta(seconds=self.session_max_lifetime_s),
        )

    @property
    def throttle_policy(self) -> ThrottlePolicy:
        return ThrottlePolicy(
            limits={
                ThrottleScope.ACCOUNT: Limits(
                    self.login_free_failures, self.login_lockout_failures
                ),
                ThrottleScope.ADDRESS: Limits(
                    self.login_address_free_failures, self.login_address_lockout_failures
                ),
                # A second factor is throttled like a login to the account.
                ThrottleScope.SECOND_FACTOR: Limits(
                    self.login_free_failures, self.login_lockout_failures
                ),
            },
            lockout_s=self.login_lockout_s,
            forget_after_s=self.login_lockout_s,
        )

    @property
    def data_keys_path(self) -> Path:
        """Where the data key ring lives: configured in production, generated in development."""
        return self.data_keys_file or self.data_dir / "dev-data-keys.json"

    @property
    def fraud_model_path(self) -> Path:
        return self.fraud_model_file or self.data_dir / "fraud-model.skops"

    @property
    def anchor_key_file(self) -> Path:
        """Where the audit anchor key lives: configured in production, generated in development."""
        return self.audit_anchor_key_file or self.data_dir / "dev-audit-anchor-key.pem"

    @property
    def backups(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @cached_property
    def keys_file(self) -> Path:
        """Where the JWT key ring lives: configured in production, generated in development."""
        return self.jwt_keys_file or self.data_dir / "dev-jwt-keys.json"


def parse_min_versions(value: str) -> dict[str, tuple[int, ...]]:
    """`ios=4.2.0,android=4.1.0` as each app's oldest supported version."""
    versions = {}
    for pair in filter(None, (part.strip() for part in value.split(","))):
        app, _, version = pair.partition("=")
        parsed = parse_version(version.strip())
        if not app.strip() or parsed is None:
            raise ValueError("each app's minimum version is written like ios=4.2.0")
        versions[app.strip()] = parsed
    return versions
