"""The audit log's hash chains: the canonical encoding of an entry, and where a chain breaks.

This is a second, independent implementation of migration 0020's `audit_append` encoding, so
that verification trusts nothing stored in the database, its functions included.

An entry's hash is SHA-256 over its fields, each as `<length>:<text>` (`-` for NULL), in a fixed
order, starting with the previous entry's hash. Its id and position are not hashed: order is
what the links say, so an entry moved elsewhere breaks the links around it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

GENESIS = "0" * 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _field(value: object) -> str:
    if value is None:
        return "-"
    text = str(value)
    return f"{len(text)}:{text}"


def entry_hash(row: Mapping[Any, Any]) -> str:
    """The hash an entry must carry, from its stored fields and its stored `prev_hash`; `row`
    has the audit_log columns plus `detail_text` (PostgreSQL's text form of `detail`)."""
    micros = (row["occurred_at"] - _EPOCH) // timedelta(microseconds=1)
    fields = (
        row["prev_hash"],
        micros,
        row["actor_id"],
        row["session_id"],
        row["client_id"],
        row["address"],
        row["operation"],
        row["object_type"],
        row["object_id"],
        row["idempotency_key"],
        row["result"],
        row["subject_id"],
        row["detail_text"],
    )
    return hashlib.sha256("".join(_field(value) for value in fields).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """What verification keeps of an entry."""

    id: int
    chain: int
    position: int
    prev_hash: str
    hash: str
    # Whether the stored hash is the hash of the stored fields.
    sound: bool

    @classmethod
    def of(cls, row: Mapping[Any, Any]) -> Link:
        return cls(
            row["id"],
            row["chain"],
            row["position"],
            row["prev_hash"],
            row["hash"],
            entry_hash(row) == row["hash"],
        )


class Tampering(StrEnum):
    CHANGED = "changed"
    REMOVED = "removed"
    INSERTED = "inserted"
    REORDERED = "reordered"


@dataclass(frozen=True, slots=True)
class Finding:
    """The first place a chain does not hold: which entry, and what was done to it."""

    kind: Tampering
    chain: int
    entry_id: int | None
    position: int
    message: str


def first_break(links: Sequence[Link], head: tuple[int, str] | None = None) -> Finding | None:
    """Where one chain (its entries in stored position order) first fails to hold, or None.

    `head` is the chain's last (position, hash) as recorded elsewhere (the heads table or a
    signed anchor): entries removed from the end of a chain break no link, only that.
    """
    later = {link.hash: index for index, link in enumerate(links)}
    for index, link in enumerate(links):
        before = links[index - 1] if index else None
        expected = before.hash if before else GENESIS
        if link.sound and link.prev_hash == expected:
            continue
        return _classify(links, index, later)
    if head is not None:
        position, hash_ = head
        last = links[-1] if links else None
        if (last.hash if last else GENESIS) != hash_ and position > 0:
            if any(link.hash == hash_ for link in links):
                message = f"entries after position {position} were added"
                return Finding(Tampering.INSERTED, _chain(links), None, position, message)
            message = f"the chain ends before position {position}, whose entry was removed"
            return Finding(Tampering.REMOVED, _chain(links), None, position, message)
    return None


def _chain(links: Sequence[Link]) -> int:
    return links[0].chain if links else -1


def _classify(links: Sequence[Link], index: int, later: dict[str, int]) -> Finding:
    link = links[index]
    before = links[index - 1] if index else None
    expected = before.hash if before else GENESIS
    two_back = links[index - 2].hash if index >= 2 else GENESIS
    following = links[index + 1] if index + 1 < len(links) else None

    def found(kind: Tampering, at: Link, message: str) -> Finding:
        return Finding(kind, at.chain, at.id, at.position, f"entry {at.id}: {message}")

    if link.prev_hash == expected:
        # The link holds but the entry's fields do not match its hash.
        if following is not None and following.prev_hash == expected:
            return found(Tampering.INSERTED, link, "is not part of the chain (inserted)")
        return found(Tampering.CHANGED, link, "its fields were changed after it was written")
    if before is not None and link.prev_hash == two_back:
        return found(Tampering.INSERTED, before, "is not part of the chain (inserted)")
    if later.get(link.prev_hash, -1) > index:
        return found(Tampering.REORDERED, link, "follows an entry stored after it (reordered)")
    if not link.sound:
        return found(Tampering.CHANGED, link, "its fields were changed after it was written")
    if before is not None and link.position == before.position + 1:
        # Consecutive positions, a sound entry, a broken link: the one before was rewritten
        # along with its hash.
        return found(Tampering.CHANGED, before, "it was rewritten after it was written")
    return found(Tampering.REMOVED, link, "the entry before it was removed")
