"""`updateFraudRules`: a new version of the screening rules (fraud analysts)."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import UUID

import strawberry

from bff.api.context import Info
from bff.domain import fraud_rules
from bff.domain.errors import DomainError, ErrorCode
from resolvers.boundary import actor_of, returns_user_errors
from schema.fraud_rules import FraudRules
from schema.ids import decode_id
from schema.inputs import CustomerLimitInput, UpdateFraudRulesInput
from schema.payloads import FraudRulesPayload

_MINOR_UNITS = re.compile(r"[0-9]{1,18}")


@returns_user_errors
async def update_fraud_rules(
    info: Info,
    input: Annotated[UpdateFraudRulesInput, strawberry.argument(description="The change.")],
) -> FraudRulesPayload:
    """Store changed rules as the next version; the next screening applies them."""
    change = fraud_rules.RulesChange(
        version=input.version,
        note=input.note,
        step_up_at=input.step_up_at,
        review_at=input.review_at,
        block_at=input.block_at,
        allow_accounts=_accounts(input.allow_account_ids, "allowAccountIds"),
        block_accounts=_accounts(input.block_account_ids, "blockAccountIds"),
        limits=_limits(input.limits),
    )
    rules = await fraud_rules.update_rules(info.context.unit_of_work(), actor_of(info), change)
    return FraudRulesPayload(rules=FraudRules.of(rules))


def _accounts(ids: list[strawberry.ID] | None, field: str) -> frozenset[UUID] | None:
    if ids is None:
        return None
    return frozenset(decode_id(account, "Account", field) for account in ids)


def _limits(limits: list[CustomerLimitInput] | None) -> dict[UUID, int] | None:
    if limits is None:
        return None
    decoded: dict[UUID, int] = {}
    for limit in limits:
        if not _MINOR_UNITS.fullmatch(limit.max_minor_units):
            raise DomainError(
                ErrorCode.INVALID_INPUT, "A whole number of minor units.", "limits.maxMinorUnits"
            )
        decoded[decode_id(limit.user_id, "User", "limits.userId")] = int(limit.max_minor_units)
    return decoded
