"""Passkeys through GraphQL, against a software authenticator (tests/passkey_device.py) that
makes real P-256 credentials and assertions: a customer registers one and confirms a transfer
held for step-up with it; wrong keys, replays and clones, other challenges and origins, late
answers and other sessions post nothing; only the signed-in customer manages their passkeys."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bff.config import Settings
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import decode_id, encode_id
from tests.conftest import Person, World, graphql
from tests.oauth_party import ThirdParty, app, connect, oauth_runtime, oauth_world, party
from tests.passkey_device import Authenticator, b64url, other_key
from tests.test_fraud_screening import client, model_file, screened
from tests.test_second_factors import code_at, enrolled, wrong
from tests.test_step_up import (
    assert_voided,
    balances,
    posted_with,
    send,
    short_step_up,
    status_of,
    step_up_rules,
)

# The fixtures used here.
__all__ = [
    "app",
    "client",
    "model_file",
    "oauth_runtime",
    "oauth_world",
    "party",
    "screened",
    "step_up_rules",
]

BEGIN_REGISTRATION = """
mutation { beginPasskeyRegistration { options proofOptions userErrors { code field } } }
"""
FINISH_REGISTRATION = """
mutation ($input: PasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) {
    passkey { id createdAt } userErrors { code field }
  }
}
"""
BEGIN_REMOVAL = """
mutation ($id: ID!) {
  beginPasskeyRemoval(input: {passkeyId: $id}) { options userErrors { code field } }
}
"""
REMOVE = """
mutation ($input: RemovePasskeyInput!) {
  removePasskey(input: $input) { done userErrors { code field } }
}
"""
ENROLL_APP = "mutation { enrollTotp { enrollment { secret proofOptions } } }"
CONFIRM_APP = """
mutation ($input: ConfirmTotpEnrollmentInput!) {
  confirmTotpEnrollment(input: $input) { done userErrors { code field } }
}
"""
BEGIN_CONFIRMATION = """
mutation ($challenge: ID!) {
  beginPasskeyConfirmation(input: {challengeId: $challenge}) { options userErrors { code field } }
}
"""
CONFIRM = """
mutation ($challenge: ID!, $assertion: String!) {
  confirmTransfer(input: {challengeId: $challenge, passkeyAssertion: $assertion}) {
    transfer { id status } userErrors { code field }
  }
}
"""


async def call(
    client: httpx.AsyncClient,
    document: str,
    person: Person | None,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload of the document's one mutation."""
    [payload] = (await graphql(client, document, variables, person))["data"].values()
    return payload  # type: ignore[no-any-return]


def device_for(settings: Settings) -> Authenticator:
    """A new device on the bank's (first) origin."""
    return Authenticator(settings.relying_party.origins[0])


async def registered(client: httpx.AsyncClient, person: Person, device: Authenticator) -> str:
    """Register the device's passkey for `person`; the passkey's ID."""
    options = (await call(client, BEGIN_REGISTRATION, person))["options"]
    credential = device.create(options)
    finished = await call(
        client, FINISH_REGISTRATION, person, {"input": {"credential": credential}}
    )
    assert finished["userErrors"] == []
    return str(finished["passkey"]["id"])


async def removal(
    client: httpx.AsyncClient, person: Person, passkey_id: str, device: Authenticator
) -> dict[str, Any]:
    """Remove the passkey with `device`'s assertion over its removal's options as the proof."""
    begun = await call(client, BEGIN_REMOVAL, person, {"id": passkey_id})
    assert begun["userErrors"] == []
    variables = {
        "input": {"passkeyId": passkey_id, "passkeyAssertion": device.get(begun["options"])}
    }
    return await call(client, REMOVE, person, variables)


async def held(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> tuple[Person, Authenticator, Any, str, str]:
    """A customer with a passkey (and no authenticator app) whose 40.00 transfer is held for
    step-up: the customer, their device, the source account, the transfer and its challenge."""
    alice = await world.person()
    device = device_for(settings)
    await registered(client, alice, device)
    source = await world.account(alice, "USD", funds="100.00")
    destination = await world.account(await world.person(), "USD")
    payload = await send(client, alice, source, destination)
    [error] = payload["userErrors"]
    assert error["code"] == "STEP_UP_REQUIRED"
    return alice, device, source, payload["transfer"]["id"], error["challengeId"]


async def assertion_options(client: httpx.AsyncClient, person: Person, challenge: str) -> str:
    payload = await call(client, BEGIN_CONFIRMATION, person, {"challenge": challenge})
    assert payload["userErrors"] == []
    return str(payload["options"])


async def confirm(
    client: httpx.AsyncClient, person: Person | None, challenge: str, assertion: str
) -> dict[str, Any]:
    variables = {"challenge": challenge, "assertion": assertion}
    return await call(client, CONFIRM, person, variables)


async def sign_count(runtime: Runtime, passkey_id: str) -> int:
    async with runtime.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT sign_count FROM second_factors WHERE id = :id"),
            {"id": decode_id(passkey_id, "Passkey", "passkeyId")},
        )
        return int(found.scalar_one())


WRONG = [{"code": "INVALID_SECOND_FACTOR", "field": "passkeyAssertion"}]
PHISHING = "https://bank.example.evil"


def with_challenge(options: str, challenge: bytes) -> str:
    """The options, as a page other than the bank's would make them, with its own challenge."""
    return json.dumps({**json.loads(options), "challenge": b64url(challenge)})


# --- registration ---------------------------------------------------------------------------


async def test_a_customer_registers_a_passkey_once_per_challenge_and_removes_it(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a signed-in customer and her phone
    alice = await world.person()
    device = device_for(screened.settings)
    # when she begins registering a passkey
    begun = await call(client, BEGIN_REGISTRATION, alice)
    # then she gets creation options for the bank's relying party, naming her
    assert begun["userErrors"] == []
    options = json.loads(begun["options"])
    assert options["rp"] == {"id": "localhost", "name": screened.settings.webauthn_rp_name}
    assert options["user"]["name"] == alice.user.email
    assert options["authenticatorSelection"]["userVerification"] == "required"
    # when her phone answers them
    credential = device.create(begun["options"])
    finished = await call(client, FINISH_REGISTRATION, alice, {"input": {"credential": credential}})
    # then the passkey is hers, its counter stored; the same answer again finds nothing to finish
    assert finished["userErrors"] == []
    passkey_id = finished["passkey"]["id"]
    assert await sign_count(screened, passkey_id) == 0
    again = await call(client, FINISH_REGISTRATION, alice, {"input": {"credential": credential}})
    assert again["userErrors"] == [{"code": "NO_PENDING_ENROLLMENT", "field": None}]
    # and a second registration excludes the phone's credential, and may be proven by it
    second = await call(client, BEGIN_REGISTRATION, alice)
    options = json.loads(second["options"])
    assert [c["id"] for c in options["excludeCredentials"]] == [json.loads(credential)["id"]]
    proof_options = json.loads(second["proofOptions"])
    assert proof_options["challenge"] == options["challenge"]
    assert [c["id"] for c in proof_options["allowCredentials"]] == [json.loads(credential)["id"]]
    # when Mallory tries to remove it, then Alice does with its proof
    mallory = await world.person()
    theirs = await call(client, BEGIN_REMOVAL, mallory, {"id": passkey_id})
    removed = await removal(client, alice, passkey_id, device)
    # then only Alice's removal works, once
    not_found = [{"code": "PASSKEY_NOT_FOUND", "field": "passkeyId"}]
    assert theirs == {"options": None, "userErrors": not_found}
    assert removed == {"done": True, "userErrors": []}
    again = await call(client, REMOVE, alice, {"input": {"passkeyId": passkey_id}})
    assert again == {"done": False, "userErrors": not_found}


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param("origin", id="another-origin"),
        pytest.param("challenge", id="another-challenge"),
        pytest.param("garbage", id="not-a-credential"),
    ],
)
async def test_a_registration_that_does_not_answer_the_bank_is_refused_and_spent(
    client: httpx.AsyncClient, world: World, screened: Runtime, forge: str
) -> None:
    # given a registration begun by Alice
    alice = await world.person()
    device = device_for(screened.settings)
    begun_first = await call(client, BEGIN_REGISTRATION, alice)
    options = begun_first["options"]
    # when the response comes from a phishing page, answers options of its own, or is garbage
    if forge == "origin":
        credential = device.create(options, origin=PHISHING)
    elif forge == "challenge":
        credential = device.create(with_challenge(options, b"not the bank's"))
    else:
        credential = "{not json"
    refused = await call(client, FINISH_REGISTRATION, alice, {"input": {"credential": credential}})
    # then it is refused, and the registration is spent: even the right answer comes too late
    assert begun_first["proofOptions"] is None
    assert refused == {
        "passkey": None,
        "userErrors": [{"code": "INVALID_SECOND_FACTOR", "field": "credential"}],
    }
    late = await call(
        client, FINISH_REGISTRATION, alice, {"input": {"credential": device.create(options)}}
    )
    assert late["userErrors"] == [{"code": "NO_PENDING_ENROLLMENT", "field": None}]


async def test_a_customer_with_an_authenticator_app_proves_it_to_add_a_passkey(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with an authenticator app, and a thief holding her session
    alice = await world.person()
    secret = await enrolled(client, alice)
    device = device_for(screened.settings)
    # when the thief registers his own device's passkey without her app's code, or with a guess
    credential = device.create((await call(client, BEGIN_REGISTRATION, alice))["options"])
    unproven = await call(client, FINISH_REGISTRATION, alice, {"input": {"credential": credential}})
    guessed = await call(
        client,
        FINISH_REGISTRATION,
        alice,
        {"input": {"credential": credential, "totpCode": wrong(code_at(secret, 1))}},
    )
    # then both are refused, and the guess spent the registration
    assert unproven["userErrors"] == [{"code": "SECOND_FACTOR_PROOF_REQUIRED", "field": "totpCode"}]
    assert guessed["userErrors"] == [{"code": "INVALID_SECOND_FACTOR", "field": "totpCode"}]
    assert await passkey_ids(screened, alice) == []
    # when Alice registers her phone with her app's current code
    credential = device.create((await call(client, BEGIN_REGISTRATION, alice))["options"])
    proven = await call(
        client,
        FINISH_REGISTRATION,
        alice,
        {"input": {"credential": credential, "totpCode": code_at(secret, 1)}},
    )
    # then it is hers
    assert proven["userErrors"] == []
    assert await passkey_ids(screened, alice) == [proven["passkey"]["id"]]


async def test_a_customer_with_a_passkey_proves_it_with_that_passkey_to_add_another(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with a passkey on her phone, registering her laptop
    alice = await world.person()
    phone, laptop = device_for(screened.settings), device_for(screened.settings)
    await registered(client, alice, phone)
    begun = await call(client, BEGIN_REGISTRATION, alice)
    credential = laptop.create(begun["options"])
    # when the proof is signed by a key that is not the phone's
    forged = phone.get(begun["proofOptions"], key=other_key())
    refused = await call(
        client,
        FINISH_REGISTRATION,
        alice,
        {"input": {"credential": credential, "passkeyAssertion": forged}},
    )
    # then it is refused
    assert refused["userErrors"] == [{"code": "INVALID_SECOND_FACTOR", "field": "passkeyAssertion"}]
    # when her phone signs the proof options of a new registration
    begun = await call(client, BEGIN_REGISTRATION, alice)
    credential = laptop.create(begun["options"])
    proof = phone.get(begun["proofOptions"])
    proven = await call(
        client,
        FINISH_REGISTRATION,
        alice,
        {"input": {"credential": credential, "passkeyAssertion": proof}},
    )
    # then the laptop's passkey is hers too
    assert proven["userErrors"] == []
    assert len(await passkey_ids(screened, alice)) == 2


async def test_a_customer_with_a_passkey_proves_it_to_add_an_authenticator_app(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with a passkey on her phone, and a thief holding her session
    alice = await world.person()
    phone = device_for(screened.settings)
    await registered(client, alice, phone)
    # when the thief enrolls his own authenticator app and confirms it with its code alone
    enrollment = (await call(client, ENROLL_APP, alice))["enrollment"]
    unproven = await call(
        client, CONFIRM_APP, alice, {"input": {"code": code_at(enrollment["secret"])}}
    )
    # then it is refused: the enrollment needs her passkey's proof
    assert unproven["userErrors"] == [
        {"code": "SECOND_FACTOR_PROOF_REQUIRED", "field": "passkeyAssertion"}
    ]
    # when the proof is signed by another key, it is refused and spends the enrollment
    forged = phone.get(enrollment["proofOptions"], key=other_key())
    variables = {"input": {"code": code_at(enrollment["secret"]), "passkeyAssertion": forged}}
    refused = await call(client, CONFIRM_APP, alice, variables)
    assert refused["userErrors"] == [{"code": "INVALID_SECOND_FACTOR", "field": "passkeyAssertion"}]
    async with screened.database.engine.connect() as connection:
        pending = await connection.execute(
            text("SELECT count(*) FROM second_factors WHERE user_id = :u AND kind = 'totp'"),
            {"u": alice.user.id},
        )
        assert pending.scalar_one() == 0
    # when Alice enrolls again and her phone signs the enrollment's proof options
    enrollment = (await call(client, ENROLL_APP, alice))["enrollment"]
    proof = phone.get(enrollment["proofOptions"])
    variables = {"input": {"code": code_at(enrollment["secret"]), "passkeyAssertion": proof}}
    proven = await call(client, CONFIRM_APP, alice, variables)
    # then her authenticator app is enrolled
    assert proven == {"done": True, "userErrors": []}


# --- removal ---------------------------------------------------------------------------------


async def removals_audited(runtime: Runtime, person: Person) -> list[tuple[str, str]]:
    """The passkeys whose removal is audited for `person`, oldest first, with the kind."""
    async with runtime.database.engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT object_id, detail->>'kind' FROM audit_log"
                " WHERE subject_id = :u AND operation = 'second_factor.remove' ORDER BY id"
            ),
            {"u": person.user.id},
        )
        return [(encode_id("Passkey", uuid.UUID(raw)), kind) for raw, kind in found.all()]


async def test_removing_a_passkey_takes_proof_by_a_passkey(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with passkeys on her phone and her laptop, and a thief holding her session
    alice = await world.person()
    phone, laptop = device_for(screened.settings), device_for(screened.settings)
    phone_id = await registered(client, alice, phone)
    begun = await call(client, BEGIN_REGISTRATION, alice)
    proof = phone.get(begun["proofOptions"])
    variables = {
        "input": {"credential": laptop.create(begun["options"]), "passkeyAssertion": proof}
    }
    laptop_id = (await call(client, FINISH_REGISTRATION, alice, variables))["passkey"]["id"]
    # when the thief removes the laptop's passkey without proof
    unproven = await call(client, REMOVE, alice, {"input": {"passkeyId": laptop_id}})
    # then it is refused, and nothing changed
    assert unproven == {
        "done": False,
        "userErrors": [{"code": "SECOND_FACTOR_PROOF_REQUIRED", "field": "totpCode"}],
    }
    assert sorted(await passkey_ids(screened, alice)) == sorted([phone_id, laptop_id])
    # when he asks for the removal's options, and answers them with a key that is not hers
    options = (await call(client, BEGIN_REMOVAL, alice, {"id": laptop_id}))["options"]
    assert {c["id"] for c in json.loads(options)["allowCredentials"]} == {
        json.loads(proof)["id"],
        b64url(laptop.credential_id),
    }
    forged = phone.get(options, key=other_key())
    refused = await call(
        client, REMOVE, alice, {"input": {"passkeyId": laptop_id, "passkeyAssertion": forged}}
    )
    # then it is refused and spends the options: even the phone's own answer to them comes late
    assert refused == {"done": False, "userErrors": WRONG}
    late = phone.get(options)
    spent = await call(
        client, REMOVE, alice, {"input": {"passkeyId": laptop_id, "passkeyAssertion": late}}
    )
    assert spent == {"done": False, "userErrors": WRONG}
    assert sorted(await passkey_ids(screened, alice)) == sorted([phone_id, laptop_id])
    assert await removals_audited(screened, alice) == []
    # when Alice removes the laptop's passkey with her phone's answer to new options
    options = (await call(client, BEGIN_REMOVAL, alice, {"id": laptop_id}))["options"]
    answer = phone.get(options)
    removed = await call(
        client, REMOVE, alice, {"input": {"passkeyId": laptop_id, "passkeyAssertion": answer}}
    )
    # then it is gone, and its removal audited
    assert removed == {"done": True, "userErrors": []}
    assert await passkey_ids(screened, alice) == [phone_id]
    assert await removals_audited(screened, alice) == [(laptop_id, "passkey")]
    # when that answer is replayed to remove the phone's passkey, once its removal was asked
    assert (await call(client, BEGIN_REMOVAL, alice, {"id": phone_id}))["userErrors"] == []
    replayed = await call(
        client, REMOVE, alice, {"input": {"passkeyId": phone_id, "passkeyAssertion": answer}}
    )
    # then it is refused, and the phone's passkey stays
    assert replayed == {"done": False, "userErrors": WRONG}
    assert await passkey_ids(screened, alice) == [phone_id]
    assert await removals_audited(screened, alice) == [(laptop_id, "passkey")]


async def test_removing_a_passkey_takes_proof_by_the_authenticator_app(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with a passkey, and an authenticator app enrolled with its proof
    alice = await world.person()
    phone = device_for(screened.settings)
    passkey_id = await registered(client, alice, phone)
    enrollment = (await call(client, ENROLL_APP, alice))["enrollment"]
    secret, used = enrollment["secret"], code_at(enrollment["secret"])
    variables = {"input": {"code": used, "passkeyAssertion": phone.get(enrollment["proofOptions"])}}
    assert (await call(client, CONFIRM_APP, alice, variables))["userErrors"] == []
    # when the passkey's removal is proven with a wrong code, and with the code used already
    wrong_code = [{"code": "INVALID_SECOND_FACTOR", "field": "totpCode"}]
    for code in (wrong(code_at(secret, 1)), used):
        refused = await call(
            client, REMOVE, alice, {"input": {"passkeyId": passkey_id, "totpCode": code}}
        )
        # then it is refused, and the passkey stays
        assert refused == {"done": False, "userErrors": wrong_code}
    assert await passkey_ids(screened, alice) == [passkey_id]
    # when it is proven with a current code not used before
    variables = {"input": {"passkeyId": passkey_id, "totpCode": code_at(secret, 1)}}
    removed = await call(client, REMOVE, alice, variables)
    # then the passkey is removed, and audited
    assert removed == {"done": True, "userErrors": []}
    assert await passkey_ids(screened, alice) == []
    assert await removals_audited(screened, alice) == [(passkey_id, "passkey")]


async def test_erasing_a_customer_deletes_her_passkeys(
    client: httpx.AsyncClient, world: World, screened: Runtime
) -> None:
    # given a customer with a passkey
    alice = await world.person()
    await registered(client, alice, device_for(screened.settings))
    # when an admin erases her
    admin = await world.person(Role.ADMIN)
    erase = "mutation ($input: EraseUserInput!) { eraseUser(input: $input) { erasedUserId } }"
    variables = {"input": {"userId": encode_id("User", alice.user.id), "reason": "GDPR 17"}}
    assert (await call(client, erase, admin, variables))["erasedUserId"] is not None
    # then her devices' credentials are gone with her
    assert await passkey_ids(screened, alice) == []


# --- step-up --------------------------------------------------------------------------------


@pytest.mark.usefixtures("step_up_rules")
async def test_a_passkey_assertion_posts_the_held_transfer_once(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a transfer of Alice's held for step-up; she has a passkey and no authenticator app
    alice, device, source, transfer_id, challenge = await held(client, world, screened.settings)
    assert await balances(screened, source) == (10_000, 6_000)
    # when she asks for assertion options for the challenge
    options = json.loads(await assertion_options(client, alice, challenge))
    # then they ask for her passkey, with user verification, on the bank's relying party
    assert options["rpId"] == "localhost"
    assert [c["id"] for c in options["allowCredentials"]] == [b64url(device.credential_id)]
    assert options["userVerification"] == "required"
    # when her phone signs them and she confirms the transfer with the assertion
    assertion = device.get(json.dumps(options))
    confirmed = await confirm(client, alice, challenge, assertion)
    # then it posts, audited with the passkey as the factor
    assert confirmed == {"transfer": {"id": transfer_id, "status": "COMPLETED"}, "userErrors": []}
    assert await posted_with(screened, source, transfer_id) == ["passkey"]
    # when the same assertion is sent again
    replayed = await confirm(client, alice, challenge, assertion)
    # then the challenge is used up, and nothing posts twice
    assert replayed["userErrors"] == [{"code": "STEP_UP_CHALLENGE_USED", "field": "challengeId"}]
    assert await balances(screened, source) == (6_000, 6_000)


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param("key", id="wrong-key"),
        pytest.param("origin", id="another-origin"),
        pytest.param("challenge", id="another-challenge"),
        pytest.param("garbage", id="not-an-assertion"),
    ],
)
@pytest.mark.usefixtures("step_up_rules")
async def test_an_assertion_that_does_not_answer_the_challenge_is_refused(
    client: httpx.AsyncClient, screened: Runtime, world: World, forge: str
) -> None:
    # given a held transfer of Alice's, and the options she asked for it
    alice, device, source, transfer_id, challenge = await held(client, world, screened.settings)
    options = await assertion_options(client, alice, challenge)
    # when the assertion is signed by another key, made on a phishing page, signs a challenge
    # the bank did not hand out, or is garbage
    if forge == "key":
        assertion = device.get(options, key=other_key())
    elif forge == "origin":
        assertion = device.get(options, origin=PHISHING)
    elif forge == "challenge":
        assertion = device.get(with_challenge(options, b"some other challenge"))
    else:
        assertion = '{"id": 1}'

    refused = await confirm(client, alice, challenge, assertion)
    # then it counts as a wrong answer, and the transfer is still held
    assert refused == {"transfer": None, "userErrors": WRONG}
    assert await status_of(screened, transfer_id) == "pending"
    assert await balances(screened, source) == (10_000, 6_000)
    # and the options are spent by it: the genuine assertion over them is refused too
    assert (await confirm(client, alice, challenge, device.get(options)))["userErrors"] == WRONG


@pytest.mark.usefixtures("step_up_rules")
async def test_a_cloned_authenticator_whose_counter_did_not_move_is_refused(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given Alice confirmed one held transfer with her passkey
    alice, device, source, _, first = await held(client, world, screened.settings)
    first_assertion = device.get(await assertion_options(client, alice, first))
    assert (await confirm(client, alice, first, first_assertion))["userErrors"] == []
    counter = device.sign_count
    # and a second transfer of hers is held
    destination = await world.account(await world.person(), "USD")
    [error] = (await send(client, alice, source, destination))["userErrors"]
    second = error["challengeId"]
    # when the first assertion is replayed on the second challenge, and when a clone of her key
    # pair (its counter where hers was) signs the second challenge's options
    await assertion_options(client, alice, second)
    replayed = await confirm(client, alice, second, first_assertion)
    cloned = device.get(await assertion_options(client, alice, second), counter_moves=False)
    refused = await confirm(client, alice, second, cloned)
    # then both are refused, the stored counter unchanged; her own phone's next assertion works
    assert replayed["userErrors"] == WRONG
    assert refused["userErrors"] == WRONG
    [passkey_id] = await passkey_ids(screened, alice)
    assert await sign_count(screened, passkey_id) == counter
    posted = await confirm(
        client, alice, second, device.get(await assertion_options(client, alice, second))
    )
    assert posted["transfer"]["status"] == "COMPLETED"
    assert await sign_count(screened, passkey_id) == counter + 1


async def passkey_ids(runtime: Runtime, person: Person) -> list[str]:
    async with runtime.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT id FROM second_factors WHERE user_id = :u AND kind = 'passkey'"),
            {"u": person.user.id},
        )
        return [encode_id("Passkey", raw) for raw in found.scalars()]


@pytest.mark.usefixtures("step_up_rules")
async def test_too_many_wrong_assertions_void_the_transfer(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a held transfer
    alice, device, source, transfer_id, challenge = await held(client, world, screened.settings)
    limit = screened.settings.step_up_max_failures
    # when assertions by another key are sent, as many as the challenge allows
    answers = []
    for _ in range(limit):
        forged = device.get(await assertion_options(client, alice, challenge), key=other_key())
        answers.append((await confirm(client, alice, challenge, forged))["userErrors"][0]["code"])
    # then the last one fails the challenge, and the transfer is voided, its money released
    assert answers == ["INVALID_SECOND_FACTOR"] * (limit - 1) + ["STEP_UP_FAILED"]
    assert await status_of(screened, transfer_id) == "cancelled"
    assert await balances(screened, source) == (10_000, 10_000)
    # and no options are handed out for it any more
    late = await call(client, BEGIN_CONFIRMATION, alice, {"challenge": challenge})
    assert late["userErrors"][0]["code"] in {"STEP_UP_CHALLENGE_USED", "LOGIN_THROTTLED"}


@pytest.mark.usefixtures("step_up_rules")
async def test_only_the_session_that_made_the_transfer_can_answer_with_a_passkey(
    client: httpx.AsyncClient, screened: Runtime, world: World
) -> None:
    # given a held transfer, its options asked by Alice's session, and Alice on another device
    alice, device, _, transfer_id, challenge = await held(client, world, screened.settings)
    assertion = device.get(await assertion_options(client, alice, challenge))
    other_device = await world.log_in(alice.user)
    # when the other session asks for options, or sends her genuine assertion
    asked = await call(client, BEGIN_CONFIRMATION, other_device, {"challenge": challenge})
    answered = await confirm(client, other_device, challenge, assertion)
    # then the challenge does not exist for it, and the transfer is still held
    missing = [{"code": "STEP_UP_CHALLENGE_NOT_FOUND", "field": "challengeId"}]
    assert asked == {"options": None, "userErrors": missing}
    assert answered["userErrors"] == missing
    assert await status_of(screened, transfer_id) == "pending"


@pytest.mark.usefixtures("step_up_rules")
async def test_a_late_passkey_assertion_voids_the_transfer(
    settings: Settings, model_file: Path, world: World
) -> None:
    async with short_step_up(settings, model_file) as (runtime, http):
        # given a transfer held where step-up holds last one second, its options asked
        alice, device, source, transfer_id, challenge = await held(http, world, runtime.settings)
        assertion = device.get(await assertion_options(http, alice, challenge))
        # when Alice's genuine assertion arrives after the challenge expired
        await asyncio.sleep(1.5)
        late = await confirm(http, alice, challenge, assertion)
        # then it is refused as expired, the transfer voided and its money released
        await assert_voided(runtime, late, source, transfer_id)


@pytest.mark.parametrize(
    "answer",
    [pytest.param({}, id="neither"), pytest.param({"totpCode": "123456"}, id="both")],
)
@pytest.mark.usefixtures("step_up_rules")
async def test_a_confirmation_gives_exactly_one_answer(
    client: httpx.AsyncClient, screened: Runtime, world: World, answer: dict[str, str]
) -> None:
    # given a held transfer, and its options answered by Alice's phone
    alice, device, _, transfer_id, challenge = await held(client, world, screened.settings)
    assertion = device.get(await assertion_options(client, alice, challenge))
    # when the confirmation carries no answer, or a code and an assertion
    both = {"passkeyAssertion": assertion, **answer} if answer else {}
    document = """
    mutation ($input: ConfirmTransferInput!) {
      confirmTransfer(input: $input) { transfer { id } userErrors { code field } }
    }
    """
    variables = {"input": {"challengeId": challenge, **both}}
    payload = await call(client, document, alice, variables)
    # then it is invalid input, and counts as no attempt: the transfer is still held
    assert payload == {
        "transfer": None,
        "userErrors": [{"code": "INVALID_INPUT", "field": "totpCode"}],
    }
    assert await status_of(screened, transfer_id) == "pending"
    assert (await confirm(client, alice, challenge, assertion))["transfer"]["id"] == transfer_id


# --- who may ---------------------------------------------------------------------------------

NEW_MUTATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "beginPasskeyRegistration": (BEGIN_REGISTRATION, {}),
    "finishPasskeyRegistration": (FINISH_REGISTRATION, {"input": {"credential": "{}"}}),
    "beginPasskeyRemoval": (BEGIN_REMOVAL, {"id": encode_id("Passkey", uuid.uuid4())}),
    "removePasskey": (REMOVE, {"input": {"passkeyId": encode_id("Passkey", uuid.uuid4())}}),
    "beginPasskeyConfirmation": (
        BEGIN_CONFIRMATION,
        {"challenge": encode_id("StepUpChallenge", uuid.uuid4())},
    ),
}


@pytest.mark.parametrize("mutation", sorted(NEW_MUTATIONS))
async def test_only_a_signed_in_customer_uses_passkeys(
    client: httpx.AsyncClient, world: World, mutation: str
) -> None:
    # given no token, and staff whose role sends no money
    document, variables = NEW_MUTATIONS[mutation]
    operator = await world.person(Role.OPERATOR)
    # when each tries the mutation
    anonymous = await call(client, document, None, variables)
    staff = await call(client, document, operator, variables)
    # then both are refused
    assert anonymous["userErrors"] == [{"code": "UNAUTHENTICATED", "field": None}]
    assert staff["userErrors"] == [{"code": "PERMISSION_DENIED", "field": None}]


async def test_a_connected_app_cannot_register_remove_or_answer_with_a_passkey(
    party: ThirdParty, oauth_world: World, app: httpx.ASGITransport
) -> None:
    # given an app the customer connected with the widest scopes
    connected = await connect(party, oauth_world, app, ["accounts:read", "transfers:write"])
    token = connected.tokens["access_token"]
    # when it tries each passkey mutation for the customer
    for mutation, (document, variables) in NEW_MUTATIONS.items():
        payload = (await party.graphql(token, document, variables)).json()["data"][mutation]
        # then it is refused
        assert payload["userErrors"] == [{"code": "PERMISSION_DENIED", "field": None}], mutation
