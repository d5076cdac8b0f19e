"""The typed error every mutation payload carries."""

from __future__ import annotations

from typing import Self

import strawberry

from bff.domain.errors import DomainError
from schema.enums import ErrorCode


@strawberry.type(description="An expected failure of a mutation, such as insufficient funds.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable code to switch on.")
    message: str = strawberry.field(description="A human-readable explanation (English).")
    field: str | None = strawberry.field(
        description='The input field at fault, as a dotted path such as "amount.amount".'
    )

    @classmethod
    def of(cls, error: DomainError) -> Self:
        return cls(code=error.code, message=error.message, field=error.field)
