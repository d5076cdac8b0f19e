"""The `reviewQueue` query: keyset pages of transfers held for an analyst, oldest first."""

from __future__ import annotations

from bff.api.context import Info
from bff.domain import review
from schema.pagination import Connection, check_first, decode_time_id_cursor, encode_cursor
from schema.review import HeldTransfer


async def review_queue(info: Info, first: int, after: str | None) -> Connection[HeldTransfer]:
    page = await review.review_queue(
        info.context.unit_of_work(),
        info.context.actor,
        check_first(first),
        decode_time_id_cursor(after) if after else None,
    )
    return Connection.of(
        [HeldTransfer.of(held) for held in page.items],
        [encode_cursor(held.held_at.isoformat(), held.transfer.id) for held in page.items],
        page.has_next,
    )
