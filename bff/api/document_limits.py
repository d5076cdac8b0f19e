"""The shape limits of a GraphQL document, checked in one pass over the parsed document before
graphql-core validates it: validation's overlapping-fields rule grows quadratically with the
selections it compares, and a document of fragments that spread each other twice would be
exponential to expand. Here every node is visited once and every fragment is measured once
(memoised), so refusing a document costs no more than parsing it.

Checked: field depth, aliases, directives per location, selections per selection set, the
fan-out of fragments (how many fields the document would select once every spread is expanded,
counted without expanding anything) and the length of its string literals together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
)

if TYPE_CHECKING:
    from bff.config import Settings

# Stable codes, one per limit, in `extensions.code`.
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
TOO_MANY_SELECTIONS = "TOO_MANY_SELECTIONS"
QUERY_TOO_LARGE = "QUERY_TOO_LARGE"
DOCUMENT_TOO_LONG = "DOCUMENT_TOO_LONG"
STRINGS_TOO_LONG = "STRINGS_TOO_LONG"
LIMIT_CODES = frozenset(
    {
        STRINGS_TOO_LONG,
        QUERY_TOO_DEEP,
        TOO_MANY_ALIASES,
        TOO_MANY_DIRECTIVES,
        TOO_MANY_SELECTIONS,
        QUERY_TOO_LARGE,
        DOCUMENT_TOO_LONG,
    }
)
# Fragments and inline fragments nest without adding field depth; this many nested selection
# sets per field level bounds the walk's recursion all the same.
NESTING_PER_LEVEL = 3


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The most a document may ask for (the settings `BFF_GRAPHQL_MAX_*`)."""

    max_depth: int
    max_aliases: int
    max_directives: int  # on one field, fragment, operation or variable
    max_selections: int  # in one selection set
    max_fields: int  # selected by the whole document, with every fragment spread expanded
    max_chars: int  # of the text, before it is parsed
    max_tokens: int  # read while it is parsed
    max_string_chars: int  # of its string literals together, as written between the quotes

    @classmethod
    def of(cls, settings: Settings) -> DocumentLimits:
        """The limits `settings` ask for."""
        return cls(
            max_chars=settings.graphql_max_document_chars,
            max_tokens=settings.graphql_max_tokens,
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_directives=settings.graphql_max_directives,
            max_selections=settings.graphql_max_selections,
            max_fields=settings.graphql_max_fields,
            max_string_chars=settings.graphql_max_string_chars,
        )


def limit_message(code: str, limits: DocumentLimits) -> str:
    """What the error of the shape limit `code` says."""
    messages = {
        QUERY_TOO_DEEP: f"The query exceeds the maximum depth {limits.max_depth}.",
        TOO_MANY_ALIASES: f"The document holds more than {limits.max_aliases} aliases.",
        TOO_MANY_DIRECTIVES: f"More than {limits.max_directives} directives in one place.",
        TOO_MANY_SELECTIONS: f"A selection set selects more than {limits.max_selections} fields.",
        QUERY_TOO_LARGE: (
            f"The document selects more than {limits.max_fields} fields once its fragments "
            "are expanded."
        ),
        STRINGS_TOO_LONG: (
            f"The document's string literals hold more than {limits.max_string_chars} "
            "characters; send long values as variables."
        ),
    }
    return messages[code]


class LimitExceeded(Exception):
    def __init__(self, code: str, limits: DocumentLimits, node: Node | None) -> None:
        message = limit_message(code, limits)
        super().__init__(message)
        self.error = GraphQLError(message, node, extensions={"code": code})


@dataclass(frozen=True, slots=True)
class _Measure:
    depth: int  # field levels
    fields: int  # fields selected, spreads expanded


def check_length(text: str, limits: DocumentLimits) -> GraphQLError | None:
    """The error of a document text too long to be worth tokenising; None within the limit."""
    if len(text) <= limits.max_chars:
        return None
    message = f"The document is longer than {limits.max_chars} characters."
    return GraphQLError(message, extensions={"code": DOCUMENT_TOO_LONG})


def check_limits(document: DocumentNode, limits: DocumentLimits) -> GraphQLError | None:
    """The first limit `document` exceeds, as a GraphQL error with its code; None within all."""
    try:
        _Walk(document, limits).run()
    except LimitExceeded as exceeded:
        return exceeded.error
    return None


class _Walk:
    def __init__(self, document: DocumentNode, limits: DocumentLimits) -> None:
        self.limits = limits
        self.fragments = {
            definition.name.value: definition
            for definition in document.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        self.document = document
        self.measured: dict[str, _Measure] = {}
        self.measuring: set[str] = set()  # a cycle is validation's to report
        self.aliases = 0
        self.string_chars = 0

    def run(self) -> None:
        fields = 0
        for definition in self.document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                self._directives(definition)
                for variable in definition.variable_definitions or ():
                    self._directives(variable)
                    if variable.default_value is not None:
                        self._values((variable.default_value,))
                measure = self._selection_set(definition.selection_set, 0)
                if measure.depth > self.limits.max_depth:
                    raise LimitExceeded(QUERY_TOO_DEEP, self.limits, definition)
                fields += measure.fields
            elif isinstance(definition, FragmentDefinitionNode):
                self._fragment(definition.name.value, 0)
            self._fan_out(fields, definition)

    def _fragment(self, name: str, nesting: int) -> _Measure:
        found = self.measured.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None or name in self.measuring:
            return _Measure(0, 0)  # unknown or cyclic: validation refuses it
        self.measuring.add(name)
        self._directives(definition)
        found = self.measured[name] = self._selection_set(definition.selection_set, nesting)
        self.measuring.discard(name)
        return found

    def _selection_set(self, selection_set: SelectionSetNode, nesting: int) -> _Measure:
        limits = self.limits
        if nesting > limits.max_depth * NESTING_PER_LEVEL:
            # Recursion stays bounded whatever the document; its depth is checked per operation,
            # where fragments measured once (relative to where they are spread) add up.
            raise LimitExceeded(QUERY_TOO_DEEP, limits, selection_set)
        selections = selection_set.selections
        if len(selections) > limits.max_selections:
            raise LimitExceeded(TOO_MANY_SELECTIONS, limits, selection_set)
        depth = fields = 0
        for selection in selections:
            self._directives(selection)
            if isinstance(selection, FieldNode):
                if selection.alias is not None:
                    self._alias(selection)
                self._values(argument.value for argument in selection.arguments or ())
                child = (
                    self._selection_set(selection.selection_set, nesting + 1)
                    if selection.selection_set is not None
                    else _Measure(0, 0)
                )
                # Introspection's meta-fields do not count towards depth, as graphql-core's and
                # Strawberry's depth limits have it: tools' standard introspection query nests
                # type references deeper than any app document (production refuses
                # introspection anyway); its fields still count towards the fan-out.
                introspection = selection.name.value.startswith("__")
                measure = _Measure(0 if introspection else child.depth + 1, child.fields + 1)
            elif isinstance(selection, InlineFragmentNode):
                measure = self._selection_set(selection.selection_set, nesting + 1)
            else:
                assert isinstance(selection, FragmentSpreadNode)
                measure = self._fragment(selection.name.value, nesting + 1)
            depth = max(depth, measure.depth)
            fields += measure.fields
            self._fan_out(fields, selection)
        return _Measure(depth, fields)

    def _alias(self, node: FieldNode) -> None:
        self.aliases += 1
        if self.aliases > self.limits.max_aliases:
            raise LimitExceeded(TOO_MANY_ALIASES, self.limits, node)

    def _directives(self, node: Node) -> None:
        directives: tuple[DirectiveNode, ...] = getattr(node, "directives", None) or ()
        if len(directives) > self.limits.max_directives:
            raise LimitExceeded(TOO_MANY_DIRECTIVES, self.limits, node)
        for directive in directives:
            self._values(argument.value for argument in directive.arguments or ())

    def _values(self, values: Iterable[ValueNode]) -> None:
        """Count the string literals in `values`, lists' and input objects' included."""
        for value in values:
            if isinstance(value, StringValueNode):
                self.string_chars += _written_length(value)
                if self.string_chars > self.limits.max_string_chars:
                    raise LimitExceeded(STRINGS_TOO_LONG, self.limits, value)
            elif isinstance(value, ListValueNode):
                self._values(value.values)
            elif isinstance(value, ObjectValueNode):
                self._values(field.value for field in value.fields)

    def _fan_out(self, fields: int, node: Node) -> None:
        if fields > self.limits.max_fields:
            raise LimitExceeded(QUERY_TOO_LARGE, self.limits, node)


def _written_length(value: StringValueNode) -> int:
    """The characters of a string literal as written between its quotes (escapes undecoded,
    a block string undedented), as the token scan counts them before anything is parsed."""
    if value.loc is None:
        return len(value.value)
    return value.loc.end - value.loc.start - (6 if value.block else 2)
