"""Customer events as message bodies (JSON), the same for every broker and worker."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from bff.domain.notification_models import CustomerEvent, CustomerEventKind


def encode_event(event: CustomerEvent) -> bytes:
    return json.dumps(
        {
            "eventId": str(event.event_id),
            "userId": str(event.user_id),
            "kind": event.kind.value,
            "payload": event.payload,
            "occurredAt": event.occurred_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def decode_event(body: bytes) -> CustomerEvent:
    """The event in `body`; ValueError (or KeyError) when it is not one."""
    data = json.loads(body)
    return CustomerEvent(
        event_id=UUID(data["eventId"]),
        user_id=UUID(data["userId"]),
        kind=CustomerEventKind(data["kind"]),
        payload=dict(data["payload"]),
        occurred_at=datetime.fromisoformat(data["occurredAt"]),
    )
