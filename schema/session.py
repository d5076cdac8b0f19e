"""The Session type: one device's login."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from bff.domain import models
from schema.ids import encode_id


@strawberry.type(description="A device where the user is logged in.")
class Session:
    id: strawberry.ID = strawberry.field(description="Pass to `revokeSession` to end it.")
    device_name: str = strawberry.field(description="The name the device gave at login.")
    created_at: datetime = strawberry.field(description="When the user logged in (UTC).")
    last_used_at: datetime = strawberry.field(
        description="When the session last obtained new tokens (UTC)."
    )
    expires_at: datetime = strawberry.field(
        description="When the session ends at the latest, however active (UTC)."
    )
    current: bool = strawberry.field(description="Whether this request came through it.")

    @classmethod
    def of(cls, session: models.Session, current_id: object) -> Self:
        return cls(
            id=strawberry.ID(encode_id("Session", session.id)),
            device_name=session.device_name,
            created_at=session.created_at,
            last_used_at=session.last_used_at,
            expires_at=session.expires_at,
            current=session.id == current_id,
        )
