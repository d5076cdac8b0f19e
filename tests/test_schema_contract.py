"""The checked-in GraphQL contract: `schema.graphql` is what the code serves, and it is
documented throughout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import graphql
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
)

from schema.root import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}


def served_types(schema: GraphQLSchema) -> list[GraphQLNamedType]:
    return [
        named
        for name, named in schema.type_map.items()
        if not name.startswith("__") and name not in BUILT_IN_SCALARS
    ]


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument, input field and enum value without a description."""
    missing: list[str] = []

    def check(description: str | None, path: str) -> None:
        if not (description or "").strip():
            missing.append(path)

    for named in served_types(schema):
        check(named.description, named.name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                check(field.description, f"{named.name}.{field_name}")
                for arg_name, arg in field.args.items():
                    check(arg.description, f"{named.name}.{field_name}({arg_name})")
        if isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                check(input_field.description, f"{named.name}.{field_name}")
        if isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                check(value.description, f"{named.name}.{value_name}")
    return missing


def test_schema_graphql_is_the_exported_schema() -> None:
    # given the checked-in contract
    checked_in = SCHEMA_FILE.read_text(encoding="utf-8")
    # when
    exported = build_schema().as_str()
    # then
    assert exported == checked_in.rstrip("\n"), "schema.graphql is stale: run `bff export-schema`"


def test_the_export_schema_command_prints_the_checked_in_schema() -> None:
    # given
    checked_in = SCHEMA_FILE.read_text(encoding="utf-8")
    # when
    result = subprocess.run(
        [sys.executable, "-m", "bff.cli", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
        cwd=SCHEMA_FILE.parent,
        timeout=120,
    )
    # then
    assert result.stdout.rstrip("\n") == checked_in.rstrip("\n")


def test_every_type_field_argument_input_field_and_enum_value_has_a_description() -> None:
    # given
    schema = build_schema()._schema
    # when
    missing = undocumented(schema)
    # then
    assert missing == []


def test_every_custom_scalar_says_what_specifies_it() -> None:
    # given
    schema = build_schema()._schema
    # when
    scalars = [named for named in served_types(schema) if isinstance(named, GraphQLScalarType)]
    # then Decimal and DateTime (and any scalar added later) carry a description and a URL
    assert {scalar.name for scalar in scalars} >= {"Decimal", "DateTime"}
    assert [s.name for s in scalars if not s.specified_by_url or not s.description] == []


def test_the_description_check_sees_the_whole_contract() -> None:
    # given
    schema = build_schema()._schema
    # when
    names = {named.name for named in served_types(schema)}
    # then the walk covers the contract's types, and none of the introspection types
    assert {
        "Query",
        "Mutation",
        "Node",
        "User",
        "Account",
        "Transaction",
        "Transfer",
        "Money",
        "MoneyInput",
        "CreateTransferInput",
        "UserError",
        "UserErrorCode",
        "AccountEventKind",
        "Decimal",
        "DateTime",
    } <= names
    assert not any(name.startswith("__") for name in names)
    assert not names & BUILT_IN_SCALARS


def test_the_description_check_reports_an_undocumented_enum_value_and_argument() -> None:
    # given a schema with one value and one argument left undocumented
    schema = graphql.build_schema(
        '"""Q."""\ntype Query {\n  """F."""\n  f(x: Int): E\n}\n\n'
        '"""E."""\nenum E {\n  """A."""\n  A\n  B\n}\n'
    )
    # when
    missing = undocumented(schema)
    # then
    assert missing == ["Query.f(x)", "E.B"]
