"""A compiled query's way through the request, in place of Strawberry's per-request pipeline:
the same rate limits, response cache and error boundary, called directly; and a refused
document's answer, charged and classified as Strawberry's pipeline would, without it."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLSchema
from graphql.execution.values import VariableValues

from bff.api.compiled.nodes import Plan, execute_plan
from bff.api.errors import classify
from bff.api.rate_limits import charge_refusal, cost_extensions, spend_budgets
from bff.api.response_caching import cache_key, cached_data, store


async def run_compiled(
    plan: Plan,
    variables: VariableValues,
    context: Any,
    query: str,
    operation_name: str | None,
    raw_variables: dict[str, Any] | None,
    release: str,
) -> ExecutionResult:
    """The operation's result, with every error classified as the error boundary does."""
    # As Strawberry names it: the request's name, else the document's only operation's.
    name = operation_name or (plan.operation.name.value if plan.operation.name else None)
    if name:
        context.request.state.operation_name = name
    spent = None
    try:
        result, spent = await spend_budgets(
            context, plan.schema, plan.operation, plan.document, variables.coerced
        )
        if result is None:
            key = cache_key(context, release, query, operation_name, raw_variables)
            cached = None if key is None else await cached_data(context, key)
            if cached is not None:
                result = ExecutionResult(data=cached)
            else:
                result = await execute_plan(plan, context, variables)
                if key is not None:
                    await store(context, key, result)
    except Exception as error:
        result = ExecutionResult(None, [GraphQLError(str(error), original_error=error)])
    if result.errors:
        result.errors = [classify(error, context) for error in result.errors]
    extensions = cost_extensions(spent, plan.schema, plan.operation, plan.document, result.data)
    result.extensions = extensions or None
    return result


async def refused_result(
    refusal: GraphQLError, context: Any, schema: GraphQLSchema
) -> ExecutionResult:
    """The answer to a document the gate refused: the refusal's small charge, its error
    classified, nothing run."""
    spent = await charge_refusal(context)
    extensions = cost_extensions(spent, schema, None, None, None) or None
    return ExecutionResult(None, [classify(refusal, context)], extensions)
