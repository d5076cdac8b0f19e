"""The compiled plan's nodes and how each runs: the structure of graphql-core's executor
(`graphql.execution.executor`), specialised. Sibling awaitables are gathered exactly where
graphql-core gathers them (one awaited directly, two or more with `gather_with_cancel`), so
resolvers run, and fail, in the same event-loop turns and errors come out in the same order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    is_non_null_type,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.executor import (
    CollectedErrors,
    default_type_resolver,
    invalid_return_type_error,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path, gather_with_cancel, inspect, is_awaitable, is_iterable
from graphql.pyutils.undefined import Undefined
from graphql.type import GraphQLLeafType


class Run:
    """One request's execution of a plan."""

    __slots__ = ("context", "errors", "plan", "variables")

    def __init__(self, plan: Plan, context: Any, variables: VariableValues) -> None:
        self.plan = plan
        self.context = context
        self.variables = variables
        self.errors = CollectedErrors()

    def field_error(self, raw: Exception, field: FieldPlan, type_: Any, path: Path) -> None:
        error = located_error(raw, field.nodes, path.as_list())
        if is_non_null_type(type_):
            raise error
        self.errors.add(error, path)


class Info:
    """What a resolver may read of `info`: the request's context and where the field is."""

    __slots__ = ("_field", "_run", "path")

    def __init__(self, run: Run, field: FieldPlan, path: Path) -> None:
        self._run = run
        self._field = field
        self.path = path

    @property
    def context(self) -> Any:
        return self._run.context

    @property
    def field_name(self) -> str:
        return self._field.field_name

    @property
    def field_nodes(self) -> list[FieldNode]:
        return self._field.nodes

    @property
    def parent_type(self) -> GraphQLObjectType:
        return self._field.parent

    @property
    def return_type(self) -> GraphQLOutputType:
        return self._field.return_type

    @property
    def schema(self) -> GraphQLSchema:
        return self._run.plan.schema

    @property
    def operation(self) -> OperationDefinitionNode:
        return self._run.plan.operation

    @property
    def variable_values(self) -> dict[str, Any]:
        return self._run.variables.coerced


class Completer:
    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        raise NotImplementedError


class FieldPlan:
    """One response key of a selection set: how to resolve it and complete its value."""

    __slots__ = (
        "argument_names",
        "arguments",
        "attribute",
        "call",
        "completer",
        "constant",
        "definition",
        "details",
        "field_name",
        "info_name",
        "nodes",
        "parent",
        "passes_self",
        "response_name",
        "return_type",
    )

    def __init__(
        self,
        response_name: str,
        nodes: list[FieldNode],
        details: FieldDetailsList,
        parent: GraphQLObjectType,
        field_name: str,
        return_type: GraphQLOutputType,
        completer: Completer,
        constant: Any = None,
    ) -> None:
        self.response_name = response_name
        self.nodes = nodes
        self.details = details
        self.parent = parent
        self.field_name = field_name
        self.return_type = return_type
        self.completer = completer
        self.constant = constant
        self.attribute: str | None = None
        self.call: Any = None
        self.passes_self = False
        self.info_name: str | None = None
        self.arguments: dict[str, Any] | None = None  # None: read from variables per request
        self.argument_names: dict[str, str] = {}
        self.definition: Any = None

    def resolve(self, run: Run, source: Any, path: Path) -> Any:
        if self.attribute is not None:
            return getattr(source, self.attribute)
        if self.call is None:
            return self.constant
        kwargs = self.arguments
        if kwargs is None:
            raw = get_argument_values(self.definition, self.nodes[0], run.variables)
            kwargs = {self.argument_names[k]: v for k, v in raw.items()}
        else:
            kwargs = dict(kwargs)
        if self.info_name is not None:
            kwargs[self.info_name] = Info(run, self, path)
        return self.call(source, **kwargs) if self.passes_self else self.call(**kwargs)

    def execute(self, run: Run, source: Any, parent_path: Path | None) -> Any:
        path = Path(parent_path, self.response_name, self.parent.name)
        try:
            result = self.resolve(run, source, path)
            if is_awaitable(result):
                return self._complete_awaitable(run, path, result)
            completed = self.completer.complete(run, self, path, result)
            if is_awaitable(completed):
                return self._await_completed(run, path, completed)
        except Exception as raw:
            run.field_error(raw, self, self.return_type, path)
            return None
        return completed

    async def _complete_awaitable(self, run: Run, path: Path, result: Awaitable[Any]) -> Any:
        try:
            completed = self.completer.complete(run, self, path, await result)
            if is_awaitable(completed):
                completed = await completed
        except Exception as raw:
            run.field_error(raw, self, self.return_type, path)
            completed = None
        return completed

    async def _await_completed(self, run: Run, path: Path, completed: Awaitable[Any]) -> Any:
        try:
            return await completed
        except Exception as raw:
            run.field_error(raw, self, self.return_type, path)
            return None


def execute_fields(
    run: Run, fields: list[FieldPlan], source: Any, path: Path | None
) -> dict[str, Any] | Awaitable[dict[str, Any]]:
    results: dict[str, Any] = {}
    pending: list[str] = []
    try:
        for field in fields:
            result = field.execute(run, source, path)
            results[field.response_name] = result
            if is_awaitable(result):
                pending.append(field.response_name)
    except Exception:
        if pending:
            _settle_in_background([results[name] for name in pending])
        raise
    if not pending:
        return results
    return _gather_fields(results, pending)


async def _gather_fields(results: dict[str, Any], pending: list[str]) -> dict[str, Any]:
    if len(pending) == 1:
        results[pending[0]] = await results[pending[0]]
    else:
        awaited = await gather_with_cancel(*(results[name] for name in pending))
        results.update(zip(pending, awaited, strict=True))
    return results


_background: set[Any] = set()


def _settle_in_background(awaitables: list[Any]) -> None:
    """Let what siblings started finish (graphql-core's `settle_in_background`); their
    errors are under a nulled position and dropped."""
    future = asyncio.gather(*awaitables, return_exceptions=True)
    _background.add(future)
    future.add_done_callback(_background.discard)


class NonNullCompleter(Completer):
    __slots__ = ("inner",)

    def __init__(self, inner: Completer) -> None:
        self.inner = inner

    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        completed = self.inner.complete(run, field, path, result)
        if completed is None:
            msg = f"Cannot return null for non-nullable field {field.parent}.{field.field_name}."
            raise TypeError(msg)
        return completed


class LeafCompleter(Completer):
    __slots__ = ("coerce", "type_")

    def __init__(self, type_: GraphQLLeafType) -> None:
        self.type_ = type_
        self.coerce = type_.coerce_output_value

    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        coerced = self.coerce(result)
        if coerced is Undefined or coerced is None:
            msg = (
                f"Expected `{inspect(self.type_)}.coerce_output_value("
                f"{inspect(result)})` to return non-nullable value, returned:"
                f" {inspect(coerced)}"
            )
            raise TypeError(msg)
        return coerced


class ListCompleter(Completer):
    __slots__ = ("item", "item_type")

    def __init__(self, item: Completer, item_type: GraphQLOutputType) -> None:
        self.item = item
        self.item_type = item_type

    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        if not is_iterable(result):
            msg = (
                "Expected Iterable, but did not find one for field"
                f" '{field.parent}.{field.field_name}'."
            )
            raise GraphQLError(msg)
        item_completer = self.item
        completed: list[Any] = []
        pending: list[int] = []
        iterator = iter(result)
        index = 0
        try:
            for item in iterator:
                item_path = path.add_key(index, None)
                if is_awaitable(item):
                    completed.append(self._awaitable_item(run, field, item_path, item))
                    pending.append(index)
                else:
                    try:
                        value = item_completer.complete(run, field, item_path, item)
                        if is_awaitable(value):
                            completed.append(self._await_item(run, field, item_path, value))
                            pending.append(index)
                        else:
                            completed.append(value)
                    except Exception as raw:
                        run.field_error(raw, field, self.item_type, item_path)
                        completed.append(None)
                index += 1
        except Exception:
            if pending:
                _settle_in_background([completed[i] for i in pending])
            raise
        if not pending:
            return completed
        return _gather_items(completed, pending)

    async def _awaitable_item(self, run: Run, field: FieldPlan, path: Path, item: Any) -> Any:
        try:
            value = self.item.complete(run, field, path, await item)
            if is_awaitable(value):
                value = await value
        except Exception as raw:
            run.field_error(raw, field, self.item_type, path)
            return None
        return value

    async def _await_item(self, run: Run, field: FieldPlan, path: Path, value: Any) -> Any:
        try:
            return await value
        except Exception as raw:
            run.field_error(raw, field, self.item_type, path)
            return None


async def _gather_items(completed: list[Any], pending: list[int]) -> list[Any]:
    if len(pending) == 1:
        completed[pending[0]] = await completed[pending[0]]
    else:
        awaited = await gather_with_cancel(*(completed[i] for i in pending))
        for index, value in zip(pending, awaited, strict=True):
            completed[index] = value
    return completed


class ObjectCompleter(Completer):
    __slots__ = ("fields", "is_type_of", "type_")

    def __init__(self, type_: GraphQLObjectType, fields: list[FieldPlan]) -> None:
        self.type_ = type_
        self.fields = fields
        self.is_type_of = type_.is_type_of

    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        return self.complete_object(run, field, path, result)

    def complete_object(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if self.is_type_of is not None:
            matches = self.is_type_of(result, Info(run, field, path))  # type: ignore[arg-type]
            if is_awaitable(matches):
                return self._check_then_execute(run, field, path, result, matches)
            if not matches:
                raise invalid_return_type_error(self.type_, result, field.details)
        return execute_fields(run, self.fields, result, path)

    async def _check_then_execute(
        self, run: Run, field: FieldPlan, path: Path, result: Any, matches: Awaitable[bool]
    ) -> Any:
        if not await matches:
            raise invalid_return_type_error(self.type_, result, field.details)
        fields = execute_fields(run, self.fields, result, path)
        return await fields if is_awaitable(fields) else fields


class AbstractCompleter(Completer):
    __slots__ = ("by_name", "type_")

    def __init__(self, type_: Any, by_name: dict[str, ObjectCompleter]) -> None:
        self.type_ = type_
        self.by_name = by_name

    def complete(self, run: Run, field: FieldPlan, path: Path, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        if result is None or result is Undefined:
            return None
        resolve_type = self.type_.resolve_type or default_type_resolver
        runtime = resolve_type(result, Info(run, field, path), self.type_)  # type: ignore[arg-type]
        if is_awaitable(runtime):
            return self._await_type(run, field, path, result, runtime)
        return self._object(run, runtime, field, result).complete_object(run, field, path, result)

    async def _await_type(
        self, run: Run, field: FieldPlan, path: Path, result: Any, runtime: Awaitable[Any]
    ) -> Any:
        completer = self._object(run, await runtime, field, result)
        value = completer.complete_object(run, field, path, result)
        return await value if is_awaitable(value) else value

    def _object(self, run: Run, name: Any, field: FieldPlan, result: Any) -> ObjectCompleter:
        completer = self.by_name.get(name) if isinstance(name, str) else None
        if completer is not None:
            return completer
        # graphql-core's checks and messages (Executor.ensure_valid_runtime_type).
        abstract, nodes, where = self.type_, field.nodes, f"{field.parent}.{field.field_name}"
        if name is None:
            msg = (
                f"Abstract type '{abstract}' must resolve to an Object type at runtime"
                f" for field '{where}'. Either the '{abstract}' type should provide"
                " a 'resolve_type' function or each possible type should provide"
                " an 'is_type_of' function."
            )
        elif not isinstance(name, str):
            msg = (
                f"Abstract type '{abstract}' must resolve to an Object type at runtime"
                f" for field '{where}' with value {inspect(result)}, received"
                f" '{inspect(name)}', which is not a valid Object type name."
            )
        else:
            runtime = run.plan.schema.get_type(name)
            if runtime is None:
                msg = (
                    f"Abstract type '{abstract}' was resolved to a type"
                    f" '{name}' that does not exist inside the schema."
                )
            elif not isinstance(runtime, GraphQLObjectType):
                msg = f"Abstract type '{abstract}' was resolved to a non-object type '{name}'."
            else:
                msg = f"Runtime Object type '{runtime}' is not a possible type for '{abstract}'."
        raise GraphQLError(msg, nodes)


class Plan:
    """A compiled query operation."""

    __slots__ = ("document", "fields", "operation", "root_name", "schema")

    def __init__(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        root_name: str,
        fields: list[FieldPlan],
        schema: GraphQLSchema,
    ) -> None:
        self.document = document
        self.operation = operation
        self.root_name = root_name
        self.fields = fields
        self.schema = schema


async def execute_plan(
    plan: Plan, context: Any, variables: VariableValues, root: Any = None
) -> ExecutionResult:
    """Run `plan` for one request: graphql-core's result for the same document and input."""
    run = Run(plan, context, variables)
    data: dict[str, Any] | None
    try:
        result = execute_fields(run, plan.fields, root, None)
        data = await result if is_awaitable(result) else result  # type: ignore[assignment]
    except GraphQLError as error:
        run.errors.add(error, None)
        data = None
    return ExecutionResult(data, run.errors.errors or None)
