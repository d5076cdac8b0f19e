"""Monthly partitions of the history tables (`ledger_entries`, `account_events`; migration
0110): the months ahead are created before they begin, so that rows land in their month's
partition rather than the default one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

PARTITIONED = ("ledger_entries", "account_events")
# Creating a partition locks its table against every read and write for a moment; a
# transaction that holds the table longer makes it give up (the next run tries again) rather
# than queue all traffic behind it.
_LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '2s'")
_ENSURE = text("SELECT partition, outcome FROM ensure_month_partitions(:table, :first, :last)")


class PartitionsNotEnsured(Exception):
    """The database refused (e.g. a table stayed locked past the lock timeout)."""


@dataclass(frozen=True)
class Ensured:
    created: list[str]
    # Months whose rows already sit in the default partition, which keeps them.
    in_default: list[str]


def months_after(month: date, count: int) -> date:
    """The first day of the month `count` months after `month`'s."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


async def ensure(engine: AsyncEngine, months_ahead: int, now: datetime | None = None) -> Ensured:
    """Create the partitions of this month (UTC) and the `months_ahead` after it, if missing."""
    first = (now or datetime.now(UTC)).astimezone(UTC).date().replace(day=1)
    last = months_after(first, months_ahead)
    created: list[str] = []
    in_default: list[str] = []
    for table in PARTITIONED:
        try:
            async with engine.begin() as connection:
                await connection.execute(_LOCK_TIMEOUT)
                rows = (
                    await connection.execute(
                        _ENSURE, {"table": table, "first": first, "last": last}
                    )
                ).all()
        except DBAPIError as error:
            raise PartitionsNotEnsured(f"{table}: partitions not ensured: {error.orig}") from None
        created += [partition for partition, outcome in rows if outcome == "created"]
        in_default += [partition for partition, outcome in rows if outcome == "in_default"]
    return Ensured(created, in_default)
