"""The typed error every mutation payload carries."""

from __future__ import annotations

from typing import Self

import strawberry

from bff.domain.errors import DomainError
from bff.domain.screening import StepUpRequired
from schema.enums import ErrorCode
from schema.ids import encode_id


@strawberry.type(description="An expected failure of a mutation, such as insufficient funds.")
class UserError:
    code: ErrorCode = strawberry.field(description="Stable code to switch on.")
    message: str = strawberry.field(description="A human-readable explanation (English).")
    field: str | None = strawberry.field(
        description='The input field at fault, as a dotted path such as "amount.amount".'
    )

    challenge_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="With STEP_UP_REQUIRED: the challenge to answer with confirmTransfer.",
    )

    @classmethod
    def of(cls, error: DomainError) -> Self:
        challenge = error.challenge_id if isinstance(error, StepUpRequired) else None
        return cls(
            code=error.code,
            message=error.message,
            field=error.field,
            challenge_id=(
                strawberry.ID(encode_id(CHALLENGE, challenge)) if challenge is not None else None
            ),
        )


CHALLENGE = "StepUpChallenge"
