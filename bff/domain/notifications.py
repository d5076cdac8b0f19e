"""What customers are told and what their activity feed shows: push devices, preferences, the
events that concern them, the feed and spending summaries."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace

from babel import Locale, UnknownLocaleError

from bff.domain import delegation
from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.notification_models import (
    ActivityEntry,
    ActivityPageKey,
    Platform,
    Preferences,
    PushDevice,
    SpendingLine,
)
from bff.domain.pages import Page, page_of
from bff.domain.ports import UnitOfWork

_TOKEN_FORMATS = {
    # Expo's documented token shape.
    Platform.EXPO: re.compile(r"Expo(?:nent)?PushToken\[[A-Za-z0-9_\-]{10,200}\]"),
    # FCM registration tokens: opaque, URL-safe base64 with a colon-separated prefix.
    Platform.FCM: re.compile(r"[A-Za-z0-9_\-:]{32,4096}"),
}


@dataclass(frozen=True, slots=True)
class PreferenceChanges:
    """The preferences a customer changes; None leaves one as it is."""

    money_received: bool | None = None
    money_sent: bool | None = None
    account_changes: bool | None = None
    locale: str | None = None


def _require_session(actor: Actor) -> None:
    if actor.session_id is None:
        raise DomainError(
            ErrorCode.PERMISSION_DENIED, "Push devices are registered by an app's session."
        )


async def register_push_device(
    uow: UnitOfWork, actor: Actor, token: str, platform: Platform
) -> PushDevice:
    """Register the actor's session for push; a later registration replaces it."""
    _require_session(actor)
    if not _TOKEN_FORMATS[platform].fullmatch(token):
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"Not a valid {platform.value} push token.", "token"
        )
    assert actor.session_id is not None
    async with uow:
        device = await uow.notifications.register_device(
            actor.user_id, actor.session_id, platform, token
        )
        await uow.commit()
    return device


async def preferences(uow: UnitOfWork, actor: Actor) -> Preferences:
    """The actor's own notification preferences."""
    async with uow:
        return await uow.notifications.preferences(actor.user_id)


def _valid_locale(locale: str) -> str:
    try:
        parsed = Locale.parse(locale)
    except (UnknownLocaleError, ValueError):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "Not a known locale (e.g. en_GB, de_DE).", "locale"
        ) from None
    return str(parsed) if parsed.territory else parsed.language


async def update_preferences(
    uow: UnitOfWork, actor: Actor, changes: PreferenceChanges
) -> Preferences:
    """Change what the actor is told; returns the preferences as they now are."""
    delegation.require_own_access(actor)
    if changes.locale is not None:
        changes = replace(changes, locale=_valid_locale(changes.locale))
    async with uow:
        current = await uow.notifications.preferences(actor.user_id)
        updated = replace(
            current, **{name: value for name, value in asdict(changes).items() if value is not None}
        )
        await uow.notifications.save_preferences(actor.user_id, updated)
        await uow.commit()
    return updated


async def activity(uow: UnitOfWork, actor: Actor, key: ActivityPageKey) -> Page[ActivityEntry]:
    """A page of the actor's own activity feed (nobody else's, whatever the role)."""
    if key.user_id != actor.user_id:
        return Page([], False)
    async with uow:
        entries = await uow.notifications.activity(key)
    return page_of(entries, key.first)


_MONTH = re.compile(r"(?P<year>20[0-9]{2})-(?P<month>0[1-9]|1[0-2])")


async def spending(uow: UnitOfWork, actor: Actor, month: str) -> list[SpendingLine]:
    """What the actor sent in `month` (YYYY-MM), by counterparty, largest first."""
    if not _MONTH.fullmatch(month):
        raise DomainError(ErrorCode.INVALID_INPUT, "A month is written YYYY-MM.", "period")
    async with uow:
        return await uow.notifications.spending(actor.user_id, month)
