"""Applies the rate limits to every GraphQL operation, before it executes: the attempts of each
class of mutation (logins, money writes, others) per actor and per address, and the operation's
static cost (bff/api/cost.py) taken from its principal's leaky bucket, reported in
`extensions.cost` as Shopify does. A signed-in user's bucket is their own; anonymous callers
share one per client address, apart, so they cannot drain the users behind the same address.
A refused document (over a limit, invalid) costs a small fixed charge instead of its cost (owed,
and taken with the other refusals of the moment: bff/ratelimit/refusal_charges.py), and a
principal whose bucket cannot pay even that has its documents refused unread until it can
(bff/ratelimit/overdrawn.py). A document this process reads anew costs its reading too
(bff/api/validation.py); a principal that cannot pay for a new one is refused unread until it
can, as one that varies documents to make the server parse each is an abuser.

`extensions.cost` is in the responses to requests that carry the header `x-query-cost: 1`
(tooling and developers ask for it; the app's every response stays lean)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)
from strawberry.extensions import SchemaExtension

from bff.api.cost import actual_cost, requested_cost
from bff.api.operation_name import selected_operation
from bff.api.validation import reading_cost
from bff.domain.actor import Actor
from bff.domain.errors import ServiceUnavailable
from bff.edge.load_shedding import OVERLOADED, RETRY_AFTER_S, SATURATED
from bff.metrics.families import GRAPHQL_COST, RATE_LIMIT_REFUSALS, REQUESTS_SHED
from bff.ratelimit import Bucket, Budgets, LimiterUnavailable, OperationClass, Spend, Take
from bff.ratelimit.buckets import Throttle
from bff.ratelimit.overdrawn import Overdrawn

log = logging.getLogger("bff.ratelimit")

_LOGIN_FIELDS = frozenset({"signUp", "login", "refreshSession"})
_MONEY_FIELDS = frozenset({"createTransfer", "depositFunds"})
# The Redis client's circuit breaker tries again within seconds.
_LIMITER_RETRY_AFTER_S = 5
QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"
RATE_LIMITED = "RATE_LIMITED"
COST_HEADER = "x-query-cost"


@dataclass(frozen=True, slots=True)
class SpentCost:
    """What an operation was charged, and its principal's bucket after the charge."""

    requested: int
    throttle: Throttle | None  # None: the buckets were unreachable (fail open)
    reported: bool  # the request asked for `extensions.cost`


class RateLimits(SchemaExtension):
    spent: SpentCost | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        operation = selected_operation(execution)
        if operation is not None:
            document = execution.graphql_document
            assert document is not None
            refusal, self.spent = await spend_budgets(
                execution.context,
                execution.schema._schema,
                operation,
                document,
                execution.variables,
            )
            if refusal is not None:
                execution.result = refusal
        yield

    async def get_results(self) -> dict[str, Any]:
        """`extensions.cost`; a document refused before execution pays the refusal charge."""
        execution = self.execution_context
        if self.spent is None and execution.pre_execution_errors:
            self.spent = await charge_refusal(execution.context)
        operation = selected_operation(execution)
        data = getattr(execution.result, "data", None) if operation is not None else None
        document = execution.graphql_document
        return cost_extensions(self.spent, execution.schema._schema, operation, document, data)


async def spend_budgets(
    context: Any,
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    document: DocumentNode,
    variables: dict[str, Any] | None = None,
) -> tuple[ExecutionResult | None, SpentCost | None]:
    """Spend what `operation` costs from the caller's budgets: the refusal when one is spent
    (429, 400 for a cost no bucket can hold, or 503 when the limiter is down for a fail-closed
    class), and what its bucket was charged."""
    shed = _shed_heavy_read(context, schema, operation, document, variables)
    if shed is not None:
        return shed, None
    runtime = getattr(context, "runtime", None)  # None when the schema runs outside HTTP/WS
    if runtime is None or runtime.limiter is None:
        return None, None
    budgets: Budgets = runtime.settings.rate_limit_budgets
    subscription = operation.operation is OperationType.SUBSCRIPTION  # bounded per connection
    cost = 0 if subscription else requested_cost(schema, document, operation, variables)
    too_costly = cost > budgets.max_cost
    reading = reading_cost(getattr(getattr(context, "request", None), "state", None))
    # What the bucket is charged, in the attempts' round trip: a refused document pays the
    # refusal's charge, a document read anew its reading besides its cost.
    charge = budgets.refusal_charge if too_costly else cost + reading
    then = None if subscription else _take_of(context, budgets, charge)
    refusal, throttle = await _spend_attempts(context, runtime, budgets, operation, then)
    if too_costly:
        _refused(context, throttle, charge)
    elif reading:
        _note_overdrawn(context, throttle, charge)
    if refusal is not None or subscription:
        return refusal, None
    kind = operation.operation.value  # the metrics' operation class: query or mutation
    GRAPHQL_COST.labels(kind).observe(cost)
    if too_costly:
        return _refuse(
            context,
            400,
            f"The operation costs {cost}, more than the {budgets.max_cost} one may cost.",
            {"code": QUERY_TOO_COSTLY, "requestedQueryCost": cost},
        ), SpentCost(0, throttle, _asks_for_cost(context))
    spent = SpentCost(cost, throttle, _asks_for_cost(context))
    if spent.throttle is not None and not spent.throttle.allowed:
        RATE_LIMIT_REFUSALS.labels(kind).inc()
        wait = spent.throttle.wait_for(charge)
        return _refuse(
            context,
            429,
            f"Too many queries; this one costs {charge}"
            + (f" ({reading} of it reading a new document)" if reading else "")
            + f", retry in {wait} seconds.",
            {"code": RATE_LIMITED, "retryAfter": wait},
            wait,
        ), spent
    return None, spent


async def charge_refusal(context: Any) -> SpentCost | None:
    """Charge a refused request's small fixed charge to the caller's bucket: at once when the
    request asks for `extensions.cost` (what it reports), else with the other refusals of the
    moment (bff/ratelimit/refusal_charges.py), so that refusing costs no round trip."""
    runtime = getattr(context, "runtime", None)
    if runtime is None or runtime.cost_buckets is None:
        return None
    budgets: Budgets = runtime.settings.rate_limit_budgets
    if not _asks_for_cost(context) and runtime.refusal_charges is not None:
        key, bucket = _principal(context, budgets)
        runtime.overdrawn.strike(key)
        runtime.refusal_charges.owe(key, budgets.refusal_charge, bucket)
        return None
    throttle = await _take(context, budgets.refusal_charge)
    _refused(context, throttle, budgets.refusal_charge)
    return SpentCost(0, throttle, reported=True)


def refused_unread(overdrawn: Overdrawn, actor: Actor | None, client: str) -> int | None:
    """Seconds to wait when this principal's bucket cannot pay for any document yet (its next
    one is refused before it is read), or None."""
    return overdrawn.retry_after(principal_key(actor, client))


def _refused(context: Any, throttle: Throttle | None, charge: int) -> None:
    """A refused document: a strike against its principal, and the charge its bucket owes."""
    context.runtime.overdrawn.strike(principal_key(context.actor, context.client))
    _note_overdrawn(context, throttle, charge)


def _note_overdrawn(context: Any, throttle: Throttle | None, charge: int) -> None:
    """A refusal's charge or a new document's the bucket could not pay: the principal's next
    documents are refused unread until it can (cheaper queries wait too; a bucket that
    refusals or new documents drained is an abuser's)."""
    if throttle is not None and not throttle.allowed:
        key = principal_key(context.actor, context.client)
        context.runtime.overdrawn.note(key, throttle.seconds_until(charge))


def cost_extensions(
    spent: SpentCost | None,
    schema: GraphQLSchema,
    operation: OperationDefinitionNode | None,
    document: DocumentNode | None,
    data: dict[str, Any] | None,
) -> dict[str, Any]:
    """`{"cost": {requestedQueryCost, actualQueryCost, throttleStatus}}` once charged, if the
    request asked for it; else nothing."""
    if spent is None or not spent.reported:
        return {}
    actual = (
        actual_cost(schema, document, operation, data)
        if operation is not None and document is not None and spent.requested
        else 0
    )
    cost: dict[str, Any] = {"requestedQueryCost": spent.requested, "actualQueryCost": actual}
    if spent.throttle is not None:
        bucket = spent.throttle.bucket
        cost["throttleStatus"] = {
            "maximumAvailable": bucket.capacity,
            "currentlyAvailable": int(spent.throttle.available),
            "restoreRate": bucket.restore_rate,
        }
    return {"cost": cost}


async def _take(context: Any, cost: int) -> Throttle | None:
    runtime = context.runtime
    if runtime.cost_buckets is None:
        return None
    budgets: Budgets = runtime.settings.rate_limit_budgets
    key, bucket = _principal(context, budgets)
    try:
        return await runtime.cost_buckets.take(key, cost, bucket)  # type: ignore[no-any-return]
    except LimiterUnavailable as error:
        log.warning("cost buckets unavailable", extra={"error": str(error)})
        return None  # fail open: cost bounds load, it guards no secret


def _asks_for_cost(context: Any) -> bool:
    request = getattr(context, "request", None)
    headers = getattr(request, "headers", None) or {}
    return bool(headers.get(COST_HEADER) == "1")


def _take_of(context: Any, budgets: Budgets, cost: int) -> Take:
    key, bucket = _principal(context, budgets)
    return Take(key, cost, bucket)


def _principal(context: Any, budgets: Budgets) -> tuple[str, Bucket]:
    bucket = budgets.user_cost if context.actor is not None else budgets.anonymous_cost
    return principal_key(context.actor, context.client), bucket


def principal_key(actor: Actor | None, client: str) -> str:
    """Whose bucket a request spends: a signed-in user's own, else its address's anonymous one."""
    return f"user:{actor.user_id}" if actor is not None else f"anonymous:{client}"


async def _spend_attempts(
    context: Any,
    runtime: Any,
    budgets: Budgets,
    operation: OperationDefinitionNode,
    then: Take | None,
) -> tuple[ExecutionResult | None, Throttle | None]:
    """Spend the operation's attempts and then take `then` from its bucket, in one round trip:
    the refusal, if any, and the bucket after the take (None: nothing taken, or fail open)."""
    spends: list[tuple[OperationClass, Spend]] = []
    for operation_class, weight in _attempts(operation):
        budget = budgets.per_class[operation_class]
        prefix = f"{operation_class.value}:"
        address = Spend(
            f"{prefix}address:{context.client}", weight, budget * budgets.address_factor
        )
        spends.append((operation_class, address))
        if context.actor is not None:
            actor = Spend(f"{prefix}actor:{context.actor.user_id}", weight, budget)
            spends.append((operation_class, actor))
    if not spends and then is None:
        return None, None
    try:
        # Every budget of the request in one round trip.
        refused, throttle = await runtime.limiter.spend(
            [spend for _, spend in spends], budgets.window_s, then
        )
    except LimiterUnavailable as error:
        log.warning("rate limiter unavailable", extra={"error": str(error)})
        if any(operation_class in budgets.fail_closed for operation_class, _ in spends):
            # An outage, not the caller's excess: the error boundary answers 503.
            outage = ServiceUnavailable("redis", _LIMITER_RETRY_AFTER_S)
            failure = GraphQLError(outage.client_message, original_error=outage)
            return ExecutionResult(data=None, errors=[failure]), None
        return None, None  # fail open: cost bounds load, it guards no secret
    if refused is None:
        return None, throttle
    index, wait = refused
    operation_class = spends[index][0]
    RATE_LIMIT_REFUSALS.labels(operation_class.value).inc()
    return _refuse(
        context,
        429,
        f"Too many {operation_class.value} requests; retry in {wait} seconds.",
        {"code": RATE_LIMITED, "retryAfter": wait},
        wait,
    ), None


def _shed_heavy_read(
    context: Any,
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    document: DocumentNode,
    variables: dict[str, Any] | None,
) -> ExecutionResult | None:
    """The 503 for a query over the heavy-read cost arriving while the process is saturated
    (the edge marked it, bff/edge/load_shedding.py), before anything runs; else None."""
    request = getattr(context, "request", None)
    heavy_cost = getattr(request.state, SATURATED, None) if request is not None else None
    if heavy_cost is None or operation.operation is not OperationType.QUERY:
        return None
    if requested_cost(schema, document, operation, variables) <= heavy_cost:
        return None
    REQUESTS_SHED.labels("heavy_read").inc()
    return _refuse(
        context,
        503,
        "The server is overloaded; retry this query shortly.",
        {"code": OVERLOADED, "retryAfter": RETRY_AFTER_S},
        RETRY_AFTER_S,
    )


def _refuse(
    context: Any, status: int, message: str, extensions: dict[str, Any], wait: int | None = None
) -> ExecutionResult:
    if context.response is not None:
        context.response.status_code = status
        if wait is not None:
            context.response.headers["retry-after"] = str(wait)
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


def _attempts(operation: OperationDefinitionNode) -> list[tuple[OperationClass, int]]:
    """The attempts a mutation makes, per class: one per root field (aliases count)."""
    if operation.operation is not OperationType.MUTATION:
        return []
    roots = [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    counts = {
        OperationClass.LOGIN: sum(name in _LOGIN_FIELDS for name in roots),
        OperationClass.MONEY: sum(name in _MONEY_FIELDS for name in roots),
    }
    counts[OperationClass.MUTATION] = len(roots) - sum(counts.values())
    return [(kind, count) for kind, count in counts.items() if count]
