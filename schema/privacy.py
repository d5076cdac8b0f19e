"""Privacy rights in the API: a copy of one's data, and erasure (admins)."""

from __future__ import annotations

import strawberry

from schema.cost import SMALL_LIST
from schema.errors import UserError

_ERRORS = "Why the request was refused; empty when it succeeded."


@strawberry.type(description="The result of exportMyData.")
class ExportMyDataPayload:
    document: str | None = strawberry.field(
        default=None,
        description="Everything the bank keeps about you, as one JSON document: profile, "
        "accounts with their transactions, sessions, connected apps and the audit entries "
        "about you.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )


@strawberry.input(description="Whom to erase, and why.")
class EraseUserInput:
    user_id: strawberry.ID = strawberry.field(description="The User ID.")
    reason: str = strawberry.field(description="Why (kept in the audit log), 1 to 500 characters.")


@strawberry.type(description="The result of eraseUser.")
class EraseUserPayload:
    erased_user_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The erased user (a User ID), whose personal data is now unreadable; null "
        "when refused.",
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description=_ERRORS, directives=[SMALL_LIST]
    )
