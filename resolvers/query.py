"""The root Query type."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import documents, fraud_rules
from bff.domain.errors import PermissionDenied
from resolvers.audit_log import audit_log
from resolvers.nodes import fetch_node, fetch_typed
from resolvers.review_queue import review_queue
from schema.account import Account
from schema.app_build import AppBuild
from schema.audit import AuditEntry, AuditLogFilter
from schema.cost import CONNECTION, SMALL_LIST
from schema.fraud_rules import FraudRules
from schema.node import Node
from schema.pagination import After, Connection, First
from schema.review import HeldTransfer
from schema.transfer import Transfer
from schema.user import User

_ID = Annotated[strawberry.ID, strawberry.argument(description="A global ID.")]


@strawberry.type(description="Read the bank: start from `viewer` or fetch an object by ID.")
class Query:
    @strawberry.field(description="The logged-in user; null when the request is anonymous.")
    async def viewer(self, info: Info) -> User | None:
        actor = info.context.actor
        if actor is None:
            return None
        user = await info.context.loaders.users.load(actor.user_id)
        return User.of(user) if user else None

    @strawberry.field(description="Any object by global ID; null when missing or not yours.")
    async def node(self, info: Info, id: _ID) -> Node | None:
        return await fetch_node(info, id)  # type: ignore[no-any-return]

    @strawberry.field(description="A user by ID: yourself, or anyone for staff; else null.")
    async def user(self, info: Info, id: _ID) -> User | None:
        return await fetch_typed(info, id, "User")  # type: ignore[no-any-return]

    @strawberry.field(description="An account by ID; null when missing or not yours.")
    async def account(self, info: Info, id: _ID) -> Account | None:
        return await fetch_typed(info, id, "Account")  # type: ignore[no-any-return]

    @strawberry.field(description="A transfer by ID; null when missing or not yours.")
    async def transfer(self, info: Info, id: _ID) -> Transfer | None:
        return await fetch_typed(info, id, "Transfer")  # type: ignore[no-any-return]

    @strawberry.field(
        directives=[SMALL_LIST],
        description="The registered app builds, newest first (admins; else null).",
    )
    async def app_builds(self, info: Info) -> list[AppBuild] | None:
        actor = info.context.actor
        if actor is None:
            return None
        try:
            builds = await documents.list_builds(info.context.unit_of_work(), actor)
        except PermissionDenied:
            return None
        return [AppBuild.of(build) for build in builds]

    @strawberry.field(
        directives=[CONNECTION],
        description="The tamper-evident audit log, newest first; auditors and admins only.",
    )
    async def audit_log(
        self,
        info: Info,
        first: First = 20,
        after: After = None,
        filter: Annotated[
            AuditLogFilter | None, strawberry.argument(description="Which entries.")
        ] = None,
    ) -> Connection[AuditEntry]:
        return await audit_log(info, first, after, filter)

    @strawberry.field(
        directives=[CONNECTION],
        description="Transfers held by fraud screening for an analyst to approve or reject, "
        "oldest first, without the viewer's own; fraud analysts and admins only.",
    )
    async def review_queue(
        self, info: Info, first: First = 20, after: After = None
    ) -> Connection[HeldTransfer]:
        return await review_queue(info, first, after)

    @strawberry.field(
        description="The fraud screening rules in force; fraud analysts and admins only."
    )
    async def fraud_rules(self, info: Info) -> FraudRules:
        rules = await fraud_rules.current_rules(info.context.unit_of_work(), info.context.actor)
        return FraudRules.of(rules)
