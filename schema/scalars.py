"""Custom scalars: Python types used in annotations, mapped to GraphQL scalars by `SCALARS`.

Every scalar beyond GraphQL's own five says what its strings look like (`description`) and
points at the specification of that form (`@specifiedBy`), so codegen and GraphiQL users need
not guess.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from graphql import GraphQLError
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

Decimal = NewType("Decimal", str)


def _only_strings(value: object) -> Decimal:
    if not isinstance(value, str):
        # A GraphQLError (not a ValueError) so that literals and variables both report it as a
        # client error rather than a server failure.
        raise GraphQLError('Decimal values are strings such as "12.34", not JSON numbers.')
    return Decimal(value)


def _utc_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        # A naive time would be read as the server's local time: a bug to report, not guess at.
        raise ValueError("A DateTime must carry its UTC offset.")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


SCALARS: dict[object, ScalarDefinition] = {
    Decimal: strawberry.scalar(
        name="Decimal",
        description=(
            'An exact decimal number as a string, such as "12.34" or "-7": an optional minus '
            "sign, digits, and a decimal point with more digits when the currency has them. "
            "Never a JSON number: floats lose cents. Inputs take at most the currency's number "
            "of decimal places, and no sign."
        ),
        # The lexical form of XML Schema's decimal, which these strings are a subset of.
        specified_by_url="https://www.w3.org/TR/xmlschema11-2/#decimal",
        serialize=str,
        parse_value=_only_strings,
    ),
    # Replaces Strawberry's built-in DateTime to document its form; inputs parse as before.
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An instant in UTC as an RFC 3339 date-time (a profile of ISO 8601), always with "
            'six fractional digits and the offset +00:00, such as "2026-11-28T14:03:07.250000'
            '+00:00".'
        ),
        specified_by_url="https://www.rfc-editor.org/rfc/rfc3339#section-5.6",
        serialize=_utc_timestamp,
        parse_value=DateTimeDefinition.parse_value,
    ),
}
