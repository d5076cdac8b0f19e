"""`bff documents`: register an app build's manifest of trusted documents, list the builds,
retire one. Each document is validated against the schema this code serves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bff.api.documents.check import document_check
from bff.config import Settings
from bff.db.database import Database
from bff.domain import documents
from bff.domain.documents import CONSOLE, Build

T = TypeVar("T")


def register(settings: Settings, url: str, manifest: Path, app: str, version: str) -> None:
    """Register the manifest's documents as the build `app` `version`, and say so."""
    try:
        text = manifest.read_bytes()
    except OSError as error:
        raise ValueError(f"{manifest}: {error.strerror}") from None
    from bff.app import build_schema  # here: the other commands need no schema

    schema = build_schema(settings)
    check = document_check(schema, schema.document_rules, schema.gate)
    build = _run(
        settings,
        url,
        lambda database: documents.register_build(
            database.unit_of_work(),
            CONSOLE,
            app,
            version,
            text,
            check,
        ),
    )
    print(f"registered {_line(build)}")


def list_builds(settings: Settings, url: str) -> None:
    """One line per build, the newest first."""
    for build in _run(
        settings, url, lambda database: documents.list_builds(database.unit_of_work(), CONSOLE)
    ):
        print(_line(build))


def retire(settings: Settings, url: str, app: str, version: str) -> None:
    """Stop serving the build's documents."""
    build = _run(
        settings,
        url,
        lambda database: documents.retire_build(database.unit_of_work(), CONSOLE, app, version),
    )
    print(f"retired {_line(build)}")


def _run(settings: Settings, url: str, operation: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        database = Database(settings, url)
        try:
            return await operation(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _line(build: Build) -> str:
    state = f"retired {build.retired_at:%Y-%m-%d}" if build.retired_at else "live"
    return (
        f"{build.app} {build.version}: {build.documents} documents, registered "
        f"{build.registered_at:%Y-%m-%d %H:%M} UTC, {state}"
    )
