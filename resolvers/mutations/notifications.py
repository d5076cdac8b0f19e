from __future__ import annotations

from typing import Annotated

import strawberry

from bff.api.context import Info
from bff.domain import notifications
from resolvers.boundary import actor_of, returns_user_errors
from schema.inputs import RegisterPushDeviceInput, UpdateNotificationPreferencesInput
from schema.notifications import NotificationPreferences, PushDevice
from schema.payloads import NotificationPreferencesPayload, PushDevicePayload


@returns_user_errors
async def register_push_device(
    info: Info,
    input: Annotated[
        RegisterPushDeviceInput, strawberry.argument(description="The device's push token.")
    ],
) -> PushDevicePayload:
    """Register the session's device for push; a new registration replaces the old one."""
    device = await notifications.register_push_device(
        info.context.unit_of_work(), actor_of(info), input.token, input.platform
    )
    return PushDevicePayload(device=PushDevice.of(device))


@returns_user_errors
async def update_notification_preferences(
    info: Info,
    input: Annotated[
        UpdateNotificationPreferencesInput,
        strawberry.argument(description="The preferences to change."),
    ],
) -> NotificationPreferencesPayload:
    """Change what the user is told by push."""
    changes = notifications.PreferenceChanges(
        money_received=input.money_received,
        money_sent=input.money_sent,
        account_changes=input.account_changes,
        locale=input.locale,
    )
    updated = await notifications.update_preferences(
        info.context.unit_of_work(), actor_of(info), changes
    )
    return NotificationPreferencesPayload(preferences=NotificationPreferences.of(updated))
