"""Which document a request runs. A request names a document by its sha256, in Apollo's
`extensions.persistedQuery.sha256Hash` or the GraphQL-over-HTTP draft's `documentId`
(`sha256:<hex>`), or sends its text; the client's build comes from the
`apollographql-client-name` and `-version` headers.

Open mode (development) runs any text, and registers a hash sent with its text (Apollo's
automatic persisted queries: a hash alone that is not known is PERSISTED_QUERY_NOT_FOUND, and
the client retries with the text). Trusted mode (production) runs only documents of live
builds: anything else is PERSISTED_QUERY_NOT_IN_LIST, unless the actor has an exempt role.
A build older than its app's minimum version gets UPGRADE_REQUIRED in both."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bff.api.documents.apq import PersistedQueries
from bff.api.documents.registry import TrustedDocuments
from bff.api.request_body import BAD_REQUEST, RequestRefused
from bff.domain.documents import document_hash, parse_version
from bff.domain.rbac import Role

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
UPGRADE_REQUIRED = "UPGRADE_REQUIRED"
CLIENT_NAME = "apollographql-client-name"
CLIENT_VERSION = "apollographql-client-version"
_SHA256 = re.compile("[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class DocumentPolicy:
    trusted_only: bool
    exempt_roles: frozenset[Role]
    min_versions: Mapping[str, tuple[int, ...]]


class DocumentResolver:
    def __init__(
        self, policy: DocumentPolicy, trusted: TrustedDocuments, persisted: PersistedQueries
    ) -> None:
        self.policy = policy
        self.trusted = trusted
        self.persisted = persisted

    async def document(
        self,
        query: str | None,
        extensions: Mapping[str, Any] | None,
        document_id: object,
        headers: Mapping[str, str],
        roles: frozenset[Role],
    ) -> str | None:
        """The text the request runs (None: it names none), or `RequestRefused`."""
        self._check_build(headers)
        digest = _digest(extensions, document_id)
        exempt = bool(roles & self.policy.exempt_roles)
        if digest is not None and query is not None and document_hash(query) != digest:
            raise RequestRefused(400, "provided sha does not match query", BAD_REQUEST)
        if not self.policy.trusted_only:
            return await self._open(query, digest)
        if digest is None:
            if query is None:
                return None  # refused as a request with no query
            if exempt or await self.trusted.get(document_hash(query)) is not None:
                return query
            raise RequestRefused(
                403,
                "Only registered documents run here: send a build's document id.",
                PERSISTED_QUERY_NOT_IN_LIST,
            )
        if query is not None and exempt:
            return query
        known = await self.trusted.get(digest)
        if known is None:
            raise RequestRefused(
                404, "No live build registered this document.", PERSISTED_QUERY_NOT_IN_LIST
            )
        return known

    async def _open(self, query: str | None, digest: str | None) -> str | None:
        if digest is None:
            return query
        if query is not None:
            await self.persisted.put(digest, query)
            return query
        known = await self.persisted.get(digest) or await self.trusted.get(digest)
        if known is None:
            # Apollo clients match the message as well as the code.
            raise RequestRefused(404, "PersistedQueryNotFound", PERSISTED_QUERY_NOT_FOUND)
        return known

    def _check_build(self, headers: Mapping[str, str]) -> None:
        app = headers.get(CLIENT_NAME)
        minimum = self.policy.min_versions.get(app) if app else None
        if minimum is None:
            return
        version = parse_version(headers.get(CLIENT_VERSION) or "")
        if version is None or version < minimum:
            raise RequestRefused(
                400,
                f"This version of {app} is no longer supported: update the app.",
                UPGRADE_REQUIRED,
            )


def _digest(extensions: Mapping[str, Any] | None, document_id: object) -> str | None:
    persisted = extensions.get("persistedQuery") if extensions else None
    if persisted is not None:
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise RequestRefused(400, "Unsupported persisted query version.", BAD_REQUEST)
        digest = persisted.get("sha256Hash")
    elif document_id is not None:
        digest = document_id.removeprefix("sha256:") if isinstance(document_id, str) else None
    else:
        return None
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise RequestRefused(400, "A document is named by its sha256 in hex.", BAD_REQUEST)
    return digest.lower()
