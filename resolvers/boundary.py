"""The one place where domain errors become `userErrors`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, get_type_hints

from bff.api.context import Info
from bff.domain.actor import Actor, authenticated
from bff.domain.errors import DomainError
from bff.metrics.families import USER_ERRORS
from schema.errors import UserError

log = logging.getLogger("bff.user_errors")
P = ParamSpec("P")
Payload = TypeVar("Payload")


def returns_user_errors(
    resolver: Callable[P, Awaitable[Payload]],
) -> Callable[P, Awaitable[Payload]]:
    """Turn a DomainError raised by the resolver into its payload with `userErrors` filled in.

    Anything else propagates and is masked by the schema's error extension.
    """
    payload_type: Any = get_type_hints(resolver)["return"]

    @functools.wraps(resolver)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Payload:
        try:
            return await resolver(*args, **kwargs)
        except DomainError as error:
            USER_ERRORS.labels(error.code.value).inc()
            log.info("user error", extra={"code": error.code.value, "field": error.field})
            return payload_type(user_errors=[UserError.of(error)])  # type: ignore[no-any-return]

    return wrapper


def actor_of(info: Info) -> Actor:
    """The request's actor, or UNAUTHENTICATED."""
    return authenticated(info.context.actor)
