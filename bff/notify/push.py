"""Push services as the worker sees them: send a batch, learn per message what happened."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bff.domain.notification_texts import PushText


class Outcome(StrEnum):
    SENT = "sent"
    # The service says the token is dead (uninstalled app, expired token): forget the device.
    UNREGISTERED = "unregistered"
    # Worth trying again later (the service is down, throttling, or the network failed).
    RETRY = "retry"
    # The service refused this message for good (malformed, too big): retrying cannot help.
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PushMessage:
    token: str
    text: PushText


@dataclass(frozen=True, slots=True)
class PushResult:
    outcome: Outcome
    ticket_id: str | None = None
    detail: str | None = None


class PushSender(Protocol):
    async def send(self, messages: list[PushMessage]) -> list[PushResult]:
        """Send `messages`; one result per message, in order."""
        ...

    async def receipts(self, ticket_ids: list[str]) -> dict[str, Outcome]:
        """What became of earlier sends, for services that report later (Expo's receipts)."""
        ...

    async def close(self) -> None: ...
