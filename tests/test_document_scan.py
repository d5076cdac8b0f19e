"""The scan of a document's tokens before it is parsed refuses only what parsing and the shape
limits would refuse, and refuses the abusive shapes without graphql-core's parser."""

from __future__ import annotations

import pytest
from graphql import GraphQLError, Source, get_introspection_query, parse

import tests.documents
from bench.abuse import ABUSE
from bench.compare import HOME_QUERY
from bff.api.document_limits import (
    QUERY_TOO_DEEP,
    QUERY_TOO_LARGE,
    STRINGS_TOO_LONG,
    TOO_MANY_ALIASES,
    TOO_MANY_SELECTIONS,
    DocumentLimits,
    check_limits,
)
from bff.api.document_scan import scan
from bff.config import Settings

LIMITS = DocumentLimits.of(Settings())

# Valid documents whose tokens could mislead a scan: names that are keywords, aliases of
# introspection, braces in strings, block strings, comments and object values, inline fragments.
TRICKY = {
    "keywords as names": "{ on: viewer { id } query: viewer { id } fragment: viewer { id } }",
    "field named on": "{ viewer { on id } }",
    "introspection under an alias, deeper than the depth limit": (
        "{ s: __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType "
        "{ ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } }"
    ),
    "nested inline fragments": (
        "{ viewer { ... on User { ... on User { ... @include(if: true) { id } } } } }"
    ),
    "braces in strings, a block string and a comment": (
        '# { { { {\n{ a: node(id: "{\\"{{") { id } b: node(id: """ { } \\""" {{ """) { id } }'
    ),
    "object and list values": (
        'query Q($x: Boolean = true) @skip(if: $x) { node(id: {a: {b: [{c: "}"}]}}) { id } }'
    ),
    "named operation and fragments": (
        "query Home { viewer { ...A } } fragment A on User { id ...B } fragment B on User { id }"
    ),
}
CORPUS = {
    **{
        name: text
        for name, text in vars(tests.documents).items()
        if isinstance(text, str) and "{" in text
    },
    "home": HOME_QUERY,
    "introspection": get_introspection_query(descriptions=True),
    **TRICKY,
}


def refused_after_parsing(text: str) -> GraphQLError | None:
    """What parsing within the token limit and then the shape limits refuse `text` with."""
    try:
        document = parse(text, max_tokens=LIMITS.max_tokens)
    except GraphQLError as error:
        return error
    return check_limits(document, LIMITS)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_the_scan_refuses_no_document_that_parsing_and_the_limits_accept(name: str) -> None:
    # given a document (the suite's, the app's home query, tools' introspection, tricky ones)
    text = CORPUS[name]
    # when it is scanned / then it is refused only if parsing or the limits refuse it too
    if refused_after_parsing(text) is None:
        assert scan(text, LIMITS) is None


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_documents_within_the_limits_pass_both(name: str) -> None:
    assert refused_after_parsing(TRICKY[name]) is None
    assert scan(TRICKY[name], LIMITS) is None


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("fragment fan-out", QUERY_TOO_LARGE),
        ("repeated fields", TOO_MANY_SELECTIONS),
        ("many directives", TOO_MANY_SELECTIONS),
        ("aliases", TOO_MANY_ALIASES),
        ("deep nesting", QUERY_TOO_DEEP),
        ("huge token count", TOO_MANY_SELECTIONS),
        ("long string", STRINGS_TOO_LONG),
    ],
)
def test_the_abusive_documents_are_refused_by_the_scan_with_their_limit(
    name: str, code: str
) -> None:
    # given each abusive document of the benchmark, as large as the limits admit
    text = ABUSE[name]()
    # when it is scanned
    error = scan(text, LIMITS)
    # then its limit refuses it there, with a location, and parsing would refuse it as well
    assert error is not None
    assert error.extensions == {"code": code}
    assert error.locations
    assert refused_after_parsing(text) is not None


def test_the_token_limit_is_graphql_cores() -> None:
    # given documents of exactly the token limit and of one more, in an argument's list
    def of_tokens(count: int) -> str:
        return "{ node(id: [" + " 1" * (count - 12) + "]) { id } }"  # 12 tokens besides the list

    at_limit, over = of_tokens(LIMITS.max_tokens), of_tokens(LIMITS.max_tokens + 1)
    # when / then the scan and graphql-core's parser draw the line at the same token
    assert scan(at_limit, LIMITS) is None
    parse(at_limit, max_tokens=LIMITS.max_tokens)
    refused = scan(over, LIMITS)
    assert refused is not None
    with pytest.raises(GraphQLError) as parsed:
        parse(over, max_tokens=LIMITS.max_tokens)
    assert refused.message == parsed.value.message


def test_what_the_scan_cannot_settle_goes_to_the_parser() -> None:
    # given documents with lexical errors: an unterminated string, a stray character
    for text in ['{ node(id: "x) { id } }', "{ viewer { id ^ } }"]:
        # when / then the scan leaves them to graphql-core, which says what is wrong
        assert scan(text, LIMITS) is None
        assert refused_after_parsing(text) is not None


def literals(written: str, count: int) -> str:
    """A document whose string literals (each `written` between its quotes, a block string
    when it starts with three quotes) hold `count` characters together."""
    block = written.startswith('"""')
    inner = written[3:-3] if block else written[1:-1]
    repeat, rest = divmod(count, len(inner))
    assert rest == 0
    literal = ('"""' if block else '"') + inner * repeat + ('"""' if block else '"')
    return f"{{ a: node(id: {literal}) {{ id }} }}"


@pytest.mark.parametrize(
    "written",
    ['"x"', '"\\u0041"', '"\\""', '"""x"""', '"""\\""""""'],
    ids=["plain", "unicode escape", "escaped quote", "block", "block escaped quotes"],
)
def test_string_literals_are_counted_as_written_alike_by_the_scan_and_the_limits(
    written: str,
) -> None:
    # given documents whose literals hold exactly the limit's characters, and one more unit
    unit = len(written) - (6 if written.startswith('"""') else 2)
    at_limit = literals(written, LIMITS.max_string_chars - LIMITS.max_string_chars % unit)
    over = literals(written, (LIMITS.max_string_chars // unit + 1) * unit)
    # when / then both let the first through and refuse the second with the same code
    assert scan(at_limit, LIMITS) is None
    assert refused_after_parsing(at_limit) is None
    for refusal in (scan(over, LIMITS), refused_after_parsing(over)):
        assert refusal is not None
        assert refusal.extensions == {"code": STRINGS_TOO_LONG}


def test_an_unterminated_long_string_is_refused_before_the_lexer_reads_it() -> None:
    # given literals that never end (graphql-core reads them to the line's or text's end)
    for opening in ['"', '"""']:
        text = "{ a: node(id: " + opening + "x" * (LIMITS.max_string_chars + 1) + "\n) { id } }"
        # when / then the scan refuses them as too long, and the parser refuses them too
        refused = scan(text, LIMITS)
        assert refused is not None
        assert refused.extensions == {"code": STRINGS_TOO_LONG}
        assert refused_after_parsing(text) is not None


def test_a_fragment_defined_twice_does_not_stop_the_scan() -> None:
    # given a fragment defined twice (validation's to refuse), then a long literal
    text = "fragment A on User { id } fragment A on User { id } " + literals(
        '"x"', LIMITS.max_string_chars + 1
    )
    # when / then the scan still refuses the literal without parsing
    refused = scan(text, LIMITS)
    assert refused is not None
    assert refused.extensions == {"code": STRINGS_TOO_LONG}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_a_refusal_is_located_as_graphql_core_locates_it(newline: str) -> None:
    # given a document over a limit on its third line, after line breaks of one kind
    text = f"# a comment{newline}{newline}  {{ viewer {{ " + "id " * 40 + "} }"
    # when it is scanned
    error = scan(text, LIMITS)
    # then its location is the line and column graphql-core gives that position
    assert error is not None
    [position] = error.positions or ()
    assert error.locations == [Source(text).get_location(position)]
    assert error.locations[0].line == 3


def test_a_fan_out_is_refused_as_soon_as_it_is_certain() -> None:
    # given fragments that each spread the next twice, then a character the lexer refuses
    levels = 40
    fragments = " ".join(
        f"fragment F{n} on User {{ ...F{n + 1} ...F{n + 1} }}" for n in range(levels)
    )
    text = "{ viewer { ...F0 } } " + fragments + f" fragment F{levels} on User {{ id }} ^"
    # when it is scanned
    refused = scan(text, LIMITS)
    # then the fan-out refuses it before the scan reaches the stray character at the end
    assert refused is not None
    assert refused.extensions == {"code": QUERY_TOO_LARGE}
    assert refused_after_parsing(text) is not None


def test_fragments_defined_after_their_use_within_the_limit_pass() -> None:
    # given an operation spreading fragments defined after it, which spread others in turn
    names = [f"F{n}" for n in range(20)]
    spreads = " ".join(f"...{name}" for name in names)
    fragments = " ".join(f"fragment {name} on User {{ id displayName }}" for name in names)
    text = f"query Q {{ viewer {{ {spreads} }} }} {fragments}"
    # when / then neither the scan nor the limits refuse it
    assert refused_after_parsing(text) is None
    assert scan(text, LIMITS) is None
