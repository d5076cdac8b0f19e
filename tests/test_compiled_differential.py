"""Differential tests: the compiled executor answers exactly what graphql-core answers, for the
same document, variables and data (errors, paths and locations included), compared after
canonical JSON encoding.

The schema here is a small bank-like one whose resolvers fail, return null and take their time
as the generated data says, so that null propagation and error order are exercised on purpose.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import strawberry
from graphql import parse, validate
from graphql.execution.values import get_variable_values
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bff.api.compiled.nodes import execute_plan
from bff.api.compiled.plan import compile_operation, operation_of


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class Money:
    amount: str
    currency: str


@strawberry.type
class Entry(Node):
    spec: strawberry.Private[dict[str, Any]]

    @strawberry.field
    async def amount(self) -> Money:
        money: Money = await _behave(self.spec, "amount", Money(amount="1.00", currency="USD"))
        return money

    @strawberry.field
    async def memo(self) -> str | None:
        memo: str | None = await _behave(self.spec, "memo", "rent")
        return memo


@strawberry.type
class Account(Node):
    name: str
    spec: strawberry.Private[dict[str, Any]]

    @strawberry.field
    async def entries(self, first: int = 2) -> list[Entry]:
        entries = [
            Entry(id=strawberry.ID(f"{self.id}-{i}"), spec=s)
            for i, s in enumerate(self.spec["entries"][:first])
        ]
        listed: list[Entry] = await _behave(self.spec, "entries", entries)
        return listed

    @strawberry.field
    def balance(self) -> Money | None:
        if self.spec.get("balance") == "error":
            raise ValueError("balance unavailable")
        return None if self.spec.get("balance") == "null" else Money(amount="9", currency="EUR")


@strawberry.type
class Query:
    data: strawberry.Private[list[dict[str, Any]]]

    @strawberry.field
    async def accounts(self, info: strawberry.Info) -> list[Account | None]:
        return [
            None
            if spec.get("missing")
            else Account(id=strawberry.ID(f"a{i}"), name=f"n{i}", spec=spec)
            for i, spec in enumerate(info.context["data"])
        ]

    @strawberry.field
    async def node(self, info: strawberry.Info, id: strawberry.ID) -> Node | None:
        for i, spec in enumerate(info.context["data"]):
            if f"a{i}" == id:
                return _account(i, spec)
        return None

    @strawberry.field
    def greeting(self, name: str = "you") -> str:
        return f"hello {name}"


def _account(index: int, spec: dict[str, Any]) -> Account:
    return Account(id=strawberry.ID(f"a{index}"), name=f"n{index}", spec=spec)


async def _behave(spec: dict[str, Any], field: str, value: Any) -> Any:
    """Sleep the turns the spec says, then answer, answer null, or fail."""
    for _ in range(spec.get(f"{field}_turns", 0)):
        await asyncio.sleep(0)
    behaviour = spec.get(field)
    if behaviour == "error":
        raise ValueError(f"{field} failed")
    if behaviour == "null":
        return None
    return value


SCHEMA = strawberry.Schema(query=Query, types=[Account, Entry])

DOCUMENTS = [
    "{ __typename greeting }",
    'query G($n: String = "x") { greeting(name: $n) again: greeting }',
    """
    query Home {
      accounts { id name balance { amount currency }
        entries(first: 3) { id memo amount { amount currency } } }
    }
    """,
    """
    fragment Money on Money { amount currency }
    fragment E on Entry { memo amount { ...Money } }
    query Fragments($withMemo: Boolean!, $skipBalance: Boolean = false) {
      accounts {
        ... on Account { id }
        balance @skip(if: $skipBalance) { ...Money }
        entries { ...E memo @include(if: $withMemo) a: amount { currency } }
      }
    }
    """,
    """
    query Abstract($id: ID!) {
      node(id: $id) { __typename id ... on Account { name entries(first: 1) { memo } } }
      other: node(id: "nope") { id }
    }
    """,
]

behaviour = st.sampled_from([None, "null", "error"])
entry = st.fixed_dictionaries(
    {},
    optional={
        "amount": behaviour,
        "memo": behaviour,
        "amount_turns": st.integers(0, 2),
        "memo_turns": st.integers(0, 2),
    },
)
account = st.fixed_dictionaries(
    {"entries": st.lists(entry, max_size=3)},
    optional={
        "missing": st.booleans(),
        "balance": behaviour,
        "entries_turns": st.integers(0, 2),
    },
)
variables = st.fixed_dictionaries(
    {},
    optional={
        "n": st.text(max_size=3),
        "withMemo": st.booleans(),
        "skipBalance": st.booleans(),
        "id": st.sampled_from(["a0", "a1", "zz"]),
    },
)


def _canonical(result: Any) -> str:
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    return json.dumps(body, sort_keys=True)


async def _both(document: str, data: list[dict[str, Any]], raw: dict[str, Any]) -> tuple[str, str]:
    parsed = parse(document)
    assert not validate(SCHEMA._schema, parsed)
    operation = operation_of(parsed, None)
    assert operation is not None
    context = {"data": data}
    expected = await _graphql_core(parsed, context, raw)
    coerced = get_variable_values(SCHEMA._schema, operation.variable_definitions or (), raw)
    if isinstance(coerced, list):
        return expected, expected  # graphql-core refuses the variables; so does the server
    plan = compile_operation(SCHEMA, parsed, operation, coerced)
    return expected, _canonical(await execute_plan(plan, context, coerced))


async def _graphql_core(parsed: Any, context: Any, raw: dict[str, Any]) -> str:
    from graphql import execute

    result = execute(SCHEMA._schema, parsed, context_value=context, variable_values=raw)
    return _canonical(await result if asyncio.iscoroutine(result) else result)


@pytest.mark.parametrize("document", DOCUMENTS)
@settings(max_examples=60, deadline=None)
@given(data=st.lists(account, max_size=3), raw=variables)
@example(
    # Sibling async fields failing in the same turn: graphql-core lets every task woken in that
    # turn take its step before the first failure propagates.
    data=[{"entries": [{"amount": "error"}, {"amount": "error", "memo": "error"}]}],
    raw={"withMemo": True},
)
def test_compiled_answers_exactly_as_graphql_core(
    document: str, data: list[dict[str, Any]], raw: dict[str, Any]
) -> None:
    expected, compiled = asyncio.run(_both(document, data, raw))
    assert compiled == expected
