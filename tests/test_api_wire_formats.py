"""What frontend code parses, as the endpoint sends it: DateTime strings and PageInfo."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from graphql import GraphQLScalarType

from bff import app
from schema.ids import encode_id
from tests.conftest import World, graphql

# The form the DateTime scalar's description promises: RFC 3339, microseconds, UTC offset.
RFC_3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00")

TIMES = """
query Times($id: ID!) {
  viewer { createdAt sessions { createdAt lastUsedAt expiresAt } }
  account(id: $id) { createdAt transactions(first: 1) { edges { node { createdAt
    transfer { createdAt } } } } }
}
"""

PAGE = """
query Page($id: ID!, $after: String) {
  account(id: $id) {
    transactions(first: 2, after: $after) {
      edges { cursor }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}
"""


async def test_every_date_time_is_rfc_3339_in_utc_with_microseconds(
    client: httpx.AsyncClient, world: World
) -> None:
    # given a user with a session and an account with a deposit
    owner = await world.person()
    account = await world.account(owner, funds="1.00")
    # when
    body = await graphql(client, TIMES, {"id": encode_id("Account", account.id)}, owner)
    # then
    viewer, account_data = body["data"]["viewer"], body["data"]["account"]
    node = account_data["transactions"]["edges"][0]["node"]
    session = viewer["sessions"][0]
    values = [
        viewer["createdAt"],
        session["createdAt"],
        session["lastUsedAt"],
        session["expiresAt"],
        account_data["createdAt"],
        node["createdAt"],
        node["transfer"]["createdAt"],
    ]
    assert [value for value in values if not RFC_3339_UTC.fullmatch(value)] == []
    assert datetime.fromisoformat(account_data["createdAt"]) <= datetime.now(UTC)


def test_date_times_are_sent_in_utc_with_six_fractional_digits_even_when_zero() -> None:
    # given the DateTime scalar the schema serves
    scalar = app.build_schema()._schema.get_type("DateTime")
    assert isinstance(scalar, GraphQLScalarType)
    # when a whole second in another time zone is sent
    sent = scalar.serialize(datetime(2026, 11, 28, 16, 3, 7, tzinfo=timezone(timedelta(hours=2))))
    # then
    assert sent == "2026-11-28T14:03:07.000000+00:00"


def test_a_date_time_without_a_time_zone_is_refused_rather_than_guessed() -> None:
    # given
    scalar = app.build_schema()._schema.get_type("DateTime")
    assert isinstance(scalar, GraphQLScalarType)
    # when / then
    with pytest.raises(ValueError, match="UTC offset"):
        scalar.serialize(datetime(2026, 11, 28, 14, 3, 7))


async def test_page_info_gives_both_ends_of_each_page(
    client: httpx.AsyncClient, world: World
) -> None:
    # given an account with three transactions
    owner = await world.person()
    account = await world.account(owner)
    for amount in ("1.00", "2.00", "3.00"):
        await world.deposit(account, amount)
    variables: dict[str, str | None] = {"id": encode_id("Account", account.id), "after": None}
    # when paging forward to the end and one page past it
    pages = []
    for _ in range(3):
        page = (await graphql(client, PAGE, variables, owner))["data"]["account"]["transactions"]
        pages.append(page)
        variables["after"] = page["pageInfo"]["endCursor"]
    # then each page's cursors are its first and last items'
    for page in pages[:2]:
        cursors = [edge["cursor"] for edge in page["edges"]]
        assert page["pageInfo"]["startCursor"] == cursors[0]
        assert page["pageInfo"]["endCursor"] == cursors[-1]
    # and forward pagination answers false for hasPreviousPage, as its description says
    assert [page["pageInfo"]["hasPreviousPage"] for page in pages] == [False, False, False]
    assert pages[2]["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }
