"""The labels analysts' decisions left for training: each reviewed screening's feature vector,
and whether the analyst rejected it (fraud) or approved it."""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_LABELLED = text("""
    SELECT features, review FROM transfer_screenings
     WHERE review IS NOT NULL ORDER BY reviewed_at
""")


async def labelled(engine: AsyncEngine) -> list[tuple[list[float], bool]]:
    """(features, fraud) of every decided screening, oldest decision first."""
    async with engine.connect() as connection:
        rows = await connection.execute(_LABELLED)
        return [
            (
                [float(value) for value in _decoded(row.features)],
                row.review == "rejected",
            )
            for row in rows
        ]


def _decoded(stored: object) -> list[float]:
    document = json.loads(stored) if isinstance(stored, str) else stored
    assert isinstance(document, list)
    return document
