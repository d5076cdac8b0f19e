"""The static cost of a GraphQL operation, before it runs: a pure function of the schema, the
(validated) document and the variables, after the IBM GraphQL cost directive specification and
Shopify's calculated query cost.

- A field costs its `@cost(weight:)` when the schema gives one; otherwise 1 when it returns an
  object, interface or union, 0 for a scalar or enum, and 10 for a mutation's root field.
  Relay's plumbing (`edges`, `pageInfo`: edge and page-info types) costs nothing of its own.
- A field sliced by `first` or `last` (the argument's value, or its default in the schema)
  multiplies what its items cost: a connection's `edges`/`nodes`, or the list itself. Other lists
  are assumed to hold `ASSUMED_LIST_SIZE` items.
- A fragment is costed once per way it is used (memoised), never expanded; `@skip`/`@include`
  are not evaluated, so the cost is an upper bound.

`requested_cost` is what the bucket is charged before execution; `actual_cost` walks the data
that was returned, for `extensions.cost.actualQueryCost`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)

ASSUMED_LIST_SIZE = 10
MUTATION_WEIGHT = 10
# Introspection is priced as a heavy read, whatever it selects (it is off in production).
INTROSPECTION_COST = 100
_SLICING_ARGUMENTS = ("first", "last")
_SIZED_FIELDS = ("edges", "nodes")


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
) -> int:
    """The most `operation` of `document` can cost with `variables` (document validated)."""
    return _Costing(schema, document, variables or {}).operation(operation)


def actual_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    data: Mapping[str, Any] | None,
) -> int:
    """What `operation` cost given the `data` it returned: lists as long as they came back."""
    costing = _Costing(schema, document, {})
    root = schema.get_root_type(operation.operation)
    if root is None or data is None:
        return 0
    return costing.returned(operation.selection_set, root, data, operation.operation)


def field_weight(field: GraphQLField, root_of: OperationType | None) -> int:
    """A field's own weight: its `@cost` directive, else the defaults above."""
    definition = (field.extensions or {}).get("strawberry-definition")
    for directive in getattr(definition, "directives", None) or ():
        meta = getattr(type(directive), "__strawberry_directive__", None)
        if meta is not None and meta.graphql_name == "cost":
            return int(directive.weight)
    if root_of is OperationType.MUTATION:
        return MUTATION_WEIGHT
    named = get_named_type(field.type)
    if named.name.endswith("Edge") or named.name == "PageInfo":
        return 0
    return 1 if is_composite_type(named) else 0


class _Costing:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, int | None], int] = {}

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self.selection_set(operation.selection_set, root, None, operation.operation)

    def selection_set(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        sized: int | None,
        root_of: OperationType | None = None,
    ) -> int:
        """`sized`: how many items the enclosing connection asked for (its `edges` hold them)."""
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, sized, root_of)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, inner or parent, sized)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                total += self.fragment(selection.name.value, sized)
        return total

    def fragment(self, name: str, sized: int | None) -> int:
        key = (name, sized)
        if key not in self.memo:
            definition = self.fragments[name]
            condition = self.schema.get_type(definition.type_condition.name.value)
            assert condition is not None
            self.memo[key] = self.selection_set(definition.selection_set, condition, sized)
        return self.memo[key]

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        sized: int | None,
        root_of: OperationType | None,
    ) -> int:
        name = node.name.value
        if name in ("__schema", "__type"):
            return INTROSPECTION_COST
        field = _field_of(parent, name)
        if field is None:  # __typename
            return 0
        weight = field_weight(field, root_of)
        named = get_named_type(field.type)
        multiplier, inner_sized = 1, None
        slice_size = self._slice(node, field)
        if slice_size is not None and isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            if any(sized_field in named.fields for sized_field in _SIZED_FIELDS):
                inner_sized = slice_size  # a connection: its edges hold the items
            else:
                multiplier = slice_size
        elif is_list_type(get_nullable_type(field.type)):
            multiplier = sized if sized is not None and name in _SIZED_FIELDS else ASSUMED_LIST_SIZE
        children = (
            self.selection_set(node.selection_set, named, inner_sized) if node.selection_set else 0
        )
        return multiplier * (weight + children)

    def _slice(self, node: FieldNode, field: GraphQLField) -> int | None:
        for name in _SLICING_ARGUMENTS:
            definition = field.args.get(name)
            if definition is None:
                continue
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value: Any = definition.default_value
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                value = self.variables.get(given.name.value, value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, value)
        return None

    def returned(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        value: Mapping[str, Any],
        root_of: OperationType | None = None,
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                field = _field_of(parent, selection.name.value)
                if field is None:
                    continue
                key = selection.alias.value if selection.alias else selection.name.value
                found = value.get(key)
                items = found if isinstance(found, list) else [found]
                weight = field_weight(field, root_of)
                named = get_named_type(field.type)
                for item in items:
                    if item is None:
                        continue
                    total += weight
                    if selection.selection_set is not None and isinstance(item, Mapping):
                        total += self.returned(selection.selection_set, named, item)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.returned(selection.selection_set, inner or parent, value)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                definition = self.fragments[selection.name.value]
                inner = self.schema.get_type(definition.type_condition.name.value)
                total += self.returned(definition.selection_set, inner or parent, value)
        return total


def _field_of(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    fields = getattr(parent, "fields", None)
    return fields.get(name) if fields is not None else None
