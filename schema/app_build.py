"""The AppBuild type: a released build of an app and its trusted documents."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from bff.domain.documents import Build


@strawberry.type(description="A released build of an app, whose registered documents may run.")
class AppBuild:
    app: str = strawberry.field(description="The app, as its requests name it (`ios`).")
    version: str = strawberry.field(description="The build's version (`4.2.0`).")
    documents: int = strawberry.field(description="How many documents the build registered.")
    registered_at: datetime = strawberry.field(description="When it was registered (UTC).")
    retired_at: datetime | None = strawberry.field(
        description="When it was retired (UTC); null while its documents run."
    )

    @classmethod
    def of(cls, build: Build) -> Self:
        return cls(
            app=build.app,
            version=build.version,
            documents=build.documents,
            registered_at=build.registered_at,
            retired_at=build.retired_at,
        )
