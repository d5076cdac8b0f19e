"""The cost directives of the IBM GraphQL Cost Directives specification
(https://ibm.github.io/graphql-specs/cost-spec.html), as the schema declares and applies them:
the SDL is where the weights and list sizes of the static query cost (bff/api/cost.py) live, so
that clients see what a field costs before they send it.

Applied only where this server departs from the specification's defaults (a field returning an
object costs 1, a scalar or enum 0; a list without `@listSize` has no bound)."""

from __future__ import annotations

import strawberry
from graphql import GraphQLSchema
from strawberry import UNSET
from strawberry.schema_directive import Location

# Strawberry builds a schema directive's arguments without descriptions (its `directive_field`
# takes none): `describe_arguments` gives them theirs once the schema is built.
_ARGUMENTS = {
    "cost": {
        "weight": "What one appearance of this element adds to a document's cost: a serialized "
        "float, rounded to an integer by this server.",
    },
    "listSize": {
        "assumedSize": "The most items the list holds when no slicing argument sizes it.",
        "slicingArguments": "The field's arguments whose value bounds the list's length (the "
        "largest one given counts; an argument's default counts as given).",
        "sizedFields": "The fields of the returned object that hold the sized list (a "
        "connection's `edges`), when the field returns an object rather than a list.",
        "requireOneSlicingArgument": "Whether a document must give exactly one slicing argument "
        "(one with a default counts as given).",
    },
}


@strawberry.schema_directive(
    name="cost",
    description="The weight of a field, argument, input field or type in a document's static "
    "query cost (IBM GraphQL Cost Directives). Without it, a field returning an object costs 1 "
    "and one returning a scalar or enum 0.",
    locations=[
        Location.ARGUMENT_DEFINITION,
        Location.ENUM,
        Location.FIELD_DEFINITION,
        Location.INPUT_FIELD_DEFINITION,
        Location.OBJECT,
        Location.SCALAR,
    ],
)
class Cost:
    weight: str


@strawberry.schema_directive(
    name="listSize",
    description="How many items a list field returns at most, for the static query cost (IBM "
    "GraphQL Cost Directives): a fixed size, or the value of a slicing argument.",
    locations=[Location.FIELD_DEFINITION],
)
class ListSize:
    # UNSET: the argument has no default, as the specification defines it (not `= null`).
    assumed_size: int | None = UNSET
    slicing_arguments: list[str] | None = UNSET
    sized_fields: list[str] | None = UNSET
    require_one_slicing_argument: bool | None = True


def describe_arguments(schema: GraphQLSchema) -> None:
    """Give the arguments of the cost directives of `schema` their descriptions."""
    for directive in schema.directives:
        for name, argument in directive.args.items():
            argument.description = _ARGUMENTS.get(directive.name, {}).get(
                name, argument.description
            )


# Relay's plumbing: a page's edges and page info cost nothing of their own (their items do).
FREE = Cost(weight="0")
# A mutation's root field: a write, dearer than a read of the same shape.
WRITE = Cost(weight="10")
# A list with no slicing argument: the most items the server returns for it.
# (UNSET: the SDL shows only what differs from the directive's defaults.)
SMALL_LIST = ListSize(assumed_size=10, require_one_slicing_argument=UNSET)
# A connection field: `first` bounds its `edges`.
CONNECTION = ListSize(
    slicing_arguments=["first"], sized_fields=["edges"], require_one_slicing_argument=UNSET
)
