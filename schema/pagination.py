"""Relay cursor connections with keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Annotated, Generic, TypeVar
from uuid import UUID

import strawberry

from bff.domain.errors import DomainError, ErrorCode
from bff.domain.pages import MAX_SEQUENCE
from schema.cost import FREE

MAX_PAGE_SIZE = 100
# The arguments of every connection field.
First = Annotated[int, strawberry.argument(description="Page size, 1 to 100.")]
After = Annotated[
    str | None, strawberry.argument(description="Cursor of the last item of the previous page.")
]
_SEQUENCE = re.compile(r"[0-9]{1,19}")
Item = TypeVar("Item")


@strawberry.type(description="Where a page sits in the whole list (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(
        description="Always false: lists page forward only (`first` and `after`), and the Relay "
        "spec lets forward pagination answer false rather than pay a query to find out. A page "
        "fetched without `after` is the first."
    )
    start_cursor: str | None = strawberry.field(
        description="The cursor of the page's first item; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to fetch the next page; null when the page is empty."
    )


@strawberry.type(description="An item of a page with the cursor that points at it.")
class Edge(Generic[Item]):
    cursor: str = strawberry.field(description="Opaque position of this item in the list.")
    node: Item = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, fetched with `first` and `after`.")
class Connection(Generic[Item]):
    edges: list[Edge[Item]] = strawberry.field(
        description="The items of this page, in order.", directives=[FREE]
    )
    page_info: PageInfo = strawberry.field(
        description="How to fetch the next page.", directives=[FREE]
    )

    @classmethod
    def of(cls, nodes: list[Item], cursors: list[str], has_next: bool) -> Connection[Item]:
        edges = [
            Edge(cursor=cursor, node=node) for cursor, node in zip(cursors, nodes, strict=True)
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=False,
                start_cursor=cursors[0] if cursors else None,
                end_cursor=cursors[-1] if cursors else None,
            ),
        )


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise DomainError(
            ErrorCode.INVALID_INPUT, f"`first` must be 1 to {MAX_PAGE_SIZE}.", "first"
        )
    return first


def encode_cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(part) for part in parts]).encode()).decode()


def _decode(cursor: str, size: int) -> list[str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, UnicodeError, ValueError, RecursionError):
        parts = None
    if (
        not isinstance(parts, list)
        or len(parts) != size
        or not all(isinstance(p, str) for p in parts)
    ):
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", "after")
    return parts


def decode_sequence_cursor(cursor: str) -> int:
    (sequence,) = _decode(cursor, 1)
    return decode_sequence(sequence, "after")


def decode_sequence(sequence: str, field: str) -> int:
    """A sequence number given as a decimal string (0 to 2^63 - 1)."""
    if not _SEQUENCE.fullmatch(sequence) or int(sequence) > MAX_SEQUENCE:
        raise DomainError(ErrorCode.INVALID_INPUT, "Not a valid sequence.", field)
    return int(sequence)


def decode_time_id_cursor(cursor: str) -> tuple[datetime, UUID]:
    created_at, raw_id = _decode(cursor, 2)
    try:
        after = datetime.fromisoformat(created_at), UUID(raw_id)
    except ValueError:
        after = None
    if after is None or after[0].tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid.", "after")
    return after
