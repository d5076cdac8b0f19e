"""Trusted documents: the GraphQL documents an app build sends, registered from its manifest
(Apollo's persisted-query manifest or GraphQL Code Generator's `persisted-documents.json`),
listed and retired with the build. Only admins manage them; the console acts as one."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from bff.domain.actor import Actor
from bff.domain.errors import DomainError, ErrorCode
from bff.domain.rbac import Permission, Role

if TYPE_CHECKING:  # the ports name this module's records
    from bff.domain.ports import UnitOfWork

# `bff documents ...` runs with the database's own credentials: it already holds every power.
CONSOLE = Actor(UUID(int=0), frozenset({Role.ADMIN}))

_APP = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_VERSION = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){0,3}")
_HASH = re.compile(r"[0-9a-f]{64}")
APOLLO_FORMAT = "apollo-persisted-query-manifest"

# What the GraphQL layer says is wrong with a document's text against the current schema
# (None: nothing); the domain cannot parse GraphQL itself.
DocumentCheck = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class TrustedDocument:
    """One document of a manifest: its text and the sha256 (hex) of that text."""

    hash: str
    body: str
    operation_name: str | None = None


@dataclass(frozen=True, slots=True)
class Build:
    """A released build of an app, and how many documents it registered."""

    app: str
    version: str
    documents: int
    registered_at: datetime
    retired_at: datetime | None


def document_hash(body: str) -> str:
    """The name of a document: the sha256 of its UTF-8 text, in lower-case hex."""
    return hashlib.sha256(body.encode()).hexdigest()


def read_manifest_json(text: str | bytes) -> list[TrustedDocument]:
    """The documents of a manifest's JSON text (see `read_manifest`)."""
    try:
        manifest = json.loads(text)
    except ValueError:
        raise _invalid("the manifest is not JSON") from None
    return read_manifest(manifest)


def read_manifest(manifest: object) -> list[TrustedDocument]:
    """The documents of a decoded manifest, each hash proven to be its text's sha256.

    Apollo: `{"format": "apollo-persisted-query-manifest", "version": 1, "operations":
    [{"id", "name", "type", "body"}]}`; GraphQL Code Generator: `{"<sha256>": "<text>"}`."""
    if isinstance(manifest, Mapping) and manifest.get("format") == APOLLO_FORMAT:
        operations = manifest.get("operations")
        if manifest.get("version") != 1 or not isinstance(operations, list):
            raise _invalid("an Apollo manifest has version 1 and a list of operations")
        pairs = [_apollo_operation(operation) for operation in operations]
    elif isinstance(manifest, Mapping):
        pairs = [(key, body, None) for key, body in manifest.items()]
    else:
        raise _invalid("a manifest is a JSON object")
    documents = []
    for key, body, name in pairs:
        digest = key.removeprefix("sha256:") if isinstance(key, str) else ""
        if not isinstance(body, str) or not _HASH.fullmatch(digest):
            raise _invalid(f"{key!r}: a document is named by its sha256 and has text")
        if document_hash(body) != digest:
            raise _invalid(f"{digest}: the hash is not the sha256 of the document's text")
        documents.append(TrustedDocument(digest, body, name))
    if not documents:
        raise _invalid("the manifest has no documents")
    return documents


async def register_build(
    uow: UnitOfWork,
    actor: Actor,
    app: str,
    version: str,
    manifest: str | bytes,
    check: DocumentCheck,
) -> Build:
    """Register (or add to) a build's documents from its manifest's JSON text; each must
    validate against the current schema. A retired build comes back into service."""
    actor.require(Permission.DOCUMENT_MANAGE)
    _check_build(app, version)
    documents = read_manifest_json(manifest)
    for document in documents:
        problem = check(document.body)
        if problem is not None:
            raise _invalid(f"{document.hash}: {problem}")
    async with uow:
        build = await uow.documents.register(app, version, documents)
        await uow.commit()
    return build


async def list_builds(uow: UnitOfWork, actor: Actor) -> list[Build]:
    """Every registered build, the newest first."""
    actor.require(Permission.DOCUMENT_MANAGE)
    async with uow:
        return await uow.documents.builds()


async def retire_build(uow: UnitOfWork, actor: Actor, app: str, version: str) -> Build:
    """Stop serving the build's documents (those another live build has keep running)."""
    actor.require(Permission.DOCUMENT_MANAGE)
    _check_build(app, version)
    async with uow:
        build = await uow.documents.retire(app, version)
        if build is None:
            raise DomainError(ErrorCode.BUILD_NOT_FOUND, field="version")
        await uow.commit()
    return build


def parse_version(version: str) -> tuple[int, ...] | None:
    """A build version as numbers to compare (`4.10.0` > `4.9.1`), or None if it is not one."""
    if not _VERSION.fullmatch(version):
        return None
    return tuple(int(part) for part in version.split("."))


def _apollo_operation(operation: object) -> tuple[object, object, str | None]:
    if not isinstance(operation, Mapping):
        raise _invalid("each operation of an Apollo manifest is an object")
    name = operation.get("name")
    return operation.get("id"), operation.get("body"), name if isinstance(name, str) else None


def _check_build(app: str, version: str) -> None:
    if not _APP.fullmatch(app):
        raise DomainError(ErrorCode.INVALID_INPUT, "An app is named like `ios`.", "app")
    if parse_version(version) is None:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "A version is up to four numbers, like `4.2.0`.", "version"
        )


def _invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_MANIFEST, message, "manifest")
