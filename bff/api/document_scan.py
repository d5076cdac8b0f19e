"""A first look at a document's tokens, before it is parsed: graphql-core's parser, pure Python,
costs 3 to 14 µs a token (measured on the abusive documents of `make bench`), so a document at
the token limit that the shape limits then refuse cost the server more than the app's home
query to refuse at all. One regular expression reads the tokens (C speed) and one pass over
them counts what the limits count where the tokens alone settle it: the tokens, the selections
of each selection set, the aliases, the nesting of field selections within an operation and the
fields that the document selects with its fragments expanded (each fragment counted once).

It counts the characters of the string literals too (a literal over the limit costs the
parser 0.3 µs a character to read), without reading what is inside them.

The fan-out is counted as the definitions are read (`_EVERY_CLOSE`), a fragment not defined
yet counting as one field, the fewest a fragment selects in a valid document: a document of
fragments that spread each other is refused once its fan-out is certain, not at its end.

The scan only refuses what parsing and `check_limits` would refuse (with the same codes and
messages), or validation: a string over the limit whose characters the lexer would refuse is
refused as too long, and a document that spreads fragments it never defines, or in a cycle,
may be refused as too large. Whatever it cannot settle from the tokens (a lexical error before
the limits are reached, directives per location, depth through fragments) it leaves to them,
and they stay the authority for every document it lets through.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from graphql import GraphQLError, Source, SourceLocation

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

# The lexical grammar's tokens (GraphQL, October 2021, 2.1), each match one token with what is
# ignored before it (the end of the text matches no group). The commonest tokens come first (no
# two begin alike); loops are unrolled and possessive: the engine runs through a literal's
# characters in one step, and never backtracks.
_TOKENS = re.compile(
    r"""
    (?:[\s,\ufeff]++|\#[^\n\r]*+)*+
    (?:
      (?P<name>[_A-Za-z][_0-9A-Za-z]*+)
    | (?P<punctuator>[!$&()\[\]{}:=@|])
    | (?P<spread>\.\.\.)
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<block>\"\"\"[^"\\]*+(?:(?:\\\"\"\"|\\|"(?!""))[^"\\]*+)*+\"\"\")
    | (?P<open_block>\"\"\")
    | (?P<string>"[^"\\\n\r]*+(?:\\.[^"\\\n\r]*+)*+")
    | (?P<open_string>")
    | (?P<other>.)
    | \Z
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_OPERATIONS = frozenset({"query", "mutation", "subscription"})
# The quotes around a string literal's characters, by kind of token.
_STRINGS = {"string": 2, "block": 6}
# Where the lexer stops reading an unterminated string literal, by kind of token.
_UNTERMINATED = {"open_string": re.compile(r"[\n\r]|\Z"), "open_block": re.compile(r"\Z")}
_LEXICAL_ERRORS = frozenset({*_UNTERMINATED, "other"})
# The fan-out is counted at the end of each of the first 16 definitions (a document of fragments
# that each spread the next twice is over 500 fields by its 10th), then of the 32nd, 64th...:
# what the counts cost stays linear in the document.
_EVERY_CLOSE = 16
_PARENTHESES = {"(": 1, ")": -1}


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
        self.closed = 0  # definitions read to their end

    def run(self) -> GraphQLError | None:
        limits = self.limits
        max_tokens, max_selections = limits.max_tokens, limits.max_selections
        sets: list[_Set] = []
        parentheses = tokens = aliases = string_chars = 0
        definition: _Definition | None = None
        previous = ""  # the significant token before this one
        for match in _TOKENS.finditer(self.text):
            kind = match.lastgroup
            if kind is None:
                continue
            if kind in _LEXICAL_ERRORS:
                return self._lexical_error(match, kind, string_chars)
            tokens += 1
            if tokens > max_tokens:
                # graphql-core's own message for it (its parser stops at the same token).
                message = f"Document contains more than {limits.max_tokens} tokens."
                return _error_at(
                    self.text, match.start(kind), f"Syntax Error: {message} Parsing aborted."
                )
            value, position = match.group(kind), match.start(kind)
            refused = None
            if kind in _STRINGS:
                string_chars += len(value) - _STRINGS[kind]
                if string_chars > limits.max_string_chars:
                    return self._refused(STRINGS_TOO_LONG, position)
            if parentheses:
                # Arguments, variables and their values (object values' braces included).
                parentheses += _PARENTHESES.get(value, 0)
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
                    self.closed += 1
                    if self.closed <= _EVERY_CLOSE or self.closed & (self.closed - 1) == 0:
                        refused = self._fan_out(undefined=1, fragments=False)
            elif value == ":":
                aliases += 1
                if aliases > limits.max_aliases:
                    refused = self._refused(TOO_MANY_ALIASES, position)
            elif definition is not None:
                # A token in a selection set, outside arguments: where a selection starts,
                # count it.
                current = sets[-1]
                if previous == ":":
                    if kind == "name":
                        current.field = value  # the aliased field's own name
                elif previous == "...":
                    # `... on Type`, `... @directive` or `... {` is an inline fragment, else a
                    # spread.
                    current.field = None
                    if kind == "name" and value != "on":
                        definition.spreads.append(value)
                elif kind == "spread" or (kind == "name" and previous != "@" and previous != "on"):
                    current.selections += 1
                    if current.selections > max_selections:
                        return self._refused(TOO_MANY_SELECTIONS, position)
                    if kind == "name":
                        current.field = value
                        definition.fields += 1
            if refused is not None:
                return refused
            previous = value
        return self._fan_out(undefined=0, fragments=True)

    def _lexical_error(self, match: re.Match[str], kind: str, string_chars: int) -> GraphQLError:
        """A character the lexer refuses: the lexer's to report, unless it opens a literal
        that is not terminated and over the limit (the lexer reads such a literal to the end
        of its line, or of the text for a block string, before it refuses it)."""
        if kind in _UNTERMINATED:
            end = _UNTERMINATED[kind].search(self.text, match.end())
            assert end is not None  # \Z is always found
            if string_chars + end.start() - match.end() > self.limits.max_string_chars:
                return self._refused(STRINGS_TOO_LONG, match.start(kind))
        raise _Unsure

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

    def _fan_out(self, undefined: int, fragments: bool) -> GraphQLError | None:
        """QUERY_TOO_LARGE when the operations together, or (`fragments`) a fragment, select
        more fields than the limit once every spread is expanded (each fragment counted once),
        a spread of a fragment not defined (yet) counting `undefined` fields. Unsettled when a
        fragment's name is defined twice."""
        if self.duplicated:
            return None
        limit = self.limits.max_fields
        counted: dict[str, int] = {}
        counting: set[str] = set()

        def expanded(definition: _Definition) -> int:
            total = definition.fields
            for name in definition.spreads:
                found = counted.get(name)
                if found is not None:
                    total += found
                    continue
                spread = self.definitions.get(name)
                if spread is None:
                    total += undefined
                elif name not in counting:  # a cycle is validation's to refuse
                    counting.add(name)
                    counted[name] = found = expanded(spread)
                    total += found
                    counting.discard(name)
            return total

        everything = 0
        for operation in self.operations:
            everything += expanded(operation)
            if everything > limit:
                return self._refused(QUERY_TOO_LARGE, operation.position)
        for name, fragment in self.definitions.items() if fragments else ():
            if (counted[name] if name in counted else expanded(fragment)) > limit:
                return self._refused(QUERY_TOO_LARGE, fragment.position)
        return None

    def _refused(self, code: str, position: int) -> GraphQLError:
        return _error_at(self.text, position, limit_message(code, self.limits), {"code": code})


def _error_at(
    text: str, position: int, message: str, extensions: dict[str, str] | None = None
) -> GraphQLError:
    """An error at `position` of `text`, located as graphql-core locates one, without its search
    of the whole text for line breaks (0.1 to 0.2 ms on a document at the length limit)."""
    error = GraphQLError(message, extensions=extensions)
    before = text[:position]
    breaks = before.count("\n") + before.count("\r") - before.count("\r\n")
    line_start = max(before.rfind("\n"), before.rfind("\r")) + 1
    error.source, error.positions = Source(text), [position]
    error.locations = [SourceLocation(breaks + 1, position + 1 - line_start)]
    return error
