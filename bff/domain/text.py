"""Cleaning of free text that users type: names, memos, references."""

from __future__ import annotations

import unicodedata

from bff.domain.errors import DomainError, ErrorCode


def clean_text(value: str, field: str, limit: int) -> str:
    """Collapse whitespace and refuse control characters (NUL included) and over-long text."""
    text = " ".join(value.split())
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise DomainError(ErrorCode.INVALID_INPUT, "Control characters are not allowed.", field)
    if len(text) > limit:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {limit} characters.", field)
    return text


def clean_name(value: str, field: str, limit: int) -> str:
    """Like clean_text, and required: at least one visible character."""
    name = clean_text(value, field, limit)
    if not name:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Must be 1 to {limit} characters.", field)
    return name
