"""The screening rules through GraphQL: fraud analysts read them and change them without a
deploy; each change is a new version, audited with the rules before and after, and decides the
very next transfer; a stale or malformed change is a typed error, and others are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bff.domain import fraud_rules
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id
from tests.conftest import Person, World, graphql
from tests.documents import FRAUD_RULES, UPDATE_FRAUD_RULES
from tests.screened import model_file, screened, screened_client, send

__all__ = ["model_file", "screened", "screened_client"]  # the fixtures used here


@pytest.fixture
async def analyst(world: World, screened: Runtime) -> AsyncIterator[Person]:
    """A fraud analyst; the thresholds they leave are put back afterwards."""
    person = await world.person(Role.FRAUD_ANALYST)
    before = await fraud_rules.current_rules(screened.unit_of_work(), person.actor)
    yield person
    now = await fraud_rules.current_rules(screened.unit_of_work(), person.actor)
    restore = fraud_rules.RulesChange(
        now.version,
        "test: thresholds back",
        step_up_at=before.step_up_at,
        review_at=before.review_at,
        block_at=before.block_at,
    )
    await fraud_rules.update_rules(screened.unit_of_work(), person.actor, restore)


async def rules(client: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    body = await graphql(client, FRAUD_RULES, {}, person)
    return body["data"]["fraudRules"]  # type: ignore[no-any-return]


async def update(client: httpx.AsyncClient, person: Person, **change: Any) -> dict[str, Any]:
    body = await graphql(client, UPDATE_FRAUD_RULES, {"input": change}, person)
    return body["data"]["updateFraudRules"]  # type: ignore[no-any-return]


async def test_a_new_threshold_decides_the_next_transfer(
    screened_client: httpx.AsyncClient, world: World, analyst: Person
) -> None:
    # given a customer whose small transfer to a friend is allowed
    alice, bob = await world.person(), await world.person()
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(bob, "USD")
    assert (await send(screened_client, alice, source, destination, "1.00"))["userErrors"] == []
    current = await rules(screened_client, analyst)
    # when an analyst lowers every threshold to 0
    changed = await update(
        screened_client,
        analyst,
        version=current["version"],
        note="incident: block everything",
        stepUpAt=0,
        reviewAt=0,
        blockAt=0,
    )
    # then it is the next version, and the very next transfer is refused
    assert changed["userErrors"] == []
    assert changed["rules"]["version"] == current["version"] + 1
    assert changed["rules"]["blockAt"] == 0
    refused = await send(screened_client, alice, source, destination, "1.00")
    assert [e["code"] for e in refused["userErrors"]] == ["TRANSFER_BLOCKED"]
    # when the analyst puts Bob's account on the allow list
    allowed = await update(
        screened_client,
        analyst,
        version=current["version"] + 1,
        note="Bob is a known merchant",
        allowAccountIds=[encode_id("Account", destination.id)],
    )
    assert allowed["rules"]["allowAccountIds"] == [encode_id("Account", destination.id)]
    # then transfers to him post again; a per-customer limit holds a larger one for review
    posted = await send(screened_client, alice, source, destination, "1.00")
    assert posted["transfer"]["status"] == "COMPLETED"
    limited = await update(
        screened_client,
        analyst,
        version=current["version"] + 2,
        note="Alice: 5.00 per transfer",
        allowAccountIds=[],
        blockAt=1,
        reviewAt=1,
        stepUpAt=1,
        limits=[{"userId": encode_id("User", alice.user.id), "maxMinorUnits": "500"}],
    )
    assert limited["userErrors"] == []
    held = await send(screened_client, alice, source, destination, "6.00")
    assert held["transfer"]["status"] == "PENDING"


async def test_each_change_is_audited_with_the_rules_before_and_after(
    screened_client: httpx.AsyncClient, screened: Runtime, analyst: Person
) -> None:
    current = await rules(screened_client, analyst)
    # when an analyst raises the review threshold
    changed = await update(
        screened_client,
        analyst,
        version=current["version"],
        note="fewer reviews",
        reviewAt=min(current["reviewAt"] + 0.01, current["blockAt"]),
    )
    version = changed["rules"]["version"]
    # then the audit log has the change, by the analyst, with both versions of the rules
    async with screened.database.engine.connect() as connection:
        [row] = await connection.execute(
            text(
                "SELECT actor_id, detail FROM audit_log WHERE operation = 'fraud_rules.change'"
                " AND object_id = :version"
            ),
            {"version": str(version)},
        )
    assert row.actor_id == analyst.user.id
    assert row.detail["before"]["review_at"] == current["reviewAt"]
    assert row.detail["after"]["review_at"] == changed["rules"]["reviewAt"]
    assert row.detail["note"] == "fewer reviews"


async def test_a_stale_or_malformed_change_is_refused_and_changes_nothing(
    screened_client: httpx.AsyncClient, world: World, analyst: Person
) -> None:
    current = await rules(screened_client, analyst)
    version = current["version"]
    cases = [
        ({"version": version - 1, "reviewAt": 0.8}, "RULES_CHANGED", "version"),
        ({"version": version, "reviewAt": 1.5}, "INVALID_INPUT", "reviewAt"),
        ({"version": version, "stepUpAt": 0.9, "reviewAt": 0.8}, "INVALID_INPUT", "reviewAt"),
        (
            {
                "version": version,
                "limits": [{"userId": encode_id("User", analyst.user.id), "maxMinorUnits": "-5"}],
            },
            "INVALID_INPUT",
            "limits.maxMinorUnits",
        ),
        ({"version": version, "blockAccountIds": ["nope"]}, "INVALID_ID", "blockAccountIds"),
    ]
    for change, code, field in cases:
        # when a change is stale or out of range
        answer = await update(screened_client, analyst, note="bad", **change)
        # then it is a typed error on the field at fault
        assert [(e["code"], e["field"]) for e in answer["userErrors"]] == [(code, field)], change
    assert await rules(screened_client, analyst) == current


async def test_customers_and_other_staff_cannot_read_or_change_the_rules(
    screened_client: httpx.AsyncClient, world: World
) -> None:
    for role in (Role.CUSTOMER, Role.SUPPORT, Role.AUDITOR):
        person = await world.person(role)
        # when they read the rules, or try to loosen them
        read = await graphql(screened_client, FRAUD_RULES, {}, person)
        change = await update(screened_client, person, version=0, note="me", blockAt=1)
        # then both are refused
        assert read["data"] is None
        assert read["errors"][0]["extensions"]["code"] == "PERMISSION_DENIED"
        assert [e["code"] for e in change["userErrors"]] == ["PERMISSION_DENIED"]
        assert change["rules"] is None
