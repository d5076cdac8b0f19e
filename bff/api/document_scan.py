"""A first look at a document's tokens, before it is parsed: graphql-core's parser, pure Python,
costs 3 to 14 µs a token (measured on the abusive documents of `make bench`), so a document at
the token limit that the shape limits then refuse cost the server more than the app's home
query to refuse at all. One regular expression reads the tokens (C speed) and one pass over
them counts what the limits count where the tokens alone settle it: the tokens, the selections
of each selection set, the aliases, the nesting of field selections within an operation and the
fields that the document selects with its fragments expanded (each fragment counted once).

It counts the characters of the string literals too (a literal over the limit costs the
parser 0.3 µs a character to read), without reading what is inside them.

The scan only refuses what parsing and `check_limits` would refuse (with the same codes and
messages; a string over the limit whose characters the lexer would refuse is refused as too
long); whatever it cannot settle from the tokens (a lexical error before the limits are reached,
directives per location, depth through fragments) it leaves to them, and they stay the
authority for every document it lets through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import GraphQLError, GraphQLSyntaxError, Source

from bff.api.document_limits import (
    NESTING_PER_LEVEL,
    QUERY_TOO_DEEP,
    QUERY_TOO_LARGE,
    STRINGS_TOO_LONG,
    TOO_MANY_ALIASES,
    TOO_MANY_SELECTIONS,
    DocumentLimits,
    limit_message,
)

# The lexical grammar's tokens (GraphQL, October 2021, 2.1); what is ignored has no group.
_TOKENS = re.compile(
    r"""
    [\s,\ufeff]+ | \#[^\n\r]*
    | (?P<block>\"\"\"(?:\\\"\"\"|(?!\"\"\").)*\"\"\")
    | (?P<open_block>\"\"\")
    | (?P<string>"(?:\\.|[^"\\\n\r])*")
    | (?P<open_string>")
    | (?P<spread>\.\.\.)
    | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<punctuator>[!$&()\[\]{}:=@|])
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_OPERATIONS = frozenset({"query", "mutation", "subscription"})
# The quotes around a string literal's characters, by kind of token.
_STRINGS = {"string": 2, "block": 6}
# Where the lexer stops reading an unterminated string literal, by kind of token.
_UNTERMINATED = {"open_string": re.compile(r"[\n\r]|\Z"), "open_block": re.compile(r"\Z")}


@dataclass(slots=True)
class _Definition:
    """What one operation or fragment definition selects: its own fields, the fragments it
    spreads (once per spread), and where it begins."""

    operation: bool
    position: int
    fields: int = 0
    spreads: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Set:
    """An open selection set: how many selections it holds so far, the field level of the
    fields in it (none counted below introspection), and the name of its last selection when
    that is a field (None after a fragment spread or an inline fragment)."""

    depth: int
    counted: bool = True
    selections: int = 0
    field: str | None = None


def scan(text: str, limits: DocumentLimits) -> GraphQLError | None:
    """The error that parsing or `check_limits` would refuse `text` with, when its tokens alone
    show it; None when they do not (the document goes on to be parsed)."""
    try:
        return _Scan(text, limits).run()
    except _Unsure:
        return None


class _Unsure(Exception):
    """The tokens do not settle it: a lexical error, or a shape the scan does not follow."""


class _Scan:
    def __init__(self, text: str, limits: DocumentLimits) -> None:
        self.text = text
        self.limits = limits
        self.definitions: dict[str, _Definition] = {}
        self.operations: list[_Definition] = []
        self.duplicated = False  # a fragment name defined twice: validation's to report

    def run(self) -> GraphQLError | None:
        limits = self.limits
        sets: list[_Set] = []
        parentheses = tokens = aliases = string_chars = 0
        definition: _Definition | None = None
        previous = ""  # the significant token before this one
        for match in _TOKENS.finditer(self.text):
            kind = match.lastgroup
            if kind is None:
                continue
            if kind in _UNTERMINATED:
                # The lexer reads an unterminated literal to the end of its line (of the
                # text, for a block string) before it refuses it.
                end = _UNTERMINATED[kind].search(self.text, match.end())
                assert end is not None  # \Z is always found
                unread = end.start() - match.end()
                if string_chars + unread > limits.max_string_chars:
                    return self._refused(STRINGS_TOO_LONG, match.start())
                raise _Unsure
            if kind == "other":
                raise _Unsure
            tokens += 1
            if tokens > limits.max_tokens:
                return GraphQLSyntaxError(
                    Source(self.text),
                    match.start(),
                    f"Document contains more than {limits.max_tokens} tokens. Parsing aborted.",
                )
            value, position = match.group(), match.start()
            refused = None
            if kind in _STRINGS:
                string_chars += len(value) - _STRINGS[kind]
                if string_chars > limits.max_string_chars:
                    return self._refused(STRINGS_TOO_LONG, position)
            if parentheses:
                # Arguments, variables and their values (object values' braces included).
                parentheses += {"(": 1, ")": -1}.get(value, 0)
            elif value == "(":
                parentheses = 1
            elif value == "{":
                definition = definition or self._outside(value, previous, position, None)
                if definition is None:
                    raise _Unsure
                refused = self._open(sets, definition, position)
            elif not sets:
                definition = self._outside(value, previous, position, definition)
            elif value == "}":
                sets.pop()
                if not sets:
                    definition = None
            elif value == ":":
                aliases += 1
                if aliases > limits.max_aliases:
                    refused = self._refused(TOO_MANY_ALIASES, position)
            elif definition is not None:
                refused = self._selection(sets[-1], definition, kind, value, previous, position)
            if refused is not None:
                return refused
            previous = value
        return self._fan_out()

    def _open(
        self, sets: list[_Set], definition: _Definition, position: int
    ) -> GraphQLError | None:
        """A selection set opens: a definition's, a field's or an inline fragment's."""
        if not sets:
            sets.append(_Set(depth=0))
            return None
        enclosing = sets[-1]
        name = enclosing.field
        counted = enclosing.counted and not (name is not None and name.startswith("__"))
        sets.append(_Set(depth=enclosing.depth + (name is not None and counted), counted=counted))
        limits = self.limits
        if len(sets) > limits.max_depth * NESTING_PER_LEVEL + 1 or (
            definition.operation and sets[-1].depth > limits.max_depth
        ):
            return self._refused(QUERY_TOO_DEEP, position)
        return None

    def _selection(
        self,
        current: _Set,
        definition: _Definition,
        kind: str | None,
        value: str,
        previous: str,
        position: int,
    ) -> GraphQLError | None:
        """A token in a selection set, outside arguments: where a selection starts, count it."""
        if previous == ":" and kind == "name":
            current.field = value  # the aliased field's own name
            return None
        if previous == "...":
            # `... on Type`, `... @directive` or `... {` is an inline fragment, else a spread.
            current.field = None
            if kind == "name" and value != "on":
                definition.spreads.append(value)
            return None
        if kind == "spread" or (kind == "name" and previous not in (":", "@", "on")):
            current.selections += 1
            if current.selections > self.limits.max_selections:
                return self._refused(TOO_MANY_SELECTIONS, position)
            if kind == "name":
                current.field = value
                definition.fields += 1
        return None

    def _outside(
        self, value: str, previous: str, position: int, definition: _Definition | None
    ) -> _Definition | None:
        """A token between definitions: their keywords, names and the brace that opens one."""
        if value == "{":
            if definition is None:  # the shorthand query
                definition = _Definition(operation=True, position=position)
                self.operations.append(definition)
            return definition
        if value in _OPERATIONS and definition is None:
            definition = _Definition(operation=True, position=position)
            self.operations.append(definition)
        elif value == "fragment" and definition is None:
            definition = _Definition(operation=False, position=position)
        elif previous == "fragment" and definition is not None and not definition.operation:
            self.duplicated = self.duplicated or value in self.definitions
            self.definitions.setdefault(value, definition)
        return definition

    def _fan_out(self) -> GraphQLError | None:
        """QUERY_TOO_LARGE when a definition, or the operations together, select more fields
        than the limit once every spread is expanded (each fragment counted once). Unsettled
        when a fragment's name is defined twice."""
        if self.duplicated:
            return None
        counted: dict[str, int] = {}
        counting: set[str] = set()

        def expanded(definition: _Definition) -> int:
            total = definition.fields
            for name in definition.spreads:
                spread = self.definitions.get(name)
                if spread is None or name in counting:
                    continue  # unknown or cyclic: validation refuses it
                if name not in counted:
                    counting.add(name)
                    counted[name] = expanded(spread)
                    counting.discard(name)
                total += counted[name]
            return total

        everything = 0
        for definition in [*self.operations, *self.definitions.values()]:
            fields = expanded(definition)
            everything += fields if definition.operation else 0
            if fields > self.limits.max_fields or everything > self.limits.max_fields:
                return self._refused(QUERY_TOO_LARGE, definition.position)
        return None

    def _refused(self, code: str, position: int) -> GraphQLError:
        return GraphQLError(
            limit_message(code, self.limits),
            source=Source(self.text),
            positions=[position],
            extensions={"code": code},
        )
