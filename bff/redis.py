"""Redis clients, with bounded timeouts so that a Redis outage cannot stall requests."""

from __future__ import annotations

from redis.asyncio import Redis


def connect_redis(url: str) -> Redis:
    """A client for commands: every call fails fast when Redis is unreachable."""
    return Redis.from_url(
        url, socket_connect_timeout=0.5, socket_timeout=0.5, health_check_interval=15
    )


def connect_redis_listener(url: str) -> Redis:
    """A client for pub/sub: it waits for messages indefinitely, and health checks find a dead
    connection."""
    return Redis.from_url(url, socket_connect_timeout=0.5, health_check_interval=15)
