"""No change breaks an app built against the last release, unless what it removes was deprecated
in that release; and the check does catch what would break one."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import (
    GraphQLArgument,
    GraphQLField,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    build_schema,
)

from bff import app
from tests.schema_compatibility import RELEASED_SCHEMA_FILE, breaking_changes

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def schema_text() -> str:
    return SCHEMA_FILE.read_text(encoding="utf-8")


def account_type(schema: GraphQLSchema) -> GraphQLObjectType:
    account = schema.get_type("Account")
    assert isinstance(account, GraphQLObjectType)
    return account


def test_the_served_schema_breaks_no_client_of_the_released_one() -> None:
    # given the contract of the last release
    released = RELEASED_SCHEMA_FILE.read_text(encoding="utf-8")
    # when
    changes = breaking_changes(released, app.build_schema()._schema)
    # then
    assert changes == [], (
        "this breaks apps built against the last release: deprecate first, remove in a later "
        "release (README, 'For frontend developers')"
    )


def test_removing_a_field_is_reported() -> None:
    # given a release, and a change that drops one of its fields
    released = schema_text()
    changed = build_schema(released)
    del account_type(changed).fields["accountNumber"]
    # when
    changes = breaking_changes(released, changed)
    # then
    assert changes == ["Field Account.accountNumber was removed."]


def test_changing_a_field_type_is_reported() -> None:
    # given a change that turns a String! into an Int
    released = schema_text()
    changed = build_schema(released)
    account_type(changed).fields["name"] = GraphQLField(GraphQLInt, description="The name.")
    # when
    changes = breaking_changes(released, changed)
    # then
    assert changes == ["Field Account.name changed type from String! to Int."]


def test_a_new_required_argument_is_reported() -> None:
    # given a change that adds a required argument to a field clients already call
    released = schema_text()
    changed = build_schema(released)
    transactions = account_type(changed).fields["transactions"]
    transactions.args["since"] = GraphQLArgument(GraphQLNonNull(GraphQLString))
    # when
    changes = breaking_changes(released, changed)
    # then
    assert changes == ["A required argument Account.transactions(since:) was added."]


def test_removing_a_field_the_release_deprecated_passes() -> None:
    # given a release that deprecated a field, and a change that removes it
    released = schema_text().replace(
        "  accountNumber: String!\n",
        '  accountNumber: String! @deprecated(reason: "Use `iban`.")\n',
    )
    changed = build_schema(released)
    del account_type(changed).fields["accountNumber"]
    # when
    changes = breaking_changes(released, changed)
    # then
    assert changes == []


def test_removing_a_deprecated_field_with_the_types_only_it_used_passes() -> None:
    # given a release with a deprecated field whose type (and that type's own) nothing else used
    current = schema_text()
    released = (
        current.replace(
            "type Account implements Node {\n",
            'type Account implements Node {\n  """Old."""\n'
            '  card: Card @deprecated(reason: "Cards moved out.")\n',
        )
        + '\n"""A card."""\ntype Card {\n  """Limit."""\n  limit: Limit\n}\n'
        + '\n"""A limit."""\ntype Limit {\n  """Amount."""\n  amount: Money!\n}\n'
    )
    # when the change removes the field and both types
    changes = breaking_changes(released, build_schema(current))
    # then
    assert changes == []
    # and without the deprecation, the same change is breaking
    undeprecated = released.replace(' @deprecated(reason: "Cards moved out.")', "")
    assert breaking_changes(undeprecated, build_schema(current)) == [
        "Card was removed.",
        "Limit was removed.",
        "Field Account.card was removed.",
    ]


def test_removing_a_deprecated_argument_input_field_and_enum_value_passes() -> None:
    # given a release that deprecated an argument, an input field and an enum value
    current = schema_text()
    released = (
        current.replace(
            "    after: String = null\n  ): TransactionConnection!",
            "    after: String = null\n\n"
            '    """Old."""\n    offset: Int @deprecated(reason: "Use `after`.")\n'
            "  ): TransactionConnection!",
        )
        .replace(
            "  memo: String = null\n}",
            '  memo: String = null\n\n  """Old."""\n'
            '  note: String @deprecated(reason: "Use memo.")\n}',
        )
        .replace(
            "  CANCELLED\n}",
            '  CANCELLED\n\n  """Old."""\n  REVERSED @deprecated(reason: "No.")\n}',
        )
    )
    assert released.count("@deprecated(reason:") == 3
    # when the change removes all three
    changes = breaking_changes(released, build_schema(current))
    # then
    assert changes == []
    # and without the deprecations, each removal is breaking
    undeprecated = re.sub(r' @deprecated\(reason: "[^"]*"\)', "", released)
    assert sorted(breaking_changes(undeprecated, build_schema(current))) == [
        "Argument Account.transactions(offset:) was removed.",
        "Enum value TransferStatus.REVERSED was removed.",
        "Field CreateTransferInput.note was removed.",
    ]


def test_additive_changes_pass() -> None:
    # given a change that adds a type, a nullable field and an optional argument
    released = schema_text()
    added = (
        released.replace(
            "type Account implements Node {\n",
            'type Account implements Node {\n  """New."""\n  nickname(short: Boolean): String\n'
            '  """New."""\n  branch: Branch\n',
        )
        + '\n"""A branch."""\ntype Branch {\n  """Its name."""\n  name: String!\n}\n'
    )
    # when
    changes = breaking_changes(released, build_schema(added))
    # then
    assert changes == []
