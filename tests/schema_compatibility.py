"""The breaking-change check: what the code serves, against the contract of the last release.

The baseline is `schema.released.graphql`, a copy of `schema.graphql` taken when a release
ships (`cp schema.graphql schema.released.graphql`). It is not `schema.graphql` itself, which a
developer regenerates together with the code, nor git's copy of it at HEAD or at the merge-base
with main: CI runs on main's own head, where both are the change under test, and a clone need not
have the history. Apps in the field were built against the last release, so that is what a change
must not break.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueDefinitionNode,
    FieldDefinitionNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    TypeDefinitionNode,
    Visitor,
    build_ast_schema,
    find_breaking_changes,
    parse,
    visit,
)

RELEASED_SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.released.graphql"
Member = TypeVar("Member", FieldDefinitionNode, InputValueDefinitionNode, EnumValueDefinitionNode)


def breaking_changes(released_sdl: str, current: GraphQLSchema) -> list[str]:
    """What in `current` breaks a client of the release described by `released_sdl`.

    These are graphql-core's breaking changes (a removed type, field, argument or enum value, a
    changed type, a new required argument or input field...), except removals of what the
    release already marked `@deprecated`, and of types only such removed members used: clients
    were told to move off those.
    """
    released = _without_retired(parse(released_sdl), current)
    return [change.description for change in find_breaking_changes(released, current)]


def _without_retired(document: DocumentNode, current: GraphQLSchema) -> GraphQLSchema:
    """The released schema less what it deprecated and `current` no longer has."""
    definitions = []
    for definition in document.definitions:
        if isinstance(definition, TypeDefinitionNode):
            definition = _drop_retired_members(definition, _members(current, definition.name.value))
        definitions.append(definition)
    used_by_release = _mentioned(document)
    document = replace(document, definitions=tuple(definitions))
    while orphans := _no_longer_used(document, used_by_release, current):
        document = replace(
            document, definitions=tuple(d for d in document.definitions if d not in orphans)
        )
    return build_ast_schema(document)


def _drop_retired_members(
    definition: TypeDefinitionNode, live: Mapping[str, Any]
) -> TypeDefinitionNode:
    if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        fields = tuple(
            replace(
                field,
                arguments=_kept(field.arguments, getattr(live.get(field.name.value), "args", {})),
            )
            for field in _kept(definition.fields, live)
        )
        return replace(definition, fields=fields)
    if isinstance(definition, InputObjectTypeDefinitionNode):
        return replace(definition, fields=_kept(definition.fields, live))
    if isinstance(definition, EnumTypeDefinitionNode):
        return replace(definition, values=_kept(definition.values, live))
    return definition


def _kept(members: Iterable[Member] | None, live: Mapping[str, Any]) -> tuple[Member, ...]:
    """The members still served, and those not deprecated (whose removal stays breaking)."""
    return tuple(
        member
        for member in members or ()
        if member.name.value in live
        or not any(directive.name.value == "deprecated" for directive in member.directives or ())
    )


def _members(current: GraphQLSchema, type_name: str) -> Mapping[str, Any]:
    """The fields or enum values `current` serves for `type_name` (none if it is gone)."""
    named = current.get_type(type_name)
    members: Mapping[str, Any] = {}
    if isinstance(named, GraphQLEnumType):
        members = named.values
    elif isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
        members = named.fields
    return members


def _no_longer_used(
    document: DocumentNode, used_by_release: set[str], current: GraphQLSchema
) -> list[TypeDefinitionNode]:
    """Types the release used, gone from `current`, that nothing left in `document` uses."""
    used = _mentioned(document)
    return [
        definition
        for definition in document.definitions
        if isinstance(definition, TypeDefinitionNode)
        and definition.name.value in used_by_release - used
        and current.get_type(definition.name.value) is None
    ]


def _mentioned(document: DocumentNode) -> set[str]:
    """The names of the types that fields, arguments, interfaces and unions refer to."""
    names: set[str] = set()

    class Mentions(Visitor):
        def enter_named_type(self, node: NamedTypeNode, *_: object) -> None:
            names.add(node.name.value)

    visit(document, Mentions())
    return names
