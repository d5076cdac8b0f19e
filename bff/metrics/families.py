"""Every metric family the service exports, named as Prometheus advises: a `bff_` prefix, base
units (seconds, bytes), `_total` on counters. Gauges say how processes combine in multiprocess
mode: `livesum` for what each process holds (connections, subscriptions), `livemax` for what all
of them see alike (relay lag, the breaker)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# From 5 ms to 10 s: the design's target is an average of 200 ms.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
_WAIT_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_COST_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)

GRAPHQL_REQUESTS = Counter(
    "bff_graphql_requests_total",
    "GraphQL requests over HTTP, by operation name and outcome.",
    ["operation", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "bff_graphql_request_duration_seconds",
    "Time from a GraphQL request's arrival to its last response byte, by operation name.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
GRAPHQL_EXECUTIONS = Counter(
    "bff_graphql_executions_total",
    "GraphQL queries by the executor that ran them: compiled (bff/api/compiled), or fallback to "
    "graphql-core (a document the compiler does not support).",
    ["executor"],
)
GRAPHQL_COST = Histogram(
    "bff_graphql_operation_cost",
    "An operation's static query cost, taken from its principal's bucket (bff/api/cost.py).",
    ["operation_class"],
    buckets=_COST_BUCKETS,
)
GRAPHQL_DOCUMENTS_PARSED = Counter(
    "bff_graphql_documents_parsed_total",
    "GraphQL documents parsed (each text once per request, once per process while it is "
    "remembered), by outcome: accepted, or refused by the token or shape limits.",
    ["outcome"],
)
REQUESTS_SHED = Counter(
    "bff_requests_shed_total",
    "GraphQL requests refused with 503 OVERLOADED while the process was saturated "
    "(bff/edge/load_shedding.py), by what they were: introspection or a heavy read.",
    ["priority"],
)
RATE_LIMIT_REFUSALS = Counter(
    "bff_rate_limit_refusals_total",
    "Operations refused because a rate-limit budget was spent (HTTP 429).",
    ["operation_class"],
)
USER_ERRORS = Counter(
    "bff_user_errors_total",
    "Mutations answered with a userError, by its stable code.",
    ["code"],
)
LOGIN_THROTTLED = Counter(
    "bff_login_throttled_total",
    "Logins refused by throttling: a growing delay, or a lockout.",
    ["kind"],
)
CACHE_LOOKUPS = Counter(
    "bff_cache_lookups_total",
    "Cache look-ups by cache (loader: the dataloaders' read-through; response) and result.",
    ["cache", "result"],
)
DB_POOL_CONNECTIONS = Gauge(
    "bff_db_pool_connections",
    "Pooled PostgreSQL connections by state (in_use, idle) and pool (primary, replica).",
    ["pool", "state"],
    multiprocess_mode="livesum",
)
DB_POOL_CAPACITY = Gauge(
    "bff_db_pool_capacity_connections",
    "The most connections the pool may open (pool size plus overflow).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "bff_db_pool_wait_seconds",
    "Time spent waiting for a pooled PostgreSQL connection.",
    ["pool"],
    buckets=_WAIT_BUCKETS,
)
REDIS_BREAKER_OPEN = Gauge(
    "bff_redis_breaker_open",
    "1 while the Redis cache's circuit breaker is open (reads go to PostgreSQL), else 0.",
    multiprocess_mode="livemax",
)
WEBSOCKETS_OPEN = Gauge(
    "bff_websocket_connections",
    "Open WebSocket connections.",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS_OPEN = Gauge(
    "bff_graphql_subscriptions",
    "Live GraphQL subscriptions (account event streams).",
    multiprocess_mode="livesum",
)
FRAUD_DECISIONS = Counter(
    "bff_fraud_decisions_total",
    "Transfer requests screened, by the decision (allow, step_up, review, block).",
    ["decision"],
)
RELAY_LAG = Gauge(
    "bff_outbox_relay_lag_seconds",
    "Age of the oldest account event not yet published by the outbox relay (0: none).",
    multiprocess_mode="livemax",
)
REPLICA_LAG = Gauge(
    "bff_db_replica_lag_seconds",
    "How far the read replica's replay is behind the primary (0 without a replica).",
    multiprocess_mode="livemax",
)
REPLICA_READS = Counter(
    "bff_db_replica_reads_total",
    "Lag-tolerant reads by where they ran (replica, or primary: fresh writer, lag, failure).",
    ["target"],
)
