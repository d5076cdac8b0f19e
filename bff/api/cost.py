"""The static cost of a GraphQL operation, before it runs: a pure function of the schema, the
(validated) document and the variables, after the IBM GraphQL Cost Directives specification
(https://ibm.github.io/graphql-specs/cost-spec.html) and Shopify's calculated query cost.

The weights and list sizes are the schema's own `@cost` and `@listSize` directives (schema/cost.py
declares and applies them), read once per schema into a `CostModel`: the SDL is the one place
that says what a field costs, for clients and for this server alike.

- A field costs its `@cost(weight:)`, else that of the type it returns, else the specification's
  default: 1 when it returns an object, interface or union, 0 for a scalar or enum. The
  arguments a document gives add their own `@cost`; a field never costs less than 0.
- `@listSize` bounds a list: the largest slicing argument given (its schema default counts as
  given), else `assumedSize`; with `sizedFields`, the size applies to those fields of the
  returned object (a connection's `edges`) rather than to the field itself. A list's size
  multiplies what each of its items costs. Building the model refuses a schema with a list of
  objects that nothing sizes, so every cost is bounded.
- A fragment is costed once per way it is used (memoised), never expanded; `@skip`/`@include`
  are not evaluated, so the cost is an upper bound.

`requested_cost` is what the bucket is charged before execution; `actual_cost` walks the data
that was returned, for `extensions.cost.actualQueryCost`.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)
from strawberry import UNSET

# Introspection's meta-fields are not in the SDL, so no directive can weigh them: priced here as
# a heavy read, whatever they select (introspection is off in production).
INTROSPECTION_COST = 100


@dataclass(frozen=True, slots=True)
class ListSize:
    """A field's `@listSize`."""

    assumed_size: int | None
    slicing_arguments: tuple[str, ...]
    sized_fields: frozenset[str]


@dataclass(frozen=True, slots=True)
class FieldCost:
    """What the directives say of one field: its weight, its arguments' and its list size."""

    weight: int
    argument_weights: Mapping[str, int]
    list_size: ListSize | None
    is_list: bool


@dataclass(frozen=True, slots=True)
class CostModel:
    """Every field's `FieldCost`, by parent type and field name."""

    fields: Mapping[tuple[str, str], FieldCost]

    @classmethod
    def of(cls, schema: GraphQLSchema) -> CostModel:
        """Read the cost directives of `schema`; ValueError when a directive is where this model
        does not price it, or when a list of objects has no size."""
        fields = {
            (parent.name, name): _field_cost(parent, name, field)
            for parent in _output_types(schema)
            for name, field in parent.fields.items()
        }
        for parent in schema.type_map.values():
            if isinstance(parent, GraphQLInputObjectType) and not parent.name.startswith("__"):
                for name, field in parent.fields.items():
                    if _directive(field.extensions, "cost") is not None:
                        raise ValueError(
                            f"@cost on the input field {parent.name}.{name} is not priced"
                        )
        _check_sized(schema, fields)
        return cls(fields)


_MODELS: weakref.WeakKeyDictionary[GraphQLSchema, CostModel] = weakref.WeakKeyDictionary()


def cost_model(schema: GraphQLSchema) -> CostModel:
    """The `CostModel` of `schema`, read on first use and kept as long as the schema lives."""
    model = _MODELS.get(schema)
    if model is None:
        model = _MODELS[schema] = CostModel.of(schema)
    return model


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
    return costing.returned(operation.selection_set, root, data)


def _output_types(schema: GraphQLSchema) -> Iterable[GraphQLObjectType | GraphQLInterfaceType]:
    for named in schema.type_map.values():
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) and named.name[:2] != "__":
            yield named


def _directive(extensions: Mapping[str, Any] | None, name: str) -> Any:
    """The schema directive `name` applied to the Strawberry definition behind `extensions`."""
    definition = (extensions or {}).get("strawberry-definition")
    return next((d for d in getattr(definition, "directives", None) or () if _is(d, name)), None)


def _weight(directive: Any) -> int:
    """A `@cost` weight: the spec's serialized float, as the integer points the buckets hold."""
    return round(float(directive.weight))


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _field_cost(
    parent: GraphQLObjectType | GraphQLInterfaceType, name: str, field: GraphQLField
) -> FieldCost:
    named = get_named_type(field.type)
    own = _directive(field.extensions, "cost")
    typed = _directive(named.extensions, "cost")
    if own is not None:
        weight = _weight(own)
    elif typed is not None:
        weight = _weight(typed)
    else:
        weight = 1 if is_composite_type(named) else 0
    definition = (field.extensions or {}).get("strawberry-definition")
    argument_weights = {
        argument_name: _weight(directive)
        for argument_name, argument in field.args.items()
        if (directive := _argument_cost(definition, argument_name)) is not None
    }
    sizing = _directive(field.extensions, "listSize")
    list_size = None
    if sizing is not None:
        slicing = tuple(_given(sizing.slicing_arguments) or ())
        unknown = [argument for argument in slicing if argument not in field.args]
        if unknown:
            raise ValueError(f"@listSize of {parent.name}.{name} slices by unknown {unknown}")
        list_size = ListSize(
            _given(sizing.assumed_size), slicing, frozenset(_given(sizing.sized_fields) or ())
        )
    return FieldCost(
        weight, argument_weights, list_size, is_list_type(get_nullable_type(field.type))
    )


def _argument_cost(definition: Any, name: str) -> Any:
    for argument in getattr(definition, "arguments", None) or ():
        if argument.python_name == name or argument.graphql_name == name:
            meta = [d for d in argument.directives if _is(d, "cost")]
            return meta[0] if meta else None
    return None


def _is(directive: Any, name: str) -> bool:
    meta = getattr(type(directive), "__strawberry_directive__", None)
    return meta is not None and meta.graphql_name == name


def _check_sized(schema: GraphQLSchema, fields: Mapping[tuple[str, str], FieldCost]) -> None:
    """Every list of objects has a size: its own `@listSize` (a fixed size, or a slicing argument
    with a schema default), or it is a sized field of every field returning its parent."""
    sized_by: dict[str, list[frozenset[str]]] = {}
    for parent in _output_types(schema):
        for name, field in parent.fields.items():
            cost = fields[(parent.name, name)]
            named = get_named_type(field.type).name
            bounded = cost.list_size is not None and _bounded(field, cost)
            sized = cost.list_size.sized_fields if cost.list_size and bounded else frozenset()
            sized_by.setdefault(named, []).append(sized)
    for parent in _output_types(schema):
        for name, field in parent.fields.items():
            cost = fields[(parent.name, name)]
            if not cost.is_list or not is_composite_type(get_named_type(field.type)):
                continue
            if cost.list_size is not None and not cost.list_size.sized_fields:
                if _bounded(field, cost):
                    continue
            elif all(name in sized for sized in sized_by.get(parent.name, [frozenset()])):
                continue
            raise ValueError(f"The list {parent.name}.{name} has no @listSize that bounds it")


def _bounded(field: GraphQLField, cost: FieldCost) -> bool:
    """Whether `field`'s `@listSize` gives a size to every document."""
    size = cost.list_size
    if size is None:
        return False
    defaults = [field.args[argument].default_value for argument in size.slicing_arguments]
    return size.assumed_size is not None or any(isinstance(d, int) for d in defaults)


# How many items an enclosing field's `@listSize` gives to which of its children (`sizedFields`).
_Sized = tuple[int, frozenset[str]] | None


class _Costing:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.model = cost_model(schema)
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.memo: dict[tuple[str, _Sized], int] = {}

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        return self.selection_set(operation.selection_set, root, None)

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, sized: _Sized
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, sized)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, inner or parent, sized)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                total += self.fragment(selection.name.value, sized)
        return total

    def fragment(self, name: str, sized: _Sized) -> int:
        key = (name, sized)
        if key not in self.memo:
            definition = self.fragments[name]
            condition = self.schema.get_type(definition.type_condition.name.value)
            assert condition is not None
            self.memo[key] = self.selection_set(definition.selection_set, condition, sized)
        return self.memo[key]

    def field(self, node: FieldNode, parent: GraphQLNamedType, sized: _Sized) -> int:
        name = node.name.value
        if name in ("__schema", "__type"):
            return INTROSPECTION_COST
        field = _field_of(parent, name)
        if field is None:  # __typename
            return 0
        cost = self.model.fields[(parent.name, name)]
        multiplier, inner_sized = 1, None
        size = self._size(node, field, cost.list_size)
        if sized is not None and name in sized[1]:
            multiplier = sized[0]
        elif size is not None and cost.list_size is not None and cost.list_size.sized_fields:
            inner_sized = (size, cost.list_size.sized_fields)
        elif size is not None and cost.is_list:
            multiplier = size
        children = (
            self.selection_set(node.selection_set, get_named_type(field.type), inner_sized)
            if node.selection_set
            else 0
        )
        return multiplier * (_weight_of(node, cost) + children)

    def _size(self, node: FieldNode, field: GraphQLField, list_size: ListSize | None) -> int | None:
        """The largest slicing argument given (or defaulted), else the assumed size."""
        if list_size is None:
            return None
        slices = []
        for name in list_size.slicing_arguments:
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value: Any = field.args[name].default_value
            if isinstance(given, IntValueNode):
                value = int(given.value)
            elif isinstance(given, VariableNode):
                value = self.variables.get(given.name.value, value)
            if isinstance(value, int) and not isinstance(value, bool):
                slices.append(max(0, value))
        return max(slices) if slices else list_size.assumed_size

    def returned(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, value: Mapping[str, Any]
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
                weight = _weight_of(
                    selection, self.model.fields[(parent.name, selection.name.value)]
                )
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


def _weight_of(node: FieldNode, cost: FieldCost) -> int:
    """A field's weight with those of the arguments `node` gives; never below 0."""
    given = sum(
        cost.argument_weights.get(argument.name.value, 0) for argument in node.arguments or ()
    )
    return max(0, cost.weight + given)


def _field_of(parent: GraphQLNamedType, name: str) -> GraphQLField | None:
    fields = getattr(parent, "fields", None)
    return fields.get(name) if fields is not None else None
