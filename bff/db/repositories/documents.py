"""App builds and their trusted documents on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bff.db.failures import unavailable_on_connection_failure
from bff.domain.documents import Build, TrustedDocument

_ADD_BUILD = text("""
    INSERT INTO document_builds (app, version) VALUES (:app, :version)
    ON CONFLICT ON CONSTRAINT document_builds_app_version_key
    DO UPDATE SET retired_at = NULL
    RETURNING id
""")
_ADD_DOCUMENT = text("""
    INSERT INTO trusted_documents (hash, body) VALUES (:hash, :body) ON CONFLICT DO NOTHING
""")
_LINK = text("""
    INSERT INTO build_documents (build_id, hash, operation_name)
    VALUES (:build_id, :hash, :operation_name) ON CONFLICT DO NOTHING
""")
_BUILDS = """
    SELECT b.app, b.version, b.registered_at, b.retired_at,
           (SELECT count(*) FROM build_documents d WHERE d.build_id = b.id) AS documents
      FROM document_builds b
"""
_ALL_BUILDS = text(_BUILDS + " ORDER BY b.registered_at DESC, b.id DESC")
_BUILD = text(_BUILDS + " WHERE b.app = :app AND b.version = :version")
_RETIRE = text("""
    UPDATE document_builds SET retired_at = coalesce(retired_at, now())
     WHERE app = :app AND version = :version
""")
_LIVE = text("""
    SELECT d.hash, d.body FROM trusted_documents d
     WHERE EXISTS (SELECT 1 FROM build_documents l JOIN document_builds b ON b.id = l.build_id
                    WHERE l.hash = d.hash AND b.retired_at IS NULL)
""")


class SqlDocuments:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def register(self, app: str, version: str, documents: Sequence[TrustedDocument]) -> Build:
        build_id = (
            await self._connection.execute(_ADD_BUILD, {"app": app, "version": version})
        ).scalar_one()
        await self._connection.execute(
            _ADD_DOCUMENT, [{"hash": d.hash, "body": d.body} for d in documents]
        )
        await self._connection.execute(
            _LINK,
            [
                {"build_id": build_id, "hash": d.hash, "operation_name": d.operation_name}
                for d in documents
            ],
        )
        return await self._build(app, version)  # type: ignore[return-value]

    async def builds(self) -> list[Build]:
        return [_to_build(row) for row in await self._connection.execute(_ALL_BUILDS)]

    async def retire(self, app: str, version: str) -> Build | None:
        await self._connection.execute(_RETIRE, {"app": app, "version": version})
        return await self._build(app, version)

    async def _build(self, app: str, version: str) -> Build | None:
        row = (await self._connection.execute(_BUILD, {"app": app, "version": version})).first()
        return None if row is None else _to_build(row)


async def live_documents(engine: AsyncEngine) -> dict[str, str]:
    """Every document of a build not retired, by hash: what trusted mode lets run."""
    with unavailable_on_connection_failure():
        async with engine.connect() as connection:
            return {row.hash: row.body for row in await connection.execute(_LIVE)}


def _to_build(row: Row[tuple[object, ...]]) -> Build:
    return Build(
        app=row.app,
        version=row.version,
        documents=row.documents,
        registered_at=row.registered_at,
        retired_at=row.retired_at,
    )
