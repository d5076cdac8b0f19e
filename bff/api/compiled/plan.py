"""Compile one operation of a validated document against a Strawberry schema into a tree of
field plans: which resolver each field calls (or which attribute it reads), its arguments when
they are constant, and how its value is completed. What the compiler does not support raises
`Unsupported`, and the caller runs the document on graphql-core instead."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    OperationType,
    VariableNode,
    is_abstract_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
    visit,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.language import Visitor
from graphql.type import TypeNameMetaFieldDef

from bff.api.compiled.nodes import (
    AbstractCompleter,
    Completer,
    FieldPlan,
    LeafCompleter,
    ListCompleter,
    NonNullCompleter,
    ObjectCompleter,
    Plan,
)

_BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
_SUPPORTED_DIRECTIVES = frozenset({"include", "skip"})
_DEFINITION = "strawberry-definition"


class Unsupported(Exception):
    """The document uses something the compiler does not handle."""


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    named = [o for o in operations if o.name is not None and o.name.value == name]
    return named[0] if len(named) == 1 else None


def condition_variables(operation: OperationDefinitionNode, document: DocumentNode) -> list[str]:
    """The variables @include/@skip read: a plan is compiled per assignment of them."""
    names: set[str] = set()

    class Directives(Visitor):
        def enter_directive(self, node: Any, *_: Any) -> None:
            if node.name.value not in _SUPPORTED_DIRECTIVES:
                raise Unsupported(f"directive @{node.name.value}")
            for argument in node.arguments:
                if isinstance(argument.value, VariableNode):
                    names.add(argument.value.name.value)

    visit(document, Directives())
    return sorted(names)


def compile_operation(
    schema: strawberry.Schema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variable_values: VariableValues,
    kind: OperationType = OperationType.QUERY,
) -> Plan:
    """The plan of an `operation` of `kind` (a query, or a subscription: its root field's
    resolver then makes the source stream); @include/@skip are decided with `variable_values`."""
    if operation.operation is not kind or kind is OperationType.MUTATION:
        raise Unsupported(f"only {kind.value} operations are compiled here")
    graphql_schema = schema._schema
    root = (
        graphql_schema.query_type
        if kind is OperationType.QUERY
        else graphql_schema.subscription_type
    )
    assert root is not None
    fragments = {
        d.name.value: FragmentDetails(d)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    if any(f.definition.variable_definitions for f in fragments.values()):
        raise Unsupported("fragment variables")
    compiler = _Compiler(schema, graphql_schema, fragments, variable_values, operation)
    grouped, defers, _ = collect_fields(graphql_schema, fragments, variable_values, root, operation)
    if defers:
        raise Unsupported("@defer")
    return Plan(
        document=document,
        operation=operation,
        root_name=root.name,
        fields=compiler.fields(root, grouped),
        schema=graphql_schema,
    )


class _Compiler:
    def __init__(
        self,
        schema: strawberry.Schema,
        graphql_schema: GraphQLSchema,
        fragments: dict[str, FragmentDetails],
        variable_values: VariableValues,
        operation: OperationDefinitionNode,
    ) -> None:
        self.schema = schema
        self.graphql_schema = graphql_schema
        self.fragments = fragments
        self.variable_values = variable_values
        self.operation = operation
        self.handlers = getattr(schema.schema_converter, "_get_field_exception_handlers", None)

    def fields(
        self, parent: GraphQLObjectType, grouped: dict[str, FieldDetailsList]
    ) -> list[FieldPlan]:
        plans = []
        for response_name, details in grouped.items():
            if any(d.defer_usage or d.fragment_variable_values for d in details):
                raise Unsupported("@defer or fragment variables")
            plan = self.field(parent, response_name, details)
            if plan is not None:
                plans.append(plan)
        return plans

    def field(
        self, parent: GraphQLObjectType, response_name: str, details: FieldDetailsList
    ) -> FieldPlan | None:
        node = details[0].node
        name = node.name.value
        if name in ("__schema", "__type"):
            raise Unsupported("introspection")
        nodes = [d.node for d in details]
        if name == "__typename":
            return FieldPlan(
                response_name,
                nodes,
                details,
                parent,
                name,
                TypeNameMetaFieldDef.type,
                self.completer(TypeNameMetaFieldDef.type, details),
                constant=parent.name,
            )
        definition = parent.fields.get(name)
        if definition is None:
            return None  # graphql-core skips unknown fields too (validation refused them)
        plan = FieldPlan(
            response_name,
            nodes,
            details,
            parent,
            name,
            definition.type,
            self.completer(definition.type, details),
        )
        self.resolver(plan, definition, node)
        return plan

    def resolver(self, plan: FieldPlan, definition: GraphQLField, node: FieldNode) -> None:
        field = (definition.extensions or {}).get(_DEFINITION)
        if field is None:
            raise Unsupported("a field Strawberry did not define")
        if field.extensions or (self.handlers is not None and self.handlers(field)):
            raise Unsupported("field extensions or exception handlers")
        resolver = field.base_resolver
        if resolver is None:
            if self.schema.config.default_resolver is not getattr:
                raise Unsupported("a custom default resolver")
            plan.attribute = field.python_name
            return
        if resolver.parent_parameter or resolver.root_parameter:
            raise Unsupported("root or parent parameters")
        plan.call = resolver.wrapped_func
        plan.passes_self = resolver.self_parameter is not None
        plan.info_name = resolver.info_parameter.name if resolver.info_parameter else None
        names = {}
        for argument in field.arguments:
            graphql_name = self.schema.config.name_converter.get_graphql_name(argument)
            if _named(definition.args[graphql_name].type) not in _BUILT_IN_SCALARS:
                raise Unsupported("arguments other than built-in scalars")
            names[graphql_name] = argument.python_name
        plan.argument_names = names
        if not definition.args:
            plan.arguments = {}
        elif _uses_variables(node):
            plan.definition = definition
        else:
            raw = get_argument_values(definition, node, self.variable_values)
            plan.arguments = {names[k]: v for k, v in raw.items()}

    def completer(self, type_: GraphQLOutputType, details: FieldDetailsList) -> Completer:
        if is_non_null_type(type_):
            assert isinstance(type_, GraphQLNonNull)
            return NonNullCompleter(self.completer(type_.of_type, details))
        if is_list_type(type_):
            assert isinstance(type_, GraphQLList)
            return ListCompleter(self.completer(type_.of_type, details), type_.of_type)
        if is_leaf_type(type_):
            return LeafCompleter(type_)
        if is_abstract_type(type_):
            assert isinstance(type_, GraphQLInterfaceType | GraphQLUnionType)
            possible = self.graphql_schema.get_possible_types(type_)
            return AbstractCompleter(type_, {t.name: self.object(t, details) for t in possible})
        if is_object_type(type_):
            assert isinstance(type_, GraphQLObjectType)
            return self.object(type_, details)
        raise Unsupported(f"output type {type_}")

    def object(self, type_: GraphQLObjectType, details: FieldDetailsList) -> ObjectCompleter:
        grouped, defers, _ = collect_subfields(
            self.graphql_schema,
            self.fragments,
            self.variable_values,
            self.operation,
            type_,
            details,
        )
        if defers:
            raise Unsupported("@defer")
        return ObjectCompleter(type_, self.fields(type_, grouped))


def _named(type_: Any) -> str:
    while hasattr(type_, "of_type"):
        type_ = type_.of_type
    return type_.name  # type: ignore[no-any-return]


def _uses_variables(node: FieldNode) -> bool:
    found = False

    class Variables(Visitor):
        def enter_variable(self, *_: Any) -> None:
            nonlocal found
            found = True

    for argument in node.arguments or ():
        visit(argument, Variables())
    return found


__all__ = [
    "Unsupported",
    "compile_operation",
    "condition_variables",
    "operation_of",
]
