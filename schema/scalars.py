"""Custom scalars: Python types used in annotations, mapped to GraphQL scalars by `SCALARS`."""

from __future__ import annotations

from typing import NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

Decimal = NewType("Decimal", str)


def _only_strings(value: object) -> Decimal:
    if not isinstance(value, str):
        # A GraphQLError (not a ValueError) so that literals and variables both report it as a
        # client error rather than a server failure.
        raise GraphQLError('Decimal values are strings such as "12.34", not JSON numbers.')
    return Decimal(value)


SCALARS: dict[object, ScalarDefinition] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            'An exact decimal number as a string, such as "12.34". Never a JSON number: floats '
            "lose cents. Inputs take at most the currency's number of decimal places."
        ),
        serialize=str,
        parse_value=_only_strings,
    )
}
