"""What a transaction changed that others must learn once it has committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from uuid import UUID

from bff.cache import keys as cache_keys


@dataclass
class Changes:
    """What a transaction changed that others must learn once it commits. The repositories
    note it as they write, so no caller can forget to."""

    # Cache entries the transaction replaced, with their new versions.
    fences: cache_keys.Fences = field(default_factory=list)
    # Users whose sessions or roles changed: live streams and cached actors must re-check.
    users: set[UUID] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.fences or self.users)


AfterCommit = Callable[[Changes], Awaitable[None]]
