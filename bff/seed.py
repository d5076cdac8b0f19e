"""Demo data for development: two funded customers with some history, an operator, a fraud
analyst, an admin."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from bff.domain import accounts, transfers, users
from bff.domain.actor import Actor
from bff.domain.models import Account, User
from bff.domain.rbac import Role
from bff.runtime import Runtime


@dataclass(frozen=True)
class Credential:
    email: str
    password: str
    roles: str


# The demo people: (email, display name, roles).
DEMO_USERS: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("alice@example.com", "Alice Martin", (Role.CUSTOMER,)),
    ("bob@example.com", "Bob Okafor", (Role.CUSTOMER,)),
    ("operator@example.com", "Olga Operator", (Role.OPERATOR,)),
    ("analyst@example.com", "Fatima Analyst", (Role.FRAUD_ANALYST,)),
    ("admin@example.com", "Adam Admin", (Role.ADMIN,)),
)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.roles)


def _new_password() -> str:
    return secrets.token_urlsafe(12)


async def seed_demo(runtime: Runtime) -> list[Credential] | None:
    """Create the demo world on an empty database; None when users already exist."""
    if await runtime.database.reads.any_user():
        return None
    ttl = runtime.settings.idempotency_ttl_s
    credentials: list[Credential] = []

    people: list[User] = []
    for email, name, roles in DEMO_USERS:
        password = _new_password()
        command = users.SignUp(email, password, name)
        user = await users.provision_user(runtime.unit_of_work(), command, frozenset(roles))
        credentials.append(Credential(email, password, ", ".join(roles)))
        people.append(user)
    alice, bob, operator = people[:3]

    async def open_funded(owner: User, name: str, currency: str, amount: str) -> Account:
        account = await accounts.open_account(runtime.unit_of_work(), _actor(owner), name, currency)
        deposit = transfers.DepositRequest(
            str(uuid.uuid4()), account.id, amount, currency, "Opening deposit"
        )
        await transfers.deposit_funds(runtime.unit_of_work(), _actor(operator), deposit, ttl)
        return account

    alice_usd = await open_funded(alice, "Everyday", "USD", "2500.00")
    alice_eur = await open_funded(alice, "Travel", "EUR", "800.00")
    bob_usd = await open_funded(bob, "Main", "USD", "1200.00")
    bob_eur = await open_funded(bob, "Savings", "EUR", "300.00")

    history = [
        (alice, alice_usd, bob_usd, "42.50", "Dinner"),
        (bob, bob_usd, alice_usd, "15.00", "Coffee"),
        (alice, alice_eur, bob_eur, "20.00", "Museum tickets"),
        (bob, bob_eur, alice_eur, "7.25", "Postcards"),
    ]
    for sender, source, destination, amount, memo in history:
        request = transfers.TransferRequest(
            idempotency_key=str(uuid.uuid4()),
            from_account_id=source.id,
            to_account_id=destination.id,
            amount=amount,
            currency=source.currency,
            memo=memo,
        )
        await transfers.create_transfer(runtime.unit_of_work(), _actor(sender), request, ttl)
    return credentials


async def reset_demo_passwords(runtime: Runtime) -> list[Credential]:
    """Give every demo user a new random password and end their sessions (development only:
    the first passwords are shown once, and a developer who lost them needs new ones)."""
    credentials: list[Credential] = []
    for email, _, roles in DEMO_USERS:
        password = _new_password()
        await users.reset_password(runtime.unit_of_work(), email, password)
        credentials.append(Credential(email, password, ", ".join(roles)))
    return credentials
