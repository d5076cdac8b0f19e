"""Applies the rate limits to every GraphQL operation, before it executes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension

from bff.api.operation_name import selected_operation
from bff.domain.errors import ServiceUnavailable
from bff.metrics.families import GRAPHQL_COST, RATE_LIMIT_REFUSALS
from bff.ratelimit import LimiterUnavailable, OperationClass, Spend

log = logging.getLogger("bff.ratelimit")

_LOGIN_FIELDS = frozenset({"signUp", "login", "refreshSession"})
_MONEY_FIELDS = frozenset({"createTransfer", "depositFunds"})
# The Redis client's circuit breaker tries again within seconds.
_LIMITER_RETRY_AFTER_S = 5


class RateLimits(SchemaExtension):
    async def on_execute(self) -> Any:  # an async generator hook
        operation = selected_operation(self.execution_context)
        if operation is not None:
            document = self.execution_context.graphql_document
            assert document is not None
            refusal = await spend_budgets(self.execution_context.context, operation, document)
            if refusal is not None:
                self.execution_context.result = refusal
        yield


async def spend_budgets(
    context: Any, operation: OperationDefinitionNode, document: DocumentNode
) -> ExecutionResult | None:
    """Spend what `operation` costs from the caller's budgets; the refusal when one is spent
    (429, or 503 when the limiter is down for a fail-closed class)."""
    runtime = getattr(context, "runtime", None)  # None when the schema runs outside HTTP/WS
    if runtime is None or runtime.limiter is None:
        return None
    budgets = runtime.settings.rate_limit_budgets
    spends: list[tuple[OperationClass, Spend]] = []
    for operation_class, weight in _spending(operation, _fragments(document)):
        GRAPHQL_COST.labels(operation_class.value).observe(weight)
        budget = budgets.per_class[operation_class]
        prefix = f"{operation_class.value}:"
        spends.append(
            (
                operation_class,
                Spend(f"{prefix}address:{context.client}", weight, budget * budgets.address_factor),
            )
        )
        if context.actor is not None:
            spends.append(
                (operation_class, Spend(f"{prefix}actor:{context.actor.user_id}", weight, budget))
            )
    if not spends:
        return None
    try:
        # Every budget of the request in one round trip.
        refused = await runtime.limiter.spend([spend for _, spend in spends], budgets.window_s)
    except LimiterUnavailable as error:
        log.warning("rate limiter unavailable", extra={"error": str(error)})
        if any(operation_class in budgets.fail_closed for operation_class, _ in spends):
            # An outage, not the caller's excess: the error boundary answers 503.
            outage = ServiceUnavailable("redis", _LIMITER_RETRY_AFTER_S)
            failure = GraphQLError(outage.client_message, original_error=outage)
            return ExecutionResult(data=None, errors=[failure])
        return None
    if refused is None:
        return None
    index, wait = refused
    return _refuse(context, spends[index][0], wait)


def _fragments(document: DocumentNode) -> dict[str, SelectionSetNode]:
    return {
        definition.name.value: definition.selection_set
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


def _refuse(context: Any, operation_class: OperationClass, wait: int) -> ExecutionResult:
    RATE_LIMIT_REFUSALS.labels(operation_class.value).inc()
    error = GraphQLError(
        f"Too many {operation_class.value} requests; retry in {wait} seconds.",
        extensions={"code": "RATE_LIMITED", "retryAfter": wait},
    )
    if context.response is not None:
        context.response.status_code = 429
        context.response.headers["retry-after"] = str(wait)
    return ExecutionResult(data=None, errors=[error])


def _spending(
    operation: OperationDefinitionNode, fragments: dict[str, SelectionSetNode]
) -> Iterator[tuple[OperationClass, int]]:
    """What an operation spends from which budget."""
    if operation.operation is OperationType.QUERY:
        yield OperationClass.QUERY, max(1, _field_count(operation.selection_set, fragments))
        return
    if operation.operation is not OperationType.MUTATION:
        return  # subscriptions are bounded per connection instead
    roots = [s.name.value for s in operation.selection_set.selections if isinstance(s, FieldNode)]
    counts = {
        OperationClass.LOGIN: sum(name in _LOGIN_FIELDS for name in roots),
        OperationClass.MONEY: sum(name in _MONEY_FIELDS for name in roots),
    }
    counts[OperationClass.MUTATION] = len(roots) - sum(counts.values())
    yield from ((kind, count) for kind, count in counts.items() if count)


def _field_count(
    selection_set: SelectionSetNode | None, fragments: dict[str, SelectionSetNode]
) -> int:
    """Fields selected, fragments expanded (validation has already refused fragment cycles)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += 1 + _field_count(selection.selection_set, fragments)
        elif isinstance(selection, InlineFragmentNode):
            total += _field_count(selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            total += _field_count(fragments.get(selection.name.value), fragments)
    return total
