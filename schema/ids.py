"""Opaque Relay global IDs: base64url of "<Type>:<uuid>"."""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from bff.domain.errors import DomainError, ErrorCode


def encode_id(type_name: str, raw_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{raw_id}".encode()).decode().rstrip("=")


def decode_any(global_id: str) -> tuple[str, UUID] | None:
    """The type name and UUID inside a global ID, or None when it is not one."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        return type_name, UUID(raw)
    except (binascii.Error, UnicodeError, ValueError):
        return None


def decode_id(global_id: str, type_name: str, field: str) -> UUID:
    """The UUID of a `type_name` global ID; INVALID_ID (on `field`) otherwise."""
    decoded = decode_any(global_id)
    if decoded is None or decoded[0] != type_name:
        raise DomainError(ErrorCode.INVALID_ID, f"Not a valid {type_name} ID.", field)
    return decoded[1]
