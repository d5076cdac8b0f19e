"""The checked-in GraphQL contract: `schema.graphql` is what the code serves, reads the same to
schema tools as live introspection, and is documented throughout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from graphql import (
    DirectiveDefinitionNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    build_client_schema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    get_introspection_query,
    lexicographic_sort_schema,
    parse,
    print_ast,
    print_directive,
    print_schema,
)

from bff import app
from schema.sdl import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
BUILT_IN_SCALARS = {"String", "Int", "Float", "Boolean", "ID"}
# Everything graphql-core can ask, as the most thorough schema tools do.
INTROSPECTION = get_introspection_query(
    descriptions=True,
    specified_by_url=True,
    directive_is_repeatable=True,
    schema_description=True,
    input_value_deprecation=True,
    experimental_directive_deprecation=True,
    one_of=True,
)


async def live_schema(client: httpx.AsyncClient) -> GraphQLSchema:
    """The schema as a tool sees it through introspection of the running endpoint."""
    response = await client.post("/graphql", json={"query": INTROSPECTION})
    assert response.status_code == 200, response.text
    return build_client_schema(response.json()["data"])


def full_sdl(schema: GraphQLSchema) -> str:
    """The schema in a canonical order, with the built-in directives that SDL printers omit."""
    directives = [print_directive(directive) for directive in schema.directives]
    return "\n\n".join([*directives, print_schema(lexicographic_sort_schema(schema))])


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
    exported = schema_sdl(app.build_schema())
    # then
    assert exported == checked_in.rstrip("\n"), "schema.graphql is stale: run `make schema`"


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


async def test_schema_graphql_and_live_introspection_are_the_same_schema(
    client: httpx.AsyncClient,
) -> None:
    # given the schema a tool builds from the file, and the one it builds from introspection
    from_file = build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))
    # when
    live = await live_schema(client)
    # then a schema diff finds nothing either way
    assert find_breaking_changes(from_file, live) == []
    assert find_breaking_changes(live, from_file) == []
    assert find_dangerous_changes(from_file, live) == []
    assert find_dangerous_changes(live, from_file) == []
    # and both print alike, directives included
    assert full_sdl(from_file) == full_sdl(live)


async def test_schema_graphql_defines_every_directive_as_the_server_does(
    client: httpx.AsyncClient,
) -> None:
    # given the directive definitions written in the file (a tool that finds one missing adds
    # its own library's version, e.g. graphql-js 16's `@deprecated(reason: String)`)
    document = parse(SCHEMA_FILE.read_text(encoding="utf-8"))
    written = {
        definition.name.value: print_ast(definition)
        for definition in document.definitions
        if isinstance(definition, DirectiveDefinitionNode)
    }
    # when
    live = await live_schema(client)
    # then (each printed by the same printer: graphql-core's directive printer puts a blank line
    # between described arguments, its AST printer none)
    assert written == {
        directive.name: print_ast(parse(print_directive(directive)))
        for directive in live.directives
    }


async def test_every_type_field_argument_input_field_and_enum_value_has_a_description(
    client: httpx.AsyncClient,
) -> None:
    # given the schema the endpoint serves
    live = await live_schema(client)
    # when
    missing = undocumented(live)
    # then
    assert missing == []


async def test_every_custom_scalar_says_what_specifies_it(client: httpx.AsyncClient) -> None:
    # given
    live = await live_schema(client)
    # when
    scalars = [named for named in served_types(live) if isinstance(named, GraphQLScalarType)]
    # then Decimal and DateTime (and any scalar added later) carry a description and a URL
    assert {scalar.name for scalar in scalars} >= {"Decimal", "DateTime"}
    assert [s.name for s in scalars if not s.specified_by_url or not s.description] == []


async def test_the_description_check_sees_the_whole_contract(client: httpx.AsyncClient) -> None:
    # given
    live = await live_schema(client)
    # when
    names = {named.name for named in served_types(live)}
    # then the walk covers the contract's types, and none of the introspection types
    assert {
        "Query",
        "Mutation",
        "Subscription",
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
    schema = build_schema(
        '"""Q."""\ntype Query {\n  """F."""\n  f(x: Int): E\n}\n\n'
        '"""E."""\nenum E {\n  """A."""\n  A\n  B\n}\n'
    )
    # when
    missing = undocumented(schema)
    # then
    assert missing == ["Query.f(x)", "E.B"]
