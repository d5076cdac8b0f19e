"""The benchmark's data, built through the domain API exactly as users would create it: customers
who sign up and log in (real argon2 hashes, real sessions, real access tokens), accounts they
open, deposits by an operator and transfers between accounts."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from dataclasses import dataclass, field

from bff.domain import accounts, transfers, users
from bff.domain.actor import Actor
from bff.domain.models import Account, User
from bff.domain.rbac import Role
from bff.runtime import Runtime
from schema.ids import encode_id

FUNDS = "1000000.00"  # far more than any benchmark run can move out of one account


@dataclass
class Person:
    user: User
    token: str
    accounts: list[Account] = field(default_factory=list)

    @property
    def actor(self) -> Actor:
        return Actor(self.user.id, self.user.roles)

    @property
    def account_ids(self) -> list[str]:
        return [encode_id("Account", account.id) for account in self.accounts]


class World:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.password = secrets.token_urlsafe(18)
        self.operator: Person | None = None
        # argon2 runs in worker threads: two at a time on this small machine.
        self._hashing = asyncio.Semaphore(2)
        # Each write holds one pooled connection; set-up never asks for more than the pool has,
        # so thousands of gathered calls queue here instead of timing out on the pool.
        self._writing = asyncio.Semaphore(runtime.settings.db_pool_size)

    @property
    def ttl(self) -> int:
        return self.runtime.settings.idempotency_ttl_s

    async def person(self, label: str, *roles: Role) -> Person:
        async with self._hashing:
            email = f"{label}-{uuid.uuid4().hex[:10]}@bench.example.com"
            command = users.SignUp(email, self.password, label.replace("-", " ").title())
            user = await users.provision_user(
                self.runtime.unit_of_work(), command, frozenset(roles or (Role.CUSTOMER,))
            )
            settings = self.runtime.settings
            logged_in = await users.log_in(
                self.runtime.unit_of_work(),
                users.LogIn(email, self.password, "bench", "127.0.0.1"),
                settings.session_policy,
                settings.throttle_policy,
            )
        return Person(user, self.runtime.tokens.issue(user.id, logged_in.session.id))

    async def open_funded(self, owner: Person, name: str, funds: str = FUNDS) -> Account:
        assert self.operator is not None
        async with self._writing:
            account = await accounts.open_account(
                self.runtime.unit_of_work(), owner.actor, name, "USD"
            )
            deposit = transfers.DepositRequest(
                uuid.uuid4().hex, account.id, funds, "USD", "Opening deposit"
            )
            await transfers.deposit_funds(
                self.runtime.unit_of_work(), self.operator.actor, deposit, self.ttl
            )
        owner.accounts.append(account)
        return account

    async def transfer(
        self,
        sender: Person,
        source: Account,
        destination: Account,
        amount: str,
        memo: str | None = None,
    ) -> None:
        request = transfers.TransferRequest(
            idempotency_key=uuid.uuid4().hex,
            from_account_id=source.id,
            to_account_id=destination.id,
            amount=amount,
            currency="USD",
            memo=memo,
        )
        await transfers.create_transfer(
            self.runtime.unit_of_work(), sender.actor, request, self.ttl
        )


@dataclass
class Population:
    viewers: list[Person]  # home-screen users: 3 accounts each, with full pages of history
    customers: list[Person]  # transfer benchmarks: funded accounts, random pairs
    hot: Account  # the one account every transfer touches in the hot-account benchmark
    hot_owner: int  # index of its owner in `customers`


async def build(
    runtime: Runtime,
    viewers: int,
    customers: int,
    accounts_per_viewer: int = 3,
    history_per_viewer: int = 32,
    accounts_per_customer: int = 2,
) -> Population:
    world = World(runtime)
    world.operator = await world.person("operator", Role.OPERATOR)
    home_users = await asyncio.gather(*(world.person(f"viewer-{i}") for i in range(viewers)))
    payers = await asyncio.gather(*(world.person(f"customer-{i}") for i in range(customers)))

    async def viewer_history(viewer: Person) -> None:
        for index in range(accounts_per_viewer):
            await world.open_funded(viewer, f"Account {index + 1}", "25000.00")
        # Transfers between the viewer's own accounts: every account gets more than a page.
        # Without memos: memos are sealed at rest, and the peers that read the tables directly
        # (the hand-written endpoint, the Node.js servers) cannot open them.
        for step in range(history_per_viewer):
            source = viewer.accounts[step % accounts_per_viewer]
            destination = viewer.accounts[(step + 1) % accounts_per_viewer]
            amount = f"{1 + step % 50}.{(step * 7) % 100:02d}"
            await world.transfer(viewer, source, destination, amount)

    async def customer_accounts(customer: Person) -> None:
        for index in range(accounts_per_customer):
            await world.open_funded(customer, f"Account {index + 1}")

    await asyncio.gather(*(viewer_history(viewer) for viewer in home_users))
    await asyncio.gather(*(customer_accounts(customer) for customer in payers))
    return Population(list(home_users), list(payers), hot=payers[0].accounts[0], hot_owner=0)
